"""A policy bucket on moto and policy folders to push, for the live policy tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import boto3

from remedy.policy.examples import EXAMPLE_ACCOUNTS

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
