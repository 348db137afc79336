"""The member template deployed on moto: into two member accounts directly, and through the
StackSet rollout of scripts/deploy_members.py into every account of an OU.

moto skips bucket policies, public access blocks and versioning when it deploys; those are
asserted on the template itself (tests/test_templates.py). Here: what gets created where,
under the names the core builds.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import moto.settings
import pytest
from moto import mock_aws

from conftest import EVENTS, fake_aws_credentials, load_json
from fixtures_aws import admin_session
from remedy.cli.failure import NO_CREDENTIALS, NO_REGION
from remedy.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "member-account-template.yaml").read_text(encoding="utf-8")
CORE_ACCOUNT = "999988887777"
BUS_ARN = f"arn:aws:events:us-east-1:{CORE_ACCOUNT}:event-bus/remedy-core-compliance"
REMEDIATOR_ARN = f"arn:aws:iam::{CORE_ACCOUNT}:role/remedy-remediator"
EXTERNAL_ID = "ext-0123456789abcdef"
PARAMETERS = {
    "CoreAccountId": CORE_ACCOUNT,
    "CoreEventBusArn": BUS_ARN,
    "CoreRemediatorRoleArn": REMEDIATOR_ARN,
    "ExternalId": EXTERNAL_ID,
    "BreakGlassRoleName": "BreakGlass",
    "OrganizationId": "o-abcdefghij",
}
MEMBERS = ("111111111111", "222222222222")
# moto deploys what it models and warns about the rest (bucket and queue policies, the
# Security Hub action target): those are asserted on the template in test_templates.py.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
GLOBAL_RULES = {"remedy-forward-iam-guard"}
REGIONAL_RULES = {
    "remedy-forward-macie",
    "remedy-forward-securityhub",
    "remedy-forward-securityhub-action",
    "remedy-forward-api-guard",
    "remedy-forward-guardduty-malware-scan",
    "remedy-forward-guardduty-malware-finding",
    "remedy-forward-guardduty-threats",
}


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_aws_credentials(monkeypatch, "us-east-1")
    with mock_aws():
        yield


def deploy(session: boto3.Session, **overrides: str) -> dict[str, str]:
    cfn = session.client("cloudformation")
    params = {**PARAMETERS, **overrides}
    cfn.create_stack(
        StackName="remedy-member",
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName="remedy-member")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def assert_regional_resources(session: boto3.Session, account: str, region: str) -> str:
    """The quarantine bucket (named as the core builds it) encrypted with its own key."""
    settings = Settings.from_env()
    bucket = settings.quarantine_bucket(account, region)
    s3 = session.client("s3")
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    key_arn: str = rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert key_arn.startswith(f"arn:aws:kms:{region}:{account}:key/")
    kms = session.client("kms")
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    # The alias the core's quarantine action names the key by resolves to this key.
    alias = kms.describe_key(KeyId=settings.quarantine_key_alias())["KeyMetadata"]["Arn"]
    assert alias == key_arn
    return key_arn


def rule_names(session: boto3.Session) -> set[str]:
    return {r["Name"] for r in session.client("events").list_rules()["Rules"]}


def assert_role(session: boto3.Session, account: str, org_id: str = "o-abcdefghij") -> None:
    settings = Settings.from_env()
    role = session.client("iam").get_role(RoleName=settings.remediation_role_name)["Role"]
    assert role["Arn"] == settings.remediation_role_arn(account)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": REMEDIATOR_ARN}
    assert trust["Condition"]["StringEquals"]["sts:ExternalId"] == EXTERNAL_ID
    assert trust["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == org_id


def test_member_template_deploys_into_two_accounts_and_two_regions() -> None:
    for account in MEMBERS:
        home = admin_session(account, "us-east-1")
        outputs = deploy(home)
        assert_role(home, account)
        key_arn = assert_regional_resources(home, account, "us-east-1")
        assert outputs["KeyArn"] == key_arn
        assert outputs["RemediationRoleArn"] == f"arn:aws:iam::{account}:role/remedy-remediation"
        assert outputs["QuarantineBucketName"] == f"remedy-quarantine-{account}-us-east-1"
        assert rule_names(home) == GLOBAL_RULES | REGIONAL_RULES

        # A second region: its own bucket and key, the rules without IAM's, no second role.
        other = admin_session(account, "eu-west-1")
        outputs = deploy(other)
        other_key = assert_regional_resources(other, account, "eu-west-1")
        assert other_key != key_arn
        assert rule_names(other) == REGIONAL_RULES
        resources = other.client("cloudformation").list_stack_resources(StackName="remedy-member")
        created = {r["LogicalResourceId"] for r in resources["StackResourceSummaries"]}
        assert not created & {"RemediationRole", "ForwarderRole", "IamGuardRule"}

    # Each account's resources live in that account only.
    assert "remedy-quarantine-222222222222-us-east-1" not in {
        b["Name"]
        for b in admin_session(MEMBERS[0], "us-east-1").client("s3").list_buckets()["Buckets"]
    }


def test_a_region_without_s3_data_can_skip_the_quarantine_bucket_and_key() -> None:
    account = MEMBERS[0]
    home = admin_session(account, "us-east-1")
    outputs = deploy(home, QuarantineInRegion="create")
    assert outputs["KeyArn"] == assert_regional_resources(home, account, "us-east-1")
    assert rule_names(home) == GLOBAL_RULES | REGIONAL_RULES

    # Skipped (a StackSet parameter override for this region): no bucket and no key (no $1
    # a month), forwarding as before.
    other = admin_session(account, "eu-west-1")
    outputs = deploy(other, QuarantineInRegion="skip")
    assert outputs["QuarantineBucketName"] == outputs["KeyArn"] == "none"
    buckets = {b["Name"] for b in other.client("s3").list_buckets()["Buckets"]}
    assert buckets == {f"remedy-quarantine-{account}-us-east-1"}
    assert other.client("kms").list_keys()["Keys"] == []
    assert rule_names(other) == REGIONAL_RULES


def test_forwarding_rules_target_the_core_bus_through_the_forwarder_role() -> None:
    account = MEMBERS[0]
    for region in ("us-east-1", "eu-west-1"):
        session = admin_session(account, region)
        deploy(session)
        events = session.client("events")
        for name in rule_names(session):
            (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
            assert target["Arn"] == BUS_ARN
            assert target["RoleArn"] == f"arn:aws:iam::{account}:role/remedy-forwarder"
    iam = admin_session(account, "us-east-1").client("iam")
    policy = iam.get_role_policy(RoleName="remedy-forwarder", PolicyName="put-events-on-core-bus")
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS_ARN}
    ]


def core_bus_queue() -> tuple[Any, str]:
    """The core account's bus (as the core template names it) with a catch-all rule into a
    queue, to see what the member rules deliver."""
    core = admin_session(CORE_ACCOUNT, "us-east-1")
    events, sqs = core.client("events"), core.client("sqs")
    events.create_event_bus(Name="remedy-core-compliance")
    url = sqs.create_queue(QueueName="delivered")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sources = ["aws.macie", "aws.securityhub", "aws.ec2", "aws.s3", "aws.iam", "aws.guardduty"]
    events.put_rule(
        Name="all",
        EventBusName="remedy-core-compliance",
        EventPattern=json.dumps({"source": sources}),
    )
    events.put_targets(
        Rule="all",
        EventBusName="remedy-core-compliance",
        Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}],
    )
    return sqs, url


def entry(event: dict[str, Any], resources: list[str]) -> dict[str, Any]:
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": resources,
    }


#: Native GuardDuty findings of types remedy reads through their Security Hub copies (the
#: member forwards natively only the malware and threat types it acts on): never forwarded.
THROUGH_SECURITY_HUB = {
    "guardduty-ec2-canary-integtest.json",
    "guardduty-ec2-recon-portprobeunprotectedport.json",
    "guardduty-s3-pentest-parrotlinux.json",
}


def test_each_conformance_event_reaches_the_core_bus_exactly_once(conformance_dir: Path) -> None:
    """Emitted on a member's default bus, every corpus event is forwarded by exactly one rule
    (two would deliver it twice) to the core bus in the core account, but for the native
    GuardDuty findings remedy reads through Security Hub, which none forwards."""
    account = MEMBERS[0]
    member = admin_session(account, "us-east-1")
    # Both Security Hub integrations on, as in an organisation moving to the new one.
    deploy(member, ForwardSecurityHubV2="true")
    sqs, url = core_bus_queue()
    events = member.client("events")
    for path in sorted(conformance_dir.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        resources = event.get("resources", [])
        if event["detail-type"].endswith("Custom Action"):
            # Forwarded only for this account's own custom action.
            resources = [f"arn:aws:securityhub:us-east-1:{account}:action/custom/RemedyQuarantine"]
        assert events.put_events(Entries=[entry(event, resources)])["FailedEntryCount"] == 0
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        delivered = [json.loads(m["Body"]) for m in received.get("Messages", [])]
        if path.name in THROUGH_SECURITY_HUB:
            assert delivered == [], f"{path.name} delivered natively"
            continue
        assert len(delivered) == 1, f"{path.name} delivered {len(delivered)} times"
        assert delivered[0]["detail"] == event["detail"], path.name
        sqs.delete_message(QueueUrl=url, ReceiptHandle=received["Messages"][0]["ReceiptHandle"])


def test_other_custom_actions_are_not_forwarded(conformance_dir: Path) -> None:
    """Only remedy's own custom action is forwarded, not the account's other actions."""
    member = admin_session(MEMBERS[0], "us-east-1")
    deploy(member)
    sqs, url = core_bus_queue()
    for name in (
        "securityhub-securityhub-cis-cloudtrail-customaction.json",
        "securityhub-custom-custodian-lambda-crossaccount-customaction.json",
    ):
        action = json.loads((conformance_dir / name).read_text(encoding="utf-8"))
        sent = member.client("events").put_events(Entries=[entry(action, action["resources"])])
        assert sent["FailedEntryCount"] == 0
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)


def test_security_hub_forwarding_can_be_turned_off() -> None:
    session = admin_session(MEMBERS[0], "us-east-1")
    deploy(session, ForwardSecurityHub="false")
    assert rule_names(session) == GLOBAL_RULES | {
        "remedy-forward-macie",
        "remedy-forward-api-guard",
        "remedy-forward-guardduty-malware-scan",
        "remedy-forward-guardduty-malware-finding",
        "remedy-forward-guardduty-threats",
    }


def deliveries(member: boto3.Session, queue: tuple[Any, str], event: dict[str, Any]) -> int:
    """How many times `event`, put on the member's default bus, reached the core bus."""
    sqs, url = queue
    sent = member.client("events").put_events(Entries=[entry(event, event["resources"])])
    assert sent["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        assert json.loads(message["Body"])["detail"] == event["detail"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


@pytest.mark.parametrize("v2", ["true", "false"])
def test_guardduty_and_new_security_hub_events_are_forwarded_once(v2: str) -> None:
    """Scan results and GuardDuty's malware finding always; OCSF findings where turned on."""
    member = admin_session(MEMBERS[0], "us-east-1")
    deploy(member, ForwardSecurityHubV2=v2)
    queue = core_bus_queue()
    for name in (
        "guardduty-malware-scan-threats-found.json",
        "guardduty-malware-scan-no-threats-found.json",
        "guardduty-finding-s3-maliciousfile.json",
    ):
        assert deliveries(member, queue, load_json(EVENTS / name)) == 1, name
    ocsf = load_json(EVENTS / "securityhub-v2-control-s3.8-block-public-access.json")
    assert deliveries(member, queue, ocsf) == (1 if v2 == "true" else 0)
    # The threats remedy contains, and root credential use, natively too (by prefix).
    for threat in (
        "Backdoor:EC2/C&CActivity.B",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "UnauthorizedAccess:EC2/TorClient",
        "Execution:Runtime/NewBinaryExecuted",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "CredentialAccess:IAMUser/AnomalousBehavior",
        "Policy:IAMUser/RootCredentialUsage",
    ):
        event = load_json(EVENTS / "guardduty-finding-s3-maliciousfile.json")
        event["detail"]["type"] = threat
        assert deliveries(member, queue, event) == 1, threat
    # Other GuardDuty findings come through Security Hub, not natively.
    other = load_json(EVENTS / "guardduty-finding-s3-maliciousfile.json")
    other["detail"]["type"] = "Recon:EC2/Portscan"
    assert deliveries(member, queue, other) == 0


# ---------------------------------------------------------------- StackSet rollout


def deploy_members() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "deploy_members", ROOT / "scripts" / "deploy_members.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def organization_with_ou(member_count: int) -> tuple[str, str, list[str]]:
    org = boto3.client("organizations", region_name="us-east-1")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]
    accounts = []
    for n in range(member_count):
        status = org.create_account(AccountName=f"member{n}", Email=f"member{n}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou["Id"])
        accounts.append(account)
    return org_id, ou["Id"], accounts


def stack_set_parameters(module: Any, org_id: str) -> list[dict[str, str]]:
    return module.member_parameters(  # type: ignore[no-any-return]
        prefix="remedy",
        core_event_bus_arn=BUS_ARN,
        core_remediator_role_arn=REMEDIATOR_ARN,
        external_id=EXTERNAL_ID,
        break_glass_role_name="BreakGlass",
        organization_id=org_id,
        forward_securityhub=True,
        home_region="us-east-1",
        extra={},
    )


def test_stack_set_rolls_out_to_every_account_of_the_ou_and_updates_in_place() -> None:
    module = deploy_members()
    org_id, ou, accounts = organization_with_ou(3)
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    regions = ["eu-west-1", "us-east-1"]
    kwargs: dict[str, Any] = {
        "name": "remedy-member",
        "template_body": TEMPLATE,
        "parameters": stack_set_parameters(module, org_id),
        "ous": [ou],
        "regions": regions,
        "home_region": "us-east-1",
    }
    first = module.deploy(cfn, **kwargs)
    assert len(first) == 1  # created: one create-instances operation, no update
    stack_set = cfn.describe_stack_set(StackSetName="remedy-member")["StackSet"]
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"

    for account in accounts:
        home = admin_session(account, "us-east-1")
        assert_role(home, account, org_id)
        assert_regional_resources(home, account, "us-east-1")
        assert_regional_resources(admin_session(account, "eu-west-1"), account, "eu-west-1")

    # Rerun: the StackSet is updated and no instance is created twice.
    second = module.deploy(cfn, **kwargs)
    assert len(second) == 2
    instances = cfn.list_stack_instances(StackSetName="remedy-member")["Summaries"]
    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (a, r) for a in accounts for r in regions
    )


def test_stack_set_refuses_regions_without_the_home_region() -> None:
    module = deploy_members()
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    with pytest.raises(module.DeployError, match="home region us-east-1 is not among"):
        module.deploy(
            cfn,
            name="remedy-member",
            template_body=TEMPLATE,
            parameters=[],
            ous=["ou-abcd-12345678"],
            regions=["eu-west-1"],
            home_region="us-east-1",
        )
    assert cfn.list_stack_sets()["Summaries"] == []


def test_stack_set_parameters_need_a_real_external_id() -> None:
    module = deploy_members()
    with pytest.raises(module.DeployError, match="ExternalId is missing or shorter"):
        module.member_parameters(
            prefix="remedy",
            core_event_bus_arn=BUS_ARN,
            core_remediator_role_arn=REMEDIATOR_ARN,
            external_id="",
            break_glass_role_name="BreakGlass",
            organization_id="",
            forward_securityhub=True,
            home_region="us-east-1",
            extra={},
        )
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set_parameters(module, "o-x")}
    assert params["CoreAccountId"] == CORE_ACCOUNT


def test_deploy_members_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make deploy-members` end to end on moto: organization id from Organizations, the
    ExternalId from the environment only, OUs and regions as make passes them."""
    module = deploy_members()
    org_id, ou, accounts = organization_with_ou(1)
    argv = [
        *("--ous", ou),
        *("--regions", "us-east-1,eu-west-1"),
        *("--break-glass-role-name", "BreakGlass"),
        *("--core-event-bus-arn", BUS_ARN),
        *("--core-remediator-role-arn", REMEDIATOR_ARN),
        *("--parameter", "QuarantineRetentionDays=400"),
    ]
    monkeypatch.delenv("REMEDY_EXTERNAL_ID", raising=False)
    assert module.main(argv) == 2
    assert "ExternalId is missing" in capsys.readouterr().err
    assert boto3.client("cloudformation").list_stack_sets()["Summaries"] == []

    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
    # No credentials, then no region: one line and exit 2 each (was a traceback).
    for unset, line in (
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), NO_CREDENTIALS),
        (("AWS_DEFAULT_REGION", "AWS_REGION"), NO_REGION),
    ):
        with monkeypatch.context() as without:
            for name in unset:
                without.delenv(name, raising=False)
            without.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            without.setenv("AWS_CONFIG_FILE", "/nonexistent")
            without.setenv("AWS_EC2_METADATA_DISABLED", "true")
            assert module.main(argv) == 2
            assert capsys.readouterr().err == f"error: {line}\n"
    assert module.main(argv) == 0
    assert "succeeded" in capsys.readouterr().out
    assert_role(admin_session(accounts[0], "us-east-1"), accounts[0], org_id)
    assert_regional_resources(admin_session(accounts[0], "eu-west-1"), accounts[0], "eu-west-1")


def test_remediation_role_policy_is_enforceable_on_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """With moto's IAM enforcement on, the deployed role may move an object into quarantine
    and may not do what no action declares (so other tests can rely on the enforcement)."""
    account = MEMBERS[0]
    admin = admin_session(account, "us-east-1")
    deploy(admin)
    admin.client("s3").create_bucket(Bucket="source-bucket")
    admin.client("s3").put_object(Bucket="source-bucket", Key="card.csv", Body=b"4111")
    creds = boto3.client("sts").assume_role(
        RoleArn=Settings.from_env().remediation_role_arn(account),
        RoleSessionName="remedy-test",
        ExternalId=EXTERNAL_ID,
    )["Credentials"]
    s3 = boto3.client(
        "s3",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    quarantine = Settings.from_env().quarantine_bucket(account, "us-east-1")
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)

    s3.copy_object(
        Bucket=quarantine,
        Key="source-bucket/card.csv",
        CopySource={"Bucket": "source-bucket", "Key": "card.csv"},
    )
    s3.delete_object(Bucket="source-bucket", Key="card.csv")
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.put_bucket_acl(Bucket="source-bucket", ACL="public-read")
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.create_bucket(Bucket="not-allowed")
    monkeypatch.undo()
    keys = [o["Key"] for o in admin.client("s3").list_objects_v2(Bucket=quarantine)["Contents"]]
    assert keys == ["source-bucket/card.csv"]
