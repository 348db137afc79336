"""Create or update the remedy member StackSet for organizational units and regions.

A SERVICE_MANAGED StackSet of member-account-template.yaml with automatic deployment, so
accounts that later join the OUs get it too. Run with credentials of the organization's
management account, or of a CloudFormation delegated administrator with
``--call-as DELEGATED_ADMIN``, after the core stack is deployed: its outputs (bus ARN,
remediator role ARN) and its Prefix are read with ``--core-profile`` (the core is usually
another account), or given with ``--core-event-bus-arn`` and ``--core-remediator-role-arn``.

The ExternalId is read from the environment (``REMEDY_EXTERNAL_ID`` by default), never from
the command line, so it stays out of shell history and process listings.

    REMEDY_EXTERNAL_ID=... python scripts/deploy_members.py \\
        --ous ou-ab12-cdef3456 --regions us-east-1 eu-west-1 \\
        --break-glass-role-name BreakGlass --core-profile core
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from remedy.cli.failure import describe

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "member-account-template.yaml"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
DONE = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


class DeployError(Exception):
    """A problem the operator has to fix; the message says what and how."""


def split_words(values: Sequence[str]) -> list[str]:
    """Accept both ``a b`` and ``a,b`` (make variables are space-separated)."""
    return [word for value in values for word in value.replace(",", " ").split()]


def core_outputs(session: boto3.Session, stack_name: str) -> dict[str, str]:
    """The core stack's outputs plus its Prefix parameter."""
    cfn = session.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise DeployError(
            f"cannot read core stack {stack_name!r}: {exc}; deploy the core first "
            "(make deploy-core) and pass --core-profile with credentials for its account"
        ) from None
    values = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = {"CoreEventBusArn", "RemediatorRoleArn"} - set(values)
    if missing:
        raise DeployError(
            f"core stack {stack_name!r} has no output {', '.join(sorted(missing))}: is it the "
            f"remedy core stack, and is its status complete ({stack['StackStatus']})?"
        )
    for param in stack.get("Parameters", []):
        if param["ParameterKey"] == "Prefix":
            values["Prefix"] = param["ParameterValue"]
    return values


def member_parameters(
    *,
    prefix: str,
    core_event_bus_arn: str,
    core_remediator_role_arn: str,
    external_id: str,
    break_glass_role_name: str,
    organization_id: str,
    forward_securityhub: bool,
    home_region: str,
    extra: Mapping[str, str],
) -> list[dict[str, str]]:
    """The StackSet's parameters; the core account id is read from the bus ARN."""
    bus_parts = core_event_bus_arn.split(":")
    if len(bus_parts) < 6 or bus_parts[2] != "events" or not bus_parts[4].isdigit():
        raise DeployError(f"core event bus ARN {core_event_bus_arn!r} is not an event bus ARN")
    if len(external_id) < 16:
        raise DeployError(
            "the ExternalId is missing or shorter than 16 characters: set it in the environment "
            "(REMEDY_EXTERNAL_ID) to the value the core stack was deployed with"
        )
    values = {
        "Prefix": prefix,
        "CoreAccountId": bus_parts[4],
        "CoreEventBusArn": core_event_bus_arn,
        "CoreRemediatorRoleArn": core_remediator_role_arn,
        "ExternalId": external_id,
        "BreakGlassRoleName": break_glass_role_name,
        "OrganizationId": organization_id,
        "ForwardSecurityHub": "true" if forward_securityhub else "false",
        "HomeRegion": home_region,
        **extra,
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def operation_preferences(regions: Sequence[str], home_region: str) -> dict[str, Any]:
    """Home region first and one region at a time: the account-global roles exist before
    the other regions' stacks use them."""
    if home_region not in regions:
        raise DeployError(
            f"home region {home_region} is not among the regions {' '.join(regions)}: the "
            "remediation and forwarder roles are created there; add it or pass --home-region"
        )
    return {
        "RegionConcurrencyType": "SEQUENTIAL",
        "RegionOrder": [home_region, *(r for r in regions if r != home_region)],
        "MaxConcurrentPercentage": 25,
        "FailureTolerancePercentage": 10,
    }


def wait_for(
    cfn: Any,
    name: str,
    operation_id: str,
    call_as: str,
    *,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait for a StackSet operation; on failure, name the accounts and regions and why."""
    while True:
        op = cfn.describe_stack_set_operation(
            StackSetName=name, OperationId=operation_id, CallAs=call_as
        )["StackSetOperation"]
        if op["Status"] in DONE:
            break
        sleep(poll_seconds)
    if op["Status"] == "SUCCEEDED":
        return
    failures = []
    pages = cfn.get_paginator("list_stack_set_operation_results").paginate(
        StackSetName=name, OperationId=operation_id, CallAs=call_as
    )
    for page in pages:
        for result in page["Summaries"]:
            if result.get("Status") != "SUCCEEDED":
                failures.append(
                    f"  {result.get('Account')} {result.get('Region')}: "
                    f"{result.get('StatusReason', result.get('Status'))}"
                )
    raise DeployError(
        f"StackSet {name} operation {operation_id} {op['Status']}:\n" + "\n".join(failures)
    )


def deploy(
    cfn: Any,
    *,
    name: str,
    template_body: str,
    parameters: list[dict[str, str]],
    ous: Sequence[str],
    regions: Sequence[str],
    home_region: str,
    call_as: str = "SELF",
    wait: Callable[[str], None] | None = None,
) -> list[str]:
    """Create the StackSet, or update it (every existing instance), then make sure it has an
    instance in every account of ``ous`` in every region. Returns the operation ids."""
    prefs = operation_preferences(regions, home_region)
    settle = wait or (lambda op_id: wait_for(cfn, name, op_id, call_as))
    common = {
        "StackSetName": name,
        "TemplateBody": template_body,
        "Parameters": parameters,
        "Capabilities": CAPABILITIES,
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "ManagedExecution": {"Active": True},
        "CallAs": call_as,
    }
    operations = []
    try:
        cfn.describe_stack_set(StackSetName=name, CallAs=call_as)
        exists = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StackSetNotFoundException":
            raise
        exists = False
    if exists:
        # No DeploymentTargets/Regions: a service-managed update reaches every instance.
        op_id = cfn.update_stack_set(**common, OperationPreferences=prefs)["OperationId"]
        settle(op_id)
        operations.append(op_id)
    else:
        cfn.create_stack_set(
            **common,
            Description="remedy members: forwarding rules, remediation role, quarantine bucket",
            PermissionModel="SERVICE_MANAGED",
        )
    # Idempotent: instances that already exist are left as they are.
    op_id = cfn.create_stack_instances(
        StackSetName=name,
        DeploymentTargets={"OrganizationalUnitIds": list(ous)},
        Regions=list(regions),
        OperationPreferences=prefs,
        CallAs=call_as,
    )["OperationId"]
    settle(op_id)
    operations.append(op_id)
    return operations


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ous", nargs="+", required=True, help="organizational unit ids (ou-...)")
    p.add_argument("--regions", nargs="+", required=True, help="regions to deploy to")
    p.add_argument("--break-glass-role-name", required=True)
    p.add_argument("--home-region", default="us-east-1", help="where the IAM roles are created")
    p.add_argument("--stack-set-name", default="remedy-member")
    p.add_argument("--template", type=Path, default=TEMPLATE)
    p.add_argument("--profile", help="profile for the management / delegated admin account")
    p.add_argument("--region", help="region the StackSet itself lives in")
    p.add_argument("--call-as", choices=["SELF", "DELEGATED_ADMIN"], default="SELF")
    p.add_argument("--core-stack", default="remedy-core")
    p.add_argument("--core-profile", help="profile for the core account, to read its outputs")
    p.add_argument("--core-region", help="region of the core stack")
    p.add_argument("--core-event-bus-arn", help="instead of reading the core stack")
    p.add_argument("--core-remediator-role-arn", help="instead of reading the core stack")
    p.add_argument("--prefix", help="defaults to the core stack's Prefix, else remedy")
    p.add_argument("--external-id-env", default="REMEDY_EXTERNAL_ID")
    p.add_argument("--organization-id", help="defaults to the caller's organization")
    p.add_argument("--no-forward-securityhub", action="store_true")
    p.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other template parameter, e.g. QuarantineRetentionDays=365",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        extra = dict(item.split("=", 1) for item in args.parameter)
    except ValueError:
        print("error: --parameter takes KEY=VALUE", file=sys.stderr)
        return 2
    ous, regions = split_words(args.ous), split_words(args.regions)
    admin = boto3.Session(profile_name=args.profile, region_name=args.region)
    try:
        core: dict[str, str] = {}
        if not (args.core_event_bus_arn and args.core_remediator_role_arn):
            core_session = boto3.Session(
                profile_name=args.core_profile, region_name=args.core_region
            )
            core = core_outputs(core_session, args.core_stack)
        org_id = args.organization_id
        if org_id is None:
            org = admin.client("organizations").describe_organization()["Organization"]
            org_id = org["Id"]
        parameters = member_parameters(
            prefix=args.prefix or core.get("Prefix", "remedy"),
            core_event_bus_arn=args.core_event_bus_arn or core["CoreEventBusArn"],
            core_remediator_role_arn=args.core_remediator_role_arn or core["RemediatorRoleArn"],
            external_id=os.environ.get(args.external_id_env, ""),
            break_glass_role_name=args.break_glass_role_name,
            organization_id=org_id,
            forward_securityhub=not args.no_forward_securityhub,
            home_region=args.home_region,
            extra=extra,
        )
        iam_region = extra.get("IamEventsRegion", "us-east-1")
        if iam_region not in regions:
            print(
                f"warning: {iam_region} is not among the regions; IAM API calls are forwarded "
                "only from there (IamEventsRegion)",
                file=sys.stderr,
            )
        ops = deploy(
            admin.client("cloudformation"),
            name=args.stack_set_name,
            template_body=args.template.read_text(encoding="utf-8"),
            parameters=parameters,
            ous=ous,
            regions=regions,
            home_region=args.home_region,
            call_as=args.call_as,
        )
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        # No credentials, no region, a refused call: one line, as the remedy command says it.
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 2
    print(f"StackSet {args.stack_set_name}: operations {' '.join(ops)} succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
