"""A multi-account AWS organisation on moto, for the quarantine, ledger and pipeline tests.

- The core account is moto's default (123456789012). Its identity is an IAM user standing
  in for the remediator's Lambda role (moto checks policies only for identities it knows),
  allowed the ledger table and sts:AssumeRole.
- Three member accounts, each with the member template (member-account-template.yaml)
  deployed through moto CloudFormation: the remediation role ``remedy-remediation``, the
  quarantine bucket ``remedy-quarantine-<account>-eu-west-1`` and its KMS key and alias.
- Every AssumeRole the core makes is observed on the wire (``before-call.sts.AssumeRole``)
  and, when the world is torn down, asserted to carry the ExternalId and a valid session
  name (moto does not enforce trust policies).
- Every S3 call the remediation role makes is recorded (`s3_owner`) and, when the world
  is torn down, asserted to pin the bucket owner (moto does not enforce it).
- `World.enforced()` makes moto check identity policies on every request, so the role's
  policy decides what the remediation may do, as AWS would.

Two moto gaps are bridged after the stack is created, and only these: moto CloudFormation
skips ``VersioningConfiguration`` (versioning is turned on as the template says), and
stores an inline role policy in a form its own policy checker cannot read (the same
document is put back as JSON).
"""

from __future__ import annotations

import ast
import copy
import json
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import enable_iam_authentication

from conftest import fake_aws_credentials
from remedy.actions import build
from remedy.actions.s3_quarantine import S3Quarantine
from remedy.actions.session import AccountSessions
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.notify.base import Announcer
from remedy.pipeline import Pipeline
from remedy.policy import load_policy
from remedy.settings import Settings
from s3_owner import S3Calls, s3_owner_calls

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "member-account-template.yaml"
EVENTS = ROOT / "events"
CORE = "123456789012"
MEMBERS = ("111111111111", "222222222222", "333333333333")
#: The Security Hub / Macie administrator in policies/accounts.yaml.
AGGREGATOR = "999999999999"
REGION = "eu-west-1"
EXTERNAL_ID = "remedy-tests-external-id-0001"
PREFIX = "remedy"
ROLE = f"{PREFIX}-remediation"
LEDGER_TABLE = "remedy-ledger"
CREDENTIALS_TYPE = "SensitiveData:S3Object/Credentials"
#: The rules these tests rely on, kept apart from the shipped policy (which grows with
#: other remediations); accounts.yaml and the rest are the shipped ones.
TEST_RULES = """\
version: 1
defaults:
  min_severity: LOW
rules:
  - id: quarantine-credentials
    match: {product: [Macie], type: ["SensitiveData:S3Object/Credentials"]}
    action: quarantine
  - id: approve-personal-data
    match: {product: [Macie], type: ["SensitiveData:S3Object/Personal"]}
    action: approve
  - id: notify-macie-policy
    match: {product: [Macie], type: ["Policy:*"]}
    action: notify
  - id: notify-securityhub-high
    match: {source: [securityhub], min_severity: HIGH}
    action: notify
  - id: ignore-other-securityhub
    match: {source: [securityhub]}
    action: ignore
"""
_SESSION_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-")


@dataclass
class LambdaContext:
    """What Lambda passes its handlers as the context (the fields Powertools reads)."""

    function_name: str = "remedy-findings"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{CORE}:function:remedy-findings"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


class Clock:
    """A clock tests move by hand (leases, TTLs); starts now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings() -> Settings:
    return Settings(
        ledger_table=LEDGER_TABLE,
        owner_topic_arn="",
        slack_secret_arn="",
        remediation_role_name=ROLE,
        external_id=EXTERNAL_ID,
        quarantine_bucket_prefix=PREFIX,
        policy_dir=None,
        remediator_function="",
    )


def admin_session(account: str, region: str = REGION) -> boto3.Session:
    """Acts in `account` for setting up and inspecting; never the role under test."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="remedy-tests",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def deploy_member(account: str) -> None:
    """The member template into `account`, then the two moto gaps bridged."""
    session = admin_session(account)
    with warnings.catch_warnings():
        # moto names the resource types it skips (queue and bucket policies, ...).
        warnings.simplefilter("ignore", UserWarning)
        _create_stack(session)
    _bridge_moto_gaps(session, account)


def _create_stack(session: boto3.Session) -> None:
    session.client("cloudformation").create_stack(
        StackName="remedy-member",
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in {
                "Prefix": PREFIX,
                "CoreAccountId": CORE,
                "CoreEventBusArn": f"arn:aws:events:{REGION}:{CORE}:event-bus/remedy-core",
                "CoreRemediatorRoleArn": f"arn:aws:iam::{CORE}:role/remedy-remediator",
                "ExternalId": EXTERNAL_ID,
                "BreakGlassRoleName": "BreakGlass",
                "HomeRegion": REGION,
                "IamEventsRegion": REGION,
            }.items()
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


def _bridge_moto_gaps(session: boto3.Session, account: str) -> None:
    s3 = session.client("s3")
    s3.put_bucket_versioning(
        Bucket=f"{PREFIX}-quarantine-{account}-{REGION}",
        VersioningConfiguration={"Status": "Enabled"},
    )
    iam = session.client("iam")
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = ast.literal_eval(document)
        iam.put_role_policy(RoleName=ROLE, PolicyName=name, PolicyDocument=json.dumps(document))


def _json(document: str | dict[str, Any]) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def role_policy(actions: Iterable[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}],
    }


#: The core identity's user and the policy it has: it may assume roles and use the ledger.
CORE_USER = "remedy-remediator"
CORE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": "*"},
        ],
    }
)


def _core_identity() -> boto3.Session:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=CORE_USER)
    iam.put_user_policy(UserName=CORE_USER, PolicyName="core", PolicyDocument=CORE_POLICY)
    key = iam.create_access_key(UserName=CORE_USER)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


def create_ledger_table(dynamodb: Any) -> None:
    dynamodb.create_table(TableName=LEDGER_TABLE, **TABLE_SCHEMA)
    dynamodb.update_time_to_live(
        TableName=LEDGER_TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


def _event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def macie_event(
    account: str,
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    etag: str | None = None,
    size: int = 0,
    finding_type: str = CREDENTIALS_TYPE,
    envelope_account: str | None = None,
    region: str = REGION,
) -> dict[str, Any]:
    """A Macie finding event (shaped like events/macie-classification-credentials.json)."""
    event = copy.deepcopy(_event("macie-classification-credentials.json"))
    event["id"] = str(uuid.uuid4())
    event["account"] = envelope_account or account
    event["region"] = region
    detail = event["detail"]
    detail["id"] = uuid.uuid4().hex
    detail["accountId"] = account
    detail["region"] = region
    detail["type"] = finding_type
    affected = detail["resourcesAffected"]
    affected["s3Bucket"]["name"] = bucket
    affected["s3Bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = affected["s3Object"]
    obj.update(
        {
            "bucketArn": f"arn:aws:s3:::{bucket}",
            "key": key,
            "path": f"{bucket}/{key}",
            "versionId": version_id or "",
            "eTag": (etag or "").strip('"'),
            "size": size,
        }
    )
    return event


def securityhub_copy(
    account: str,
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    etag: str | None = None,
    asff_type: str = "Sensitive Data Identifications/Passwords/SensitiveData:S3Object-Credentials",
    region: str = REGION,
) -> dict[str, Any]:
    """Macie's copy of the same finding in Security Hub, delivered by the aggregator."""
    event = copy.deepcopy(_event("securityhub-macie-personal-copy.json"))
    event["id"] = str(uuid.uuid4())
    event["account"] = AGGREGATOR
    event["region"] = region
    finding = event["detail"]["findings"][0]
    finding_id = f"arn:aws:macie2:{region}:{account}:finding/{uuid.uuid4().hex}"
    finding.update(
        {
            "Id": finding_id,
            "AwsAccountId": account,
            "Region": region,
            "ProductArn": f"arn:aws:securityhub:{region}::product/aws/macie",
            "Types": [asff_type],
            "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "High"},
            "FindingProviderFields": {
                "Severity": {"Label": "HIGH", "Original": "High"},
                "Types": [asff_type],
            },
        }
    )
    bucket_resource, object_resource = finding["Resources"]
    bucket_resource.update({"Id": f"arn:aws:s3:::{bucket}", "Region": region})
    object_resource.update({"Id": f"arn:aws:s3:::{bucket}/{key}", "Region": region})
    details = object_resource["Details"]["AwsS3Object"]
    details.pop("VersionId", None)
    details.pop("ETag", None)
    if version_id:
        details["VersionId"] = version_id
    if etag:
        details["ETag"] = etag.strip('"')
    finding["ProductFields"]["S3Object.Path"] = f"{bucket}/{key}"
    return event


@dataclass
class Stored:
    """What a test put in S3."""

    account: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    body: bytes


@dataclass
class World:
    settings: Settings
    core: boto3.Session
    sts: Any
    store: DynamoDBLedgerStore
    sessions: AccountSessions
    clock: Clock
    assume_calls: list[dict[str, Any]] = field(default_factory=list)
    changed_roles: set[str] = field(default_factory=set)
    policy_dir: Path = ROOT / "policies"
    #: Admin sessions and clients, shared by the tests of a module (the org's).
    admins: dict[str, boto3.Session] = field(default_factory=dict)
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: The S3 calls the remediation role made.
    s3_calls: S3Calls = field(default_factory=S3Calls)

    # -- set-up and inspection (admin, not the role under test) ---------------------------

    def admin(self, account: str) -> boto3.Session:
        if account not in self.admins:
            self.admins[account] = admin_session(account)
        return self.admins[account]

    def s3(self, account: str, **config: Any) -> Any:
        if config:
            from botocore.config import Config

            return self.admin(account).client("s3", config=Config(**config))
        if (account, "s3") not in self.clients:
            self.clients[(account, "s3")] = self.admin(account).client("s3")
        return self.clients[(account, "s3")]

    def bucket(
        self, account: str, name: str, *, versioned: bool = False, object_lock: bool = False
    ) -> str:
        """A new bucket; `name` gets a unique suffix (bucket names are global)."""
        name = f"{name}-{uuid.uuid4().hex[:8]}"
        s3 = self.s3(account)
        kwargs: dict[str, Any] = {
            "Bucket": name,
            "CreateBucketConfiguration": {"LocationConstraint": REGION},
        }
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        s3.create_bucket(**kwargs)
        if versioned and not object_lock:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def put(
        self, account: str, bucket: str, key: str, body: bytes = b"secret", **kwargs: Any
    ) -> Stored:
        response = self.s3(account).put_object(Bucket=bucket, Key=key, Body=body, **kwargs)
        return Stored(account, bucket, key, response.get("VersionId"), response["ETag"], body)

    def quarantine_bucket(self, account: str) -> str:
        return self.settings.quarantine_bucket(account, REGION)

    def versions(self, account: str, bucket: str, key: str) -> list[dict[str, Any]]:
        listing = self.s3(account).list_object_versions(Bucket=bucket, Prefix=key)
        return [v for v in listing.get("Versions", []) if v["Key"] == key]

    def read(
        self, account: str, bucket: str, key: str, version_id: str | None = None
    ) -> bytes | None:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            body: bytes = self.s3(account).get_object(**kwargs)["Body"].read()
        except self.s3(account).exceptions.ClientError:
            return None
        return body

    def quarantined(self, stored: Stored) -> list[bytes]:
        """The bytes of every version of `stored`'s quarantine copy."""
        qbucket = self.quarantine_bucket(stored.account)
        qkey = f"{stored.bucket}/{stored.key}"
        return [
            self.read(stored.account, qbucket, qkey, v["VersionId"]) or b""
            for v in self.versions(stored.account, qbucket, qkey)
        ]

    def head(self, stored: Stored) -> dict[str, Any] | None:
        """HeadObject of what the test put (archived objects cannot be read back)."""
        kwargs: dict[str, Any] = {"Bucket": stored.bucket, "Key": stored.key}
        if stored.version_id:
            kwargs["VersionId"] = stored.version_id
        s3 = self.s3(stored.account)
        try:
            response: dict[str, Any] = s3.head_object(**kwargs)
        except s3.exceptions.ClientError:
            return None
        return response

    def still_at_source(self, stored: Stored) -> bool:
        return self.read(stored.account, stored.bucket, stored.key, stored.version_id) == (
            stored.body
        )

    def set_role_policy(self, account: str, actions: Iterable[str]) -> None:
        """Replace the remediation role's policy with exactly `actions` (for this test)."""
        self.changed_roles.add(account)
        iam = self.admin(account).client("iam")
        for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
            iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
        iam.put_role_policy(
            RoleName=ROLE,
            PolicyName="remedy-actions",
            PolicyDocument=json.dumps(role_policy(actions)),
        )

    # -- the system under test ------------------------------------------------------------

    def member_s3(self, account: str) -> Any:
        """The S3 client the remediation uses in `account` (assumes the role if needed)."""
        return self.sessions.client("s3", account, REGION, finding_key="test")

    def action(self, **kwargs: Any) -> S3Quarantine:
        return S3Quarantine(self.sessions, self.settings, clock=self.clock, **kwargs)

    def pipeline(
        self,
        *,
        action: S3Quarantine | None = None,
        notifiers: Iterable[Any] = (),
        policy_dir: Path | None = None,
    ) -> Pipeline:
        """The pipeline with every registered action (s3-quarantine as `action`) and the
        test rules (`TEST_RULES`) unless another policy folder is named."""
        return Pipeline(
            store=self.store,
            policy=load_policy(policy_dir or self.policy_dir),
            actions={
                **build(self.sessions, self.settings),
                "s3-quarantine": action or self.action(),
            },
            announce=Announcer(tuple(notifiers)),
            clock=self.clock,
        )

    def finding(self, stored: Stored, **kwargs: Any) -> Finding:
        """The finding Macie would report for `stored` (through the real normaliser)."""
        (finding,) = normalise(
            macie_event(
                stored.account,
                stored.bucket,
                stored.key,
                version_id=stored.version_id,
                etag=stored.etag,
                size=len(stored.body),
                **kwargs,
            )
        )
        return finding

    def policy_with(self, options: dict[str, Any]) -> Path:
        """A copy of the test policy whose quarantine rule passes `options` to the action."""
        folder = Path(tempfile.mkdtemp(prefix="policy-", dir=self.policy_dir.parent))
        shutil.copytree(self.policy_dir, folder, dirs_exist_ok=True)
        rules = TEST_RULES.replace(
            "    action: quarantine\n",
            "    action: quarantine\n    options: " + json.dumps(options) + "\n",
            1,
        )
        (folder / "remediation.yaml").write_text(rules, encoding="utf-8")
        return folder

    @contextmanager
    def enforced(self) -> Iterator[None]:
        """Moto checks every request against the caller's identity policies."""
        with enable_iam_authentication():
            yield


@dataclass
class Org:
    """What every test of a module shares: moto, the deployed members, the core identity
    and the ledger table (deploying is the slow part, so it happens once per module)."""

    core: boto3.Session
    #: The remediation role's policies as the template deployed them, per account.
    role_policies: dict[str, dict[str, str]]
    policy_dir: Path
    admins: dict[str, boto3.Session] = field(default_factory=dict)
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


@pytest.fixture(scope="module", name="org")
def org_fixture() -> Iterator[Org]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_credentials(monkeypatch, REGION)
        with mock_aws():
            policies = {}
            for account in MEMBERS:
                deploy_member(account)
                iam = admin_session(account).client("iam")
                policies[account] = {
                    name: _json(
                        iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
                    )
                    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
                }
            core = _core_identity()
            create_ledger_table(core.client("dynamodb"))
            with tempfile.TemporaryDirectory() as folder:
                policy_dir = Path(folder) / "policies"
                shutil.copytree(ROOT / "policies", policy_dir)
                (policy_dir / "remediation.yaml").write_text(TEST_RULES, encoding="utf-8")
                yield Org(core, policies, policy_dir)


def make_world(org: Org) -> World:
    """A fresh view of the organisation: its own clock, member sessions (nothing cached
    from other tests) and record of the AssumeRole calls seen on the wire."""
    sts = org.core.client("sts")
    calls: list[dict[str, Any]] = []

    def observe(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params.get("body") or {}))

    sts.meta.events.register("before-call.sts.AssumeRole", observe)
    clock = Clock()
    the_settings = settings()
    return World(
        settings=the_settings,
        core=org.core,
        sts=sts,
        store=DynamoDBLedgerStore(LEDGER_TABLE, org.core.client("dynamodb"), clock=clock),
        sessions=AccountSessions(the_settings, sts),
        clock=clock,
        assume_calls=calls,
        policy_dir=org.policy_dir,
        admins=org.admins,
        clients=org.clients,
    )


@pytest.fixture(name="world")
def world_fixture(org: Org) -> Iterator[World]:
    """`make_world` for one test. Buckets get unique names; role policies the test changes
    are put back afterwards; every AssumeRole it caused is checked."""
    world = make_world(org)
    with s3_owner_calls(world.sts) as world.s3_calls:
        yield world
    assert not world.s3_calls.unpinned(), world.s3_calls.unpinned()
    for account in world.changed_roles:
        iam = world.admin(account).client("iam")
        for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
            iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
        for name, document in org.role_policies[account].items():
            iam.put_role_policy(RoleName=ROLE, PolicyName=name, PolicyDocument=document)
    for call in world.assume_calls:
        assert call.get("ExternalId") == EXTERNAL_ID, call
        name = call.get("RoleSessionName", "")
        assert 2 <= len(name) <= 64 and set(name) <= _SESSION_NAME_CHARS, name
        assert call.get("RoleArn", "").split(":")[4] in MEMBERS, call
