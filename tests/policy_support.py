"""Building findings and policy folders for the policy tests (no normaliser involved)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from remedy.model import Finding, Resource, ResourceKind, Severity, Source

SHIPPED = Path(__file__).resolve().parent.parent / "policies"


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


def cloudtrail(**changes: Any) -> Finding:
    values: dict[str, Any] = {
        "source": Source.CLOUDTRAIL,
        "product": "CloudTrail",
        "type": "ec2:AuthorizeSecurityGroupIngress",
        "severity": Severity.HIGH,
        "category": None,
        "api_call": "ec2:AuthorizeSecurityGroupIngress",
        "resources": (
            Resource(kind=ResourceKind.SECURITY_GROUP, id="sg-0abc", type="AwsEc2SecurityGroup"),
        ),
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
