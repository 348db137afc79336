"""One object of one finding on its way to quarantine (`Job`), where its copy is (`Copy`),
and how S3 requests name an object version."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boto3.s3.transfer import TransferConfig

from remedy.actions.s3_quarantine.integrity import Checksum
from remedy.model import Finding, Resource


def s3_uri(bucket: str, key: str, version_id: str | None = None) -> str:
    uri = f"s3://{bucket}/{key}"
    return f"{uri} (version {version_id})" if version_id else uri


def etag(value: str | None) -> str:
    return (value or "").strip('"')


def object_args(
    owner: str, bucket: str, key: str, version_id: str | None, **extra: Any
) -> dict[str, Any]:
    """The request fields naming one object (version) in a bucket `owner` must own."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ExpectedBucketOwner": owner, **extra}
    if version_id:
        kwargs["VersionId"] = version_id
    return kwargs


@dataclass(slots=True)
class Job:
    """One object of one finding, where its copy goes, and how it is copied."""

    s3: Any
    finding: Finding
    resource: Resource
    bucket: str
    key: str
    account: str
    region: str
    qbucket: str
    qkey: str
    options: Mapping[str, Any]
    transfer: TransferConfig
    #: The quarantine KMS key, by alias.
    kms_key: str
    clock: Callable[[], datetime]
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return s3_uri(self.bucket, self.key, self.resource.version_id)

    def now(self) -> str:
        return f"{self.clock().astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True, slots=True)
class Copy:
    """The copy of one object in the quarantine bucket."""

    bucket: str
    key: str
    version_id: str | None
    checksum: Checksum | None
    method: str
    origin_tags_dropped: tuple[str, ...] = ()
    resumed: bool = False
    #: HeadObject of the copy, when one was read (a multipart copy, or a rerun's find).
    head: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def kept(self) -> str:
        return f"copy kept at {s3_uri(self.bucket, self.key, self.version_id)}"

    def destination(self, account: str, region: str, kms_key: str) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "account": account,
            "region": region,
            "kms_key": kms_key,
        }
