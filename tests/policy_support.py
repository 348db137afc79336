"""Building findings and policy folders for the policy tests (no normaliser involved)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from remedy.model import Finding, Resource, ResourceKind, Severity, Source

SHIPPED = Path(__file__).resolve().parent.parent / "policies"
#: How many rules the shipped remediation.yaml writes, read as plain YAML, so that the
#: loader's count can be checked against the file rather than against a number to keep in step.
SHIPPED_RULES = len(yaml.safe_load((SHIPPED / "remediation.yaml").read_text())["rules"])
#: An accounts.yaml of the default block alone, to add units and settings to.
DEFAULT_ONLY_ACCOUNTS = """\
version: 1
default:
  name: unlisted account
  environment: unknown
  owners: [cloud-security@example.com]
  slack: {channel: "#sec-findings"}
  approvers: {usergroup: S0SECAPPROVE}
accounts: {}
"""


def s3_object(bucket: str = "payments-exports", key: str = "2024/cards.csv") -> Resource:
    return Resource(
        kind=ResourceKind.S3_OBJECT,
        id=f"arn:aws:s3:::{bucket}/{key}",
        type="AwsS3Object",
        bucket=bucket,
        key=key,
    )


def s3_bucket(bucket: str = "payments-exports") -> Resource:
    return Resource(
        kind=ResourceKind.S3_BUCKET, id=f"arn:aws:s3:::{bucket}", type="AwsS3Bucket", bucket=bucket
    )


def security_group(group_id: str = "sg-0abc") -> Resource:
    return Resource(kind=ResourceKind.SECURITY_GROUP, id=group_id, type="AwsEc2SecurityGroup")


def iam_policy(arn: str = "arn:aws:iam::111111111111:policy/admin") -> Resource:
    return Resource(kind=ResourceKind.IAM_POLICY, id=arn, type="AwsIamPolicy")


def internet_gateway(gateway_id: str = "igw-0abc") -> Resource:
    return Resource(kind=ResourceKind.INTERNET_GATEWAY, id=gateway_id, type="AwsEc2InternetGateway")


def finding(**changes: Any) -> Finding:
    """A native Macie HIGH finding in 111111111111 about one S3 object, with `changes`."""
    values: dict[str, Any] = {
        "key": "m-test",
        "source": Source.MACIE,
        "product": "Macie",
        "type": "SensitiveData:S3Object/Credentials",
        "severity": Severity.HIGH,
        "account": "111111111111",
        "region": "eu-west-1",
        "envelope_account": changes.get("account", "111111111111"),
        "id": "f-1",
        "category": "CLASSIFICATION",
        "resources": (s3_object(), s3_bucket()),
    }
    values.update(changes)
    return Finding(**values)


def securityhub(**changes: Any) -> Finding:
    """An ASFF finding (GuardDuty unless changed), NEW and ACTIVE, with `changes`."""
    values: dict[str, Any] = {
        "source": Source.SECURITYHUB,
        "product": "GuardDuty",
        "type": "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
        "category": None,
        "workflow_status": "NEW",
        "record_state": "ACTIVE",
        "resources": (
            Resource(kind=ResourceKind.EC2_INSTANCE, id="i-0abc", type="AwsEc2Instance"),
        ),
    }
    values.update(changes)
    return finding(**values)


def control(control_id: str, *resources: Resource, **changes: Any) -> Finding:
    """A FAILED Security Hub control finding (HIGH unless changed) about `resources`."""
    values: dict[str, Any] = {
        "product": "Security Hub",
        "type": "Software and Configuration Checks/Industry and Regulatory Standards",
        "severity": Severity.HIGH,
        "compliance_status": "FAILED",
        "parameters": {"control_id": control_id},
        "resources": resources,
    }
    values.update(changes)
    return securityhub(**values)


def cloudtrail(**changes: Any) -> Finding:
    """A guarded call: world-open ``AuthorizeSecurityGroupIngress`` (HIGH) unless changed."""
    values: dict[str, Any] = {
        "source": Source.CLOUDTRAIL,
        "product": "CloudTrail",
        "type": "ec2:AuthorizeSecurityGroupIngress",
        "severity": Severity.HIGH,
        "category": None,
        "api_call": "ec2:AuthorizeSecurityGroupIngress",
        "resources": (security_group(),),
    }
    values.update(changes)
    return finding(**values)


def policy_dir(
    tmp_path: Path,
    rules: list[dict[str, Any]] | None = None,
    *,
    remediation: str | None = None,
    accounts: str | None = None,
) -> Path:
    """A policy folder: the shipped files, with remediation.yaml replaced if asked."""
    folder = tmp_path / "policies"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("schema"))
    if rules is not None:
        remediation = yaml.safe_dump({"version": 1, "rules": rules}, sort_keys=False)
    if remediation is not None:
        (folder / "remediation.yaml").write_text(remediation, encoding="utf-8")
    if accounts is not None:
        (folder / "accounts.yaml").write_text(accounts, encoding="utf-8")
    return folder
