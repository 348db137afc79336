"""``remedy doctor`` on moto: a core account and two members with the member template
deployed, a StackSet listing their instances, the local Slack server; first healthy, then
each failure injected in turn (and put back), each named on its FAIL line.

moto lacks two things AWS does, bridged on the wire here: it does not enforce a role's
trust policy (AssumeRole is answered AccessDenied, as AWS answers it, when the ExternalId
is not the one the trust policy requires), and it confirms email subscriptions at once
(a pending one is answered as SNS lists it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from conftest import fake_aws_credentials
from fixtures_aws import CORE, EXTERNAL_ID, REGION, ROLE, admin_session, deploy_member
from remedy.cli import main
from remedy.cli.doctor import slack_auth
from remedy.devtools.slack_server import SlackServer
from remedy.doctor import PRIVATE, Check, Clients, DoctorError, Target, diagnose, owner_topic

MEMBERS = ("111111111111", "222222222222")
STACK = "remedy-core"
TOPIC = f"arn:aws:sns:{REGION}:{CORE}:remedy-owners"
CORE_TEMPLATE = {
    "Parameters": {
        "Prefix": {"Type": "String"},
        "BusArn": {"Type": "String"},
        "SecretArn": {"Type": "String"},
    },
    "Resources": {
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            },
        },
        "FindingsFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "remedy-findings",
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
            },
        },
    },
    "Outputs": {
        "CoreEventBusArn": {"Value": {"Ref": "BusArn"}},
        "RemediatorRoleArn": {"Value": f"arn:aws:iam::{CORE}:role/remedy-remediator"},
        "LedgerTableName": {"Value": "remedy-ledger"},
        "OwnerTopicArn": {"Value": TOPIC},
        "SlackSecretArn": {"Value": {"Ref": "SecretArn"}},
    },
}


def _error(operation: str, code: str, message: str, status: int = 403) -> Any:
    """A before-call answer botocore turns into the ClientError AWS would cause."""
    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}
    return AWSResponse(f"https://aws/{operation}", status, {}, None), parsed


_IAM: dict[str, Any] = {}


def enforce_trust(params: dict[str, Any], **_: Any) -> Any:
    """AssumeRole as AWS answers it: the role must exist and its trust policy's
    sts:ExternalId must be the one given."""
    body = dict(params.get("body") or {})
    arn = body["RoleArn"]
    account, name = arn.split(":")[4], arn.split("/")[-1]
    denied = _error(
        "AssumeRole",
        "AccessDenied",
        f"User: arn:aws:sts::{CORE}:assumed-role/remedy-remediator is not authorized to "
        f"perform: sts:AssumeRole on resource: {arn}",
    )
    if account not in _IAM:
        _IAM[account] = admin_session(account).client("iam")
    iam = _IAM[account]
    try:
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return denied
    wanted = {
        value
        for statement in trust["Statement"]
        for condition in statement.get("Condition", {}).values()
        for key, value in condition.items()
        if key == "sts:ExternalId"
    }
    return None if body.get("ExternalId") in wanted else denied


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, str]]:
    with pytest.MonkeyPatch.context() as monkeypatch, SlackServer() as slack:
        fake_aws_credentials(monkeypatch, REGION)
        with mock_aws():
            for account in MEMBERS:
                deploy_member(account)
                # moto CloudFormation skips a bucket's PublicAccessBlockConfiguration: set
                # as member-account-template.yaml says.
                admin_session(account).client("s3").put_public_access_block(
                    Bucket=f"remedy-quarantine-{account}-{REGION}",
                    PublicAccessBlockConfiguration=dict.fromkeys(PRIVATE, True),
                )
            core = boto3.Session(region_name=REGION)
            bus = core.client("events").create_event_bus(Name="remedy-core")["EventBusArn"]
            core.client("events").put_permission(
                EventBusName="remedy-core",
                Policy=json.dumps(bus_policy(MEMBERS, bus)),
            )
            secret = core.client("secretsmanager").create_secret(
                Name="remedy-slack",
                SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cret"}),
            )["ARN"]
            sns = core.client("sns")
            sns.create_topic(Name="remedy-owners")
            sns.subscribe(TopicArn=TOPIC, Protocol="email", Endpoint="owner@example.com")
            core.client("cloudformation").create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(CORE_TEMPLATE),
                Parameters=[
                    {"ParameterKey": "Prefix", "ParameterValue": "remedy"},
                    {"ParameterKey": "BusArn", "ParameterValue": bus},
                    {"ParameterKey": "SecretArn", "ParameterValue": secret},
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
            cfn = core.client("cloudformation")
            cfn.create_stack_set(
                StackSetName="remedy-member",
                TemplateBody=json.dumps(
                    {
                        "Resources": {
                            "T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}
                        }
                    }
                ),
            )
            cfn.create_stack_instances(
                StackSetName="remedy-member", Accounts=list(MEMBERS), Regions=[REGION]
            )
            monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
            monkeypatch.setenv("REMEDY_SLACK_API_URL", slack.url)
            yield {"bus": bus, "secret": secret, "slack_token": slack.token}


def bus_policy(accounts: tuple[str, ...], bus: str) -> dict[str, Any]:
    """The statement template.yaml's CoreEventBusPolicy makes from MemberAccountIds."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "member-accounts-put-events",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": bus,
                "Condition": {"StringEquals": {"aws:PrincipalAccount": list(accounts)}},
            }
        ],
    }


def session() -> boto3.Session:
    core = boto3.Session(region_name=REGION)
    core.events.register("before-call.sts.AssumeRole", enforce_trust)
    return core


def checks(target: Target | None = None) -> list[Check]:
    target = target or Target(STACK, MEMBERS, [REGION], EXTERNAL_ID)
    return list(diagnose(session(), target, slack_auth))


HEALTHY = [
    f"PASS  core stack {STACK}: CREATE_COMPLETE, outputs present",
    "PASS  core functions: 1 functions active",
    "PASS  core bus policy: accepts 2 member account(s)",
    "PASS  Slack secret: bot token and signing secret present",
    "PASS  Slack token: valid for team",
    "PASS  owner topic: 1 subscription(s), all confirmed",
    f"PASS  member 111111111111 {REGION}: StackSet instance: CURRENT",
    f"PASS  member 111111111111: remediation role: arn:aws:iam::111111111111:role/{ROLE} "
    "assumed with the ExternalId",
    f"PASS  member 111111111111 {REGION}: quarantine bucket: remedy-quarantine-111111111111-"
    f"{REGION} present and private",
    f"PASS  member 222222222222 {REGION}: StackSet instance: CURRENT",
    f"PASS  member 222222222222: remediation role: arn:aws:iam::222222222222:role/{ROLE} "
    "assumed with the ExternalId",
    f"PASS  member 222222222222 {REGION}: quarantine bucket: remedy-quarantine-222222222222-"
    f"{REGION} present and private",
]


def lines(found: list[Check]) -> list[str]:
    # The team's name is the local server's; the rest is exact.
    return [team(c.line()) for c in found]


def team(line: str) -> str:
    return line.split(" team ")[0] + " team" if line.startswith("PASS  Slack token") else line


def test_a_healthy_deploy_passes_every_check(deployed: dict[str, str]) -> None:
    assert lines(checks()) == HEALTHY


def test_the_command_prints_one_line_each_and_exits_0(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the command, the role check is the remediator's own AssumeRole (moto's).
    argv = ["doctor", "--account", MEMBERS[0], "--account", MEMBERS[1], "--region", REGION]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [
        line.split(" team ")[0] + " team" if "Slack token" in line else line
        for line in out.splitlines()
    ] == HEALTHY
    monkeypatch.delenv("REMEDY_EXTERNAL_ID")
    assert main(argv) == 1
    assert capsys.readouterr().out.count("FAIL  member") == 2


def test_no_core_stack_is_one_line_and_exit_2(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--stack", "nope", "--account", MEMBERS[0]]) == 2
    assert capsys.readouterr() == (
        "",
        f"remedy doctor: core stack 'nope' not found in {REGION}: deploy it (make deploy-core), "
        "or pass --stack and set AWS_DEFAULT_REGION to its region\n",
    )
    with pytest.raises(DoctorError):
        checks(Target("nope", MEMBERS, [REGION], EXTERNAL_ID))


# --- each failure in turn: break one thing, read its FAIL line, put it back -----------------


@contextmanager
def function_gone() -> Iterator[str]:
    lambda_ = boto3.client("lambda")
    config = lambda_.get_function(FunctionName="remedy-findings")["Configuration"]
    lambda_.delete_function(FunctionName="remedy-findings")
    try:
        yield (
            "FAIL  core functions: FindingsFunction (remedy-findings): Function not found: "
            f"arn:aws:lambda:{REGION}:{CORE}:function:remedy-findings: redeploy the core "
            "(make deploy-core)"
        )
    finally:
        lambda_.create_function(
            FunctionName="remedy-findings",
            Runtime=config["Runtime"],
            Handler=config["Handler"],
            Role=config["Role"],
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )


@contextmanager
def bus_refuses_a_member() -> Iterator[str]:
    events = boto3.client("events")
    bus = events.describe_event_bus(Name="remedy-core")["Arn"]
    events.put_permission(
        EventBusName="remedy-core", Policy=json.dumps(bus_policy(MEMBERS[:1], bus))
    )
    try:
        yield (
            "FAIL  core bus policy: does not accept 222222222222: add them to MemberAccountIds "
            "(or set OrganizationId) and redeploy the core"
        )
    finally:
        events.put_permission(
            EventBusName="remedy-core", Policy=json.dumps(bus_policy(MEMBERS, bus))
        )


@contextmanager
def secret_value(value: dict[str, str], expected: str) -> Iterator[str]:
    secrets = boto3.client("secretsmanager")
    arn = secrets.describe_secret(SecretId="remedy-slack")["ARN"]
    before = secrets.get_secret_value(SecretId=arn)["SecretString"]
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    try:
        yield expected.format(arn=arn)
    finally:
        secrets.put_secret_value(SecretId=arn, SecretString=before)


FILL = (
    "fill it: aws secretsmanager put-secret-value --secret-id {arn} --secret-string "
    '\'{{"bot_token": "xoxb-...", "signing_secret": "..."}}\' (docs: Deploy, Slack app)'
)


def no_signing_secret() -> AbstractContextManager[str]:
    return secret_value(
        {"bot_token": "xoxb-1"}, "FAIL  Slack secret: {arn} has no signing_secret: " + FILL
    )


def revoked_token() -> AbstractContextManager[str]:
    return secret_value(
        {"bot_token": "xoxb-revoked", "signing_secret": "s"},
        "FAIL  Slack token: Slack answered invalid_auth: reinstall the app to the workspace and "
        "store its Bot User OAuth Token in the secret",
    )


@contextmanager
def no_owner_subscriptions() -> Iterator[str]:
    sns = boto3.client("sns")
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    try:
        yield "FAIL  owner topic: no subscriptions: run remedy owners sync"
    finally:
        sns.subscribe(TopicArn=TOPIC, Protocol="email", Endpoint="owner@example.com")


@contextmanager
def stack_instance_gone() -> Iterator[str]:
    cfn = boto3.client("cloudformation")
    cfn.delete_stack_instances(
        StackSetName="remedy-member", Accounts=[MEMBERS[1]], Regions=[REGION], RetainStacks=True
    )
    try:
        yield (
            f"FAIL  member 222222222222 {REGION}: StackSet instance: none in remedy-member: add "
            "its OU and region with make deploy-members"
        )
    finally:
        cfn.create_stack_instances(
            StackSetName="remedy-member", Accounts=[MEMBERS[1]], Regions=[REGION]
        )


@contextmanager
def role_trusts_another_external_id() -> Iterator[str]:
    iam = admin_session(MEMBERS[0]).client("iam")
    role = iam.get_role(RoleName="remedy-remediation")["Role"]
    # The member stack deployed with another ExternalId than the core's.
    trust = json.dumps(role["AssumeRolePolicyDocument"])
    assert EXTERNAL_ID in trust
    iam.update_assume_role_policy(
        RoleName="remedy-remediation", PolicyDocument=trust.replace(EXTERNAL_ID, "another-one")
    )
    arn = "arn:aws:iam::111111111111:role/remedy-remediation"
    try:
        yield (
            f"FAIL  member 111111111111: remediation role: cannot assume {arn} with the "
            f"ExternalId (User: arn:aws:sts::{CORE}:assumed-role/remedy-remediator is not "
            f"authorized to perform: sts:AssumeRole on resource: {arn}): is the member stack "
            "deployed, and is its ExternalId the core's?"
        )
    finally:
        iam.update_assume_role_policy(
            RoleName="remedy-remediation",
            PolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
        )


@contextmanager
def bucket_public() -> Iterator[str]:
    s3 = admin_session(MEMBERS[1]).client("s3")
    bucket = f"remedy-quarantine-222222222222-{REGION}"
    before = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            **before,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    try:
        yield (
            f"FAIL  member 222222222222 {REGION}: quarantine bucket: {bucket} is not private "
            "(BlockPublicPolicy, RestrictPublicBuckets off): turn Block Public Access back on "
            "(rerun make deploy-members to restore the template's settings)"
        )
    finally:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=before)


@contextmanager
def bucket_gone() -> Iterator[str]:
    s3 = admin_session(MEMBERS[0]).client("s3")
    bucket = f"remedy-quarantine-111111111111-{REGION}"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    s3.delete_bucket(Bucket=bucket)
    try:
        yield (
            f"FAIL  member 111111111111 {REGION}: quarantine bucket: {bucket} is missing: check "
            f"the StackSet instance in {REGION}"
        )
    finally:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)


#: Each fault, and how many checks it leaves unrun because they depend on the failed one
#: (no token to try without a secret, no bucket to read without the role).
FAULTS: dict[str, tuple[Callable[[], AbstractContextManager[str]], int]] = {
    "function gone": (function_gone, 0),
    "bus refuses a member": (bus_refuses_a_member, 0),
    "no signing secret": (no_signing_secret, 1),
    "revoked token": (revoked_token, 0),
    "no owner subscriptions": (no_owner_subscriptions, 0),
    "stack instance gone": (stack_instance_gone, 0),
    "role trusts another ExternalId": (role_trusts_another_external_id, 1),
    "bucket public": (bucket_public, 0),
    "bucket gone": (bucket_gone, 0),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_each_failure_is_named_and_the_rest_still_pass(
    fault: str, deployed: dict[str, str]
) -> None:
    inject, unrun = FAULTS[fault]
    with inject() as expected:
        found = lines(checks())
    assert [line for line in found if line.startswith("FAIL")] == [expected]
    # Every other check still ran and passed: one failure hides nothing else.
    passed = [line for line in found if line.startswith("PASS")]
    assert set(passed) <= set(HEALTHY)
    assert len(passed) == len(HEALTHY) - 1 - unrun


def test_a_wrong_external_id_is_refused(deployed: dict[str, str]) -> None:
    found = lines(checks(Target(STACK, MEMBERS[:1], [REGION], "not-the-external-id")))
    assert [line.split(" (")[0] for line in found if line.startswith("FAIL")] == [
        "FAIL  member 111111111111: remediation role: cannot assume "
        "arn:aws:iam::111111111111:role/remedy-remediation with the ExternalId"
    ]


def test_a_subscription_waiting_for_confirmation_is_named(deployed: dict[str, str]) -> None:
    core = boto3.Session(region_name=REGION)
    listed = {
        "Subscriptions": [
            {
                "SubscriptionArn": "PendingConfirmation",
                "Owner": CORE,
                "Protocol": "email",
                "Endpoint": "new-owner@example.com",
                "TopicArn": TOPIC,
            },
            {
                "SubscriptionArn": f"{TOPIC}:1",
                "Owner": CORE,
                "Protocol": "email",
                "Endpoint": "owner@example.com",
                "TopicArn": TOPIC,
            },
        ],
        "ResponseMetadata": {},
    }
    core.events.register(
        "before-call.sns.ListSubscriptionsByTopic",
        lambda **_: (AWSResponse("https://sns", 200, {}, None), listed),
    )
    assert owner_topic(Clients(core), TOPIC).line() == (
        "FAIL  owner topic: 1 of 2 not confirmed (new-owner@example.com): each must click the "
        "link in AWS's email; remedy owners sync shows them"
    )


def test_a_bus_open_to_the_organization_accepts_its_members(deployed: dict[str, str]) -> None:
    # OrganizationId without MemberAccountIds: template.yaml's condition on aws:PrincipalOrgID.
    events = boto3.client("events")
    bus = deployed["bus"]
    statement = bus_policy(MEMBERS, bus)
    statement["Statement"][0]["Condition"] = {
        "StringEquals": {"aws:PrincipalOrgID": "o-ab12cd34ef"}
    }
    events.put_permission(EventBusName="remedy-core", Policy=json.dumps(statement))
    try:
        found = lines(checks())
    finally:
        events.put_permission(
            EventBusName="remedy-core", Policy=json.dumps(bus_policy(MEMBERS, bus))
        )
    assert found[2] == "PASS  core bus policy: accepts organization o-ab12cd34ef"
    assert [line for line in found if line.startswith("FAIL")] == []


def test_a_sample_checks_that_many_accounts(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["doctor", "--account", MEMBERS[0], "--account", MEMBERS[1], "--region", REGION]
    assert main([*argv, "--sample", "1"]) == 0
    out = capsys.readouterr().out
    checked = {line.split()[2].rstrip(":") for line in out.splitlines() if "  member " in line}
    assert len(checked) == 1 and checked <= set(MEMBERS)
    assert main([*argv, "--sample", "0"]) == 2
    assert capsys.readouterr() == (
        "",
        "remedy doctor: --sample 0: give a number of accounts, 1 or more\n",
    )
