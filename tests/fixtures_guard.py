"""A core and two member accounts on moto, for the guard actions' tests.

The core account is moto's default; each member gets the remediation role with exactly
the permissions under test. The actions reach the members the way they do in Lambda:
`AccountSessions` assumes the role with the ExternalId, and every AssumeRole call is
recorded so tests assert the ExternalId (moto does not enforce trust). `enforced` runs a
call with moto checking the role's identity policy, so a missing permission is refused as
AWS would refuse it. Every S3 call the role makes is recorded and, after each test,
must have pinned the bucket owner (`s3_owner`; moto does not enforce it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import enable_iam_authentication

from conftest import fake_aws_credentials
from remedy.actions.session import AccountSessions
from remedy.model import Finding, Resource, ResourceKind, Severity, Source
from remedy.settings import Settings
from s3_owner import S3Calls, s3_owner_calls

CORE = "123456789012"
MEMBERS = ("111111111111", "222222222222")
REGION = "us-east-1"
EXTERNAL_ID = "remedy-test-external-id"
ROLE = "remedy-remediation"


_ADMIN_CLIENTS: dict[tuple[str, str], Any] = {}
# One session for every admin client, so each service model is read from disk once.
_ADMIN_SESSION = boto3.Session(region_name=REGION)


def trust(service: str) -> str:
    """The trust policy of a role that `service` (``ec2.amazonaws.com``) assumes."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def admin(account: str, service: str) -> Any:
    """A client acting in `account` for setting up and inspecting (not the role under test).

    Cached for the test (clients are slow to build); `core` clears the cache.
    """
    client = _ADMIN_CLIENTS.get((account, service))
    if client is None:
        creds = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="test-setup"
        )["Credentials"]
        client = _ADMIN_SESSION.client(
            service,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        _ADMIN_CLIENTS[(account, service)] = client
    return client


def install_role(account: str, permissions: Iterable[str]) -> None:
    """The member remediation role, allowed exactly `permissions` on every resource."""
    iam = admin(account, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{CORE}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(permissions), "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=ROLE, PolicyName="remediation", PolicyDocument=json.dumps(policy))


@dataclass
class Core:
    """The core account's view: settings, member sessions, and the AssumeRole calls made."""

    settings: Settings
    sessions: AccountSessions
    assume_calls: list[dict[str, Any]] = field(default_factory=list)
    #: The S3 calls the remediation role made.
    s3_calls: S3Calls = field(default_factory=S3Calls)

    def prime(self, *accounts: str) -> None:
        """Assume the role in `accounts` now, before moto starts enforcing policies."""
        for account in accounts:
            self.sessions.session(account, finding_key="prime")


def running_core(monkeypatch: pytest.MonkeyPatch) -> Iterator[Core]:
    """The `core` fixture; a test module adopts it with
    ``_core = pytest.fixture(name="core")(running_core)``."""
    fake_aws_credentials(monkeypatch, REGION)
    _ADMIN_CLIENTS.clear()
    with mock_aws():
        settings = Settings(
            ledger_table="unused",
            owner_topic_arn="",
            slack_secret_arn="",
            remediation_role_name=ROLE,
            external_id=EXTERNAL_ID,
            quarantine_bucket_prefix="remedy",
            policy_dir=None,
            remediator_function="",
        )
        sts = boto3.client("sts", region_name=REGION)
        calls: list[dict[str, Any]] = []
        sts.meta.events.register(
            "provide-client-params.sts.AssumeRole",
            lambda params, **_: calls.append(dict(params)),
        )
        with s3_owner_calls(sts) as s3_calls:
            yield Core(settings, AccountSessions(settings, sts), calls, s3_calls)
        assert not s3_calls.unpinned(), s3_calls.unpinned()
        # Every AssumeRole the core made carried the ExternalId the member role demands.
        assert calls, "the core never assumed a member role"
        assert {c["ExternalId"] for c in calls} == {EXTERNAL_ID}
        assert {c["RoleArn"].split(":")[4] for c in calls} <= set(MEMBERS)


#: ``with enforced():`` moto checks every request against the caller's identity policies.
enforced = enable_iam_authentication


def finding(
    account: str,
    *,
    source: Source,
    type: str,
    resources: tuple[Resource, ...] = (),
    parameters: dict[str, Any] | None = None,
    region: str = REGION,
    key: str = "finding-1",
) -> Finding:
    return Finding(
        key=key,
        source=source,
        product="CloudTrail" if source is Source.CLOUDTRAIL else "Security Hub",
        type=type,
        severity=Severity.HIGH,
        account=account,
        region=region,
        envelope_account=account,
        id=key,
        resources=resources,
        parameters=parameters or {},
    )


def resource(kind: ResourceKind, id: str, region: str = REGION, **extra: Any) -> Resource:
    return Resource(kind=kind, id=id, region=region, **extra)
