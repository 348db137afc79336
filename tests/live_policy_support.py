"""A policy bucket on moto and policy folders to push, for the live policy tests."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conftest import fake_aws_credentials
from remedy import policy_files
from remedy.policy.examples import EXAMPLE_ACCOUNTS
from remedy.policy_live import loader

SHIPPED = Path(__file__).resolve().parent.parent / "policies"
REGION = "eu-west-1"
BUCKET = "remedy-policy-test"
#: Each example id of the shipped accounts.yaml becomes one of these (not examples).
OWN_IDS = {example: f"2100000{i:05d}" for i, example in enumerate(sorted(EXAMPLE_ACCOUNTS))}


def own_ids(text: str) -> str:
    return re.sub(r"\b(\d{12})\b", lambda m: OWN_IDS.get(m.group(1), m.group(1)), text)


def deployable(folder: Path) -> Path:
    """A copy of the shipped policy with every example account id replaced: it passes
    ``remedy policy validate --for-deploy``."""
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("schema"))
    accounts = folder / "accounts.yaml"
    accounts.write_text(own_ids(accounts.read_text(encoding="utf-8")), encoding="utf-8")
    return folder


def make_bucket() -> Any:
    """A versioned, KMS-encrypted, private bucket as the core template declares it."""
    s3 = boto3.client("s3", region_name=REGION)
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    }
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return s3


def versions(s3: Any) -> list[str]:
    """Every version id of the bundle object, newest first."""
    listed = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    return [v["VersionId"] for v in sorted(listed, key=lambda v: v["LastModified"], reverse=True)]


def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """No live policy, nor the policy folder it put in effect, left by an earlier test:
    each test has its own moto bucket of the same name."""
    monkeypatch.setattr(policy_files, "_in_effect", None)
    monkeypatch.setattr(loader, "_live", None)


def live_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The `s3` fixture (``_s3 = pytest.fixture(name="s3")(live_bucket)``): the policy
    bucket on moto, named by ``REMEDY_POLICY_BUCKET``, in a fresh process; its S3 client."""
    fake_aws_credentials(monkeypatch, REGION)
    monkeypatch.setenv("REMEDY_POLICY_BUCKET", BUCKET)
    fresh_process(monkeypatch)
    with mock_aws():
        yield make_bucket()


def policy_folder(tmp_path: Path) -> Path:
    """The `folder` fixture: a deployable policy folder."""
    return deployable(tmp_path / "policy")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Refusals(list[tuple[str, str]]):
    """What the loader refused: (version, why) each time."""

    def __call__(self, version: str, reason: str) -> None:
        self.append((version, reason))
