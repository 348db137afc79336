"""``remedy doctor``: is the deployed system whole? Read-only checks, one result each.

Run after a deploy or when something looks wrong, with the core account's credentials. It
reads the core stack (its outputs and functions), the event bus's policy, the Slack secret
and token, the owners' topic, each ticket system the stack names (`ticket_system`), then
for each member account and region (or a sample): the
StackSet instance, the remediation role assumed with the ExternalId as the remediator
assumes it, and the quarantine bucket, present and private. Nothing is written anywhere.

Each `Check` is one line: PASS with what was found, or FAIL with what is wrong and what to
do. A core stack that is not there ends the run with `DoctorError`: nothing else can be
read without its outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import ClientError

from remedy.errors import RemedyError
from remedy.settings import Settings
from remedy.tickets import credentials
from remedy.tickets.http import RestBackend
from remedy.tickets.registry import TicketError
from remedy.tickets.registry import backends as ticket_backends

#: What the core stack must output for the rest to be found (template.yaml's Outputs).
OUTPUTS = (
    "CoreEventBusArn",
    "RemediatorRoleArn",
    "LedgerTableName",
    "OwnerTopicArn",
    "SlackSecretArn",
)
#: Every setting of S3's Block Public Access that makes a bucket private.
PRIVATE = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
SESSION_NAME = "remedy-doctor"


class DoctorError(RemedyError):
    """The checks cannot start (no core stack): the message says what to do."""


class Clients:
    """One boto3 client per service and region of a session, made on first use: the checks
    of many accounts share them."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self._made: dict[tuple[str, str | None], Any] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._made:
            self._made[key] = self.session.client(service, region_name=region)
        return self._made[key]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {' '.join(self.detail.split())}"


@dataclass(frozen=True, slots=True)
class Target:
    """What to check: the core stack, and the members' accounts and regions."""

    stack: str
    accounts: Sequence[str]
    regions: Sequence[str]
    external_id: str
    stack_set: str = "remedy-member"
    partition: str = "aws"
    #: accounts.yaml's ticket targets by back end (Jira projects, ServiceNow groups).
    ticket_targets: Mapping[str, frozenset[str]] = field(default_factory=dict)


#: The Slack Web API's ``auth.test`` for a token: Slack's answer (``ok``, ``error``, ``team``).
SlackAuth = Callable[[str], dict[str, Any]]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or _code(error)


@dataclass(frozen=True, slots=True)
class Core:
    outputs: dict[str, str]
    parameters: dict[str, str]


def core_stack(clients: Clients, stack: str) -> tuple[Core, Check]:
    cfn = clients("cloudformation")
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if _code(error) == "ValidationError" and "does not exist" in _message(error):
            raise DoctorError(
                f"core stack {stack!r} not found in {clients.session.region_name}: deploy it (make "
                "deploy-core), or pass --stack and set AWS_DEFAULT_REGION to its region"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])
    }
    core = Core(outputs, parameters)
    status = found["StackStatus"]
    name = f"core stack {stack}"
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        return core, Check(
            name, False, f"{status}: see its events (sam deploy output), fix, redeploy"
        )
    missing = [key for key in OUTPUTS if key not in outputs]
    if missing:
        return core, Check(
            name,
            False,
            f"no output {', '.join(missing)}: is it remedy's template.yaml? redeploy it",
        )
    return core, Check(name, True, f"{status}, outputs present")


def core_functions(clients: Clients, stack: str) -> Check:
    cfn = clients("cloudformation")
    functions = [
        resource
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::Lambda::Function"
    ]
    lambda_ = clients("lambda")
    broken = []
    for function in functions:
        name = function.get("PhysicalResourceId", "")
        try:
            config = lambda_.get_function(FunctionName=name)["Configuration"]
        except ClientError as error:
            broken.append(f"{function['LogicalResourceId']} ({name}): {_message(error)}")
            continue
        state = config.get("State", "Active")
        if state != "Active":
            reason = config.get("StateReason", "")
            broken.append(f"{function['LogicalResourceId']} ({name}): {state} {reason}".strip())
    if not functions:
        return Check("core functions", False, f"stack {stack} has no functions: redeploy it")
    if broken:
        return Check(
            "core functions", False, "; ".join(broken) + ": redeploy the core (make deploy-core)"
        )
    return Check("core functions", True, f"{len(functions)} functions active")


def bus_policy(clients: Clients, bus_arn: str, accounts: Sequence[str]) -> Check:
    described = clients("events").describe_event_bus(Name=bus_arn)
    statements = json.loads(described.get("Policy") or '{"Statement": []}')["Statement"]
    accepted: set[str] = set()
    organizations: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        if statement.get("Effect") != "Allow" or "events:PutEvents" not in (
            [actions] if isinstance(actions, str) else actions
        ):
            continue
        equals = statement.get("Condition", {}).get("StringEquals", {})
        principal = statement.get("Principal")
        listed = equals.get("aws:PrincipalAccount")
        if isinstance(principal, dict) and "AWS" in principal:
            arns = principal["AWS"]
            listed = [
                a.split(":")[4] if a.startswith("arn:") else a
                for a in ([arns] if isinstance(arns, str) else arns)
            ]
        if "aws:PrincipalOrgID" in equals and listed is None:
            organizations.add(equals["aws:PrincipalOrgID"])
        elif listed is not None:
            accepted.update([listed] if isinstance(listed, str) else listed)
    refused = [a for a in accounts if a not in accepted and not organizations]
    name = "core bus policy"
    if refused:
        return Check(
            name,
            False,
            f"does not accept {', '.join(refused)}: add them to MemberAccountIds (or set "
            "OrganizationId) and redeploy the core",
        )
    if organizations:
        return Check(name, True, f"accepts organization {', '.join(sorted(organizations))}")
    return Check(name, True, f"accepts {len(accounts)} member account(s)")


def slack(clients: Clients, secret_arn: str, auth: SlackAuth) -> Iterator[Check]:
    secrets = clients("secretsmanager")
    fill = (
        f"fill it: aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string "
        '\'{"bot_token": "xoxb-...", "signing_secret": "..."}\' (docs: Deploy, Slack app)'
    )
    try:
        text = secrets.get_secret_value(SecretId=secret_arn).get("SecretString", "")
    except ClientError as error:
        yield Check("Slack secret", False, f"{secret_arn}: {_message(error)}: {fill}")
        return
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    missing = [
        key
        for key in ("bot_token", "signing_secret")
        if not isinstance(value, dict) or not str(value.get(key) or "").strip()
    ]
    if missing:
        yield Check("Slack secret", False, f"{secret_arn} has no {' or '.join(missing)}: {fill}")
        return
    yield Check("Slack secret", True, "bot token and signing secret present")
    assert isinstance(value, dict)
    answer = auth(value["bot_token"])
    if answer.get("ok"):
        yield Check("Slack token", True, f"valid for team {answer.get('team', '?')}")
    else:
        yield Check(
            "Slack token",
            False,
            f"Slack answered {answer.get('error', 'not ok')}: reinstall the app to the workspace "
            "and store its Bot User OAuth Token in the secret",
        )


def owner_topic(clients: Clients, topic_arn: str) -> Check:
    sns = clients("sns", topic_arn.split(":")[3])
    subscriptions = [
        s
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for s in page["Subscriptions"]
    ]
    pending = sorted(
        s["Endpoint"] for s in subscriptions if s["SubscriptionArn"] == "PendingConfirmation"
    )
    name = "owner topic"
    if not subscriptions:
        return Check(name, False, "no subscriptions: run remedy owners sync")
    if pending:
        return Check(
            name,
            False,
            f"{len(pending)} of {len(subscriptions)} not confirmed ({', '.join(pending)}): each "
            "must click the link in AWS's email; remedy owners sync shows them",
        )
    return Check(name, True, f"{len(subscriptions)} subscription(s), all confirmed")


def ticket_system(
    clients: Clients, core: Core, backend: type[RestBackend], targets: frozenset[str]
) -> Iterator[Check]:
    """The site the core stack names, the secret it made, the credentials (one read-only
    call), then each target accounts.yaml names; a failure ends what depends on it."""
    what = backend.what
    secret_id = f"{core.parameters.get('Prefix') or 'remedy'}/{backend.name}"
    configured: dict[str, Any] = {
        backend.site_setting: core.parameters[backend.stack_parameter],
        backend.arn_setting: secret_id,
    }
    settings = replace(Settings.from_env(), **configured)
    system = backend(settings, secrets_client=clients("secretsmanager"))
    try:
        site = system.site()
    except TicketError as error:
        yield Check(
            f"{what} site", False, f"{error} (the core stack's {backend.stack_parameter} parameter)"
        )
        return
    try:
        fields = system.secret()
    except TicketError as error:
        stores = " or ".join(f"'{credentials.example(s)}'" for s in backend.secret_shapes)
        yield Check(
            f"{what} secret",
            False,
            f"{error}: fill it: aws secretsmanager put-secret-value --secret-id {secret_id} "
            f"--secret-string {stores} (docs/tickets.md)",
        )
        return
    yield Check(f"{what} secret", True, f"{secret_id} holds {' and '.join(fields)}")
    try:
        who = system.probe()
    except TicketError as error:
        fix = (
            f"store valid credentials in {secret_id} (docs/tickets.md)"
            if error.status in (401, 403)
            else f"check that {site} is up and is the core stack's {backend.stack_parameter}"
        )
        yield Check(f"{what} site", False, f"{error}: {fix}")
        return
    yield Check(f"{what} site", True, f"{site} reachable, {who}")
    for target in sorted(targets):
        name = f"{what} {backend.target_field} {target}"
        try:
            found = system.has_target(target)
        except TicketError as error:
            yield Check(name, False, str(error))
            continue
        yield Check(
            name,
            found,
            "exists"
            if found
            else f"not found on {site}: create it, or name another in accounts.yaml's "
            f"tickets.{backend.name}.{backend.target_field}",
        )


def ticket_systems(clients: Clients, core: Core, target: Target) -> Iterator[Check]:
    """`ticket_system` for each the core stack names a site for."""
    for backend in ticket_backends().values():
        if issubclass(backend, RestBackend) and core.parameters.get(backend.stack_parameter):
            yield from ticket_system(
                clients, core, backend, target.ticket_targets.get(backend.name, frozenset())
            )


def stack_instance(clients: Clients, target: Target, account: str, region: str) -> Check:
    name = f"member {account} {region}: StackSet instance"
    cfn = clients("cloudformation")
    try:
        instances = cfn.list_stack_instances(
            StackSetName=target.stack_set,
            StackInstanceAccount=account,
            StackInstanceRegion=region,
        )["Summaries"]
        instances = [i for i in instances if (i["Account"], i["Region"]) == (account, region)]
    except ClientError as error:
        return Check(
            name,
            False,
            f"cannot read StackSet {target.stack_set} ({_message(error)}): run with the "
            "management account's credentials, or pass --stack-set",
        )
    if not instances:
        return Check(
            name,
            False,
            f"none in {target.stack_set}: add its OU and region with make deploy-members",
        )
    instance = instances[0]
    detailed = instance.get("StackInstanceStatus", {}).get("DetailedStatus", "")
    if instance.get("Status") != "CURRENT" or detailed not in ("", "SUCCEEDED"):
        reason = instance.get("StatusReason", "")
        return Check(
            name,
            False,
            f"{instance.get('Status')} {detailed} {reason}: rerun make deploy-members and read "
            "the operation's results",
        )
    return Check(name, True, "CURRENT")


def remediation_role(
    clients: Clients, target: Target, account: str, role_name: str
) -> tuple[Clients | None, Check]:
    arn = f"arn:{target.partition}:iam::{account}:role/{role_name}"
    name = f"member {account}: remediation role"
    if not target.external_id:
        return None, Check(
            name,
            False,
            "REMEDY_EXTERNAL_ID is not set: set it to the core stack's ExternalId to check "
            "the role",
        )
    try:
        credentials = clients("sts").assume_role(
            RoleArn=arn, RoleSessionName=SESSION_NAME, ExternalId=target.external_id
        )["Credentials"]
    except ClientError as error:
        return None, Check(
            name,
            False,
            f"cannot assume {arn} with the ExternalId ({_message(error)}): is the member stack "
            "deployed, and is its ExternalId the core's?",
        )
    member = Clients(
        boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
    )
    return member, Check(name, True, f"{arn} assumed with the ExternalId")


def quarantine_bucket(clients: Clients, account: str, region: str, prefix: str) -> Check:
    bucket = f"{prefix}-quarantine-{account}-{region}"
    name = f"member {account} {region}: quarantine bucket"
    s3 = clients("s3", region)
    try:
        block = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=account)[
            "PublicAccessBlockConfiguration"
        ]
    except ClientError as error:
        if _code(error) == "NoSuchBucket":
            return Check(
                name, False, f"{bucket} is missing: check the StackSet instance in {region}"
            )
        if _code(error) == "NoSuchPublicAccessBlockConfiguration":
            block = {}
        else:
            return Check(name, False, f"{bucket}: {_message(error)}")
    open_ = [key for key in PRIVATE if not block.get(key)]
    if open_:
        return Check(
            name,
            False,
            f"{bucket} is not private ({', '.join(open_)} off): turn Block Public Access back on "
            "(rerun make deploy-members to restore the template's settings)",
        )
    return Check(name, True, f"{bucket} present and private")


def diagnose(
    session: boto3.Session,
    target: Target,
    slack_auth: SlackAuth,
    *,
    stack_sets: boto3.Session | None = None,
) -> Iterator[Check]:
    """Every check, in order; `stack_sets` reads the StackSet (default: `session`)."""
    clients = Clients(session)
    core, check = core_stack(clients, target.stack)
    yield check
    if not check.ok:
        return
    yield core_functions(clients, target.stack)
    yield bus_policy(clients, core.outputs["CoreEventBusArn"], target.accounts)
    yield from slack(clients, core.outputs["SlackSecretArn"], slack_auth)
    yield owner_topic(clients, core.outputs["OwnerTopicArn"])
    yield from ticket_systems(clients, core, target)
    prefix = core.parameters.get("Prefix") or "remedy"
    set_clients = Clients(stack_sets) if stack_sets else clients
    for account in target.accounts:
        for region in target.regions:
            yield stack_instance(set_clients, target, account, region)
        member, check = remediation_role(clients, target, account, f"{prefix}-remediation")
        yield check
        if member is not None:
            for region in target.regions:
                yield quarantine_bucket(member, account, region, prefix)
