"""Locate the source: the exact object version to quarantine, as one HeadObject sees it,
and whether it may move: unchanged since the finding, not archived, not held by Object Lock
(checked before the delete, so the copy is kept)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from remedy.actions.outcome import Outcome
from remedy.actions.s3_quarantine.errors import Stop, failure, missing
from remedy.actions.s3_quarantine.integrity import Checksum, reported
from remedy.actions.s3_quarantine.job import Copy, Job, etag, object_args
from remedy.ledger.base import State

#: Storage classes S3 cannot copy from until the object is restored. GLACIER_IR (Instant
#: Retrieval) is read like STANDARD and is quarantined at once.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
#: Intelligent-Tiering's archive tiers, which also need a restore.
ARCHIVE_TIERS = frozenset({"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"})
#: Headers that describe the content and travel with the copy (and back on release).
CONTENT_FIELDS = (
    "ContentType",
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "Expires",
    "WebsiteRedirectLocation",
)


@dataclass(frozen=True, slots=True)
class SourceObject:
    """The exact object version to quarantine, as one HeadObject saw it."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    storage_class: str
    archive_status: str | None
    restore: str | None
    checksum: Checksum | None
    tag_count: int
    content: dict[str, Any]
    metadata: dict[str, str]
    encryption: dict[str, Any]
    lock: str | None

    @classmethod
    def from_head(cls, bucket: str, key: str, head: Mapping[str, Any]) -> SourceObject:
        version = head.get("VersionId")
        return cls(
            bucket=bucket,
            key=key,
            version_id=str(version) if version else None,
            etag=str(head.get("ETag", "")),
            size=int(head.get("ContentLength", 0)),
            storage_class=str(head.get("StorageClass") or "STANDARD"),
            archive_status=head.get("ArchiveStatus"),
            restore=head.get("Restore"),
            checksum=reported(head),
            tag_count=int(head.get("TagCount") or 0),
            content={name: head[name] for name in CONTENT_FIELDS if head.get(name)},
            metadata=dict(head.get("Metadata") or {}),
            encryption={
                name: head[name]
                for name in ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled")
                if head.get(name) is not None
            },
            lock=lock(head),
        )

    @property
    def archived(self) -> bool:
        restored = self.restore is not None and 'ongoing-request="false"' in self.restore
        if self.storage_class in ARCHIVE_CLASSES:
            return not restored
        return self.archive_status in ARCHIVE_TIERS and not restored

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": etag(self.etag),
            "size": self.size,
            "storage_class": self.storage_class,
            "encryption": self.encryption,
        }


def lock(head: Mapping[str, Any]) -> str | None:
    """Why Object Lock keeps this version, if it does (HeadObject reports it when the
    role may read retention and legal hold)."""
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return "a legal hold is on"
    until = head.get("ObjectLockRetainUntilDate")
    if isinstance(until, datetime) and until > datetime.now(UTC):
        mode = head.get("ObjectLockMode", "")
        return f"{mode} retention until {until.astimezone(UTC).isoformat()}".strip()
    return None


def head_source(job: Job) -> SourceObject | None:
    """The version the finding names (or the current one); None if it no longer exists."""
    kwargs = object_args(
        job.account, job.bucket, job.key, job.resource.version_id, ChecksumMode="ENABLED"
    )
    try:
        head = job.s3.head_object(**kwargs)
    except ClientError as error:
        if missing(error):
            return None
        raise Stop(failure(error, "read", job.where)) from None
    return SourceObject.from_head(job.bucket, job.key, head)


def gone(job: Job) -> Outcome:
    return Outcome(
        State.GONE,
        f"{job.where} no longer exists (deleted after the finding); nothing to quarantine",
        {
            "source": {
                "bucket": job.bucket,
                "key": job.key,
                "version_id": job.resource.version_id,
            }
        },
    )


def not_movable(job: Job, src: SourceObject) -> Outcome | None:
    """CHANGED when the object is not the one the finding saw, ARCHIVED when S3 cannot copy
    it until it is restored; None when it may be copied."""
    if (
        job.resource.version_id is None
        and job.resource.etag
        and etag(src.etag) != etag(job.resource.etag)
    ):
        return Outcome(
            State.CHANGED,
            f"{job.where} changed after the finding (ETag now {etag(src.etag)}, the "
            f"finding saw {etag(job.resource.etag)}); nothing moved. If the new content "
            "is sensitive too, a new finding will report it",
            {"source": src.to_dict()},
        )
    if src.archived:
        tier = src.archive_status or src.storage_class
        version = f" --version-id {src.version_id}" if src.version_id else ""
        return Outcome(
            State.ARCHIVED,
            f"{job.where} is in {tier}, which S3 cannot copy until it is restored; "
            f"nothing moved. Restore it (aws s3api restore-object --bucket {job.bucket} "
            f"--key '{job.key}'{version} --restore-request Days=7), then retry",
            {"source": src.to_dict()},
        )
    return None


def locked(job: Job, src: SourceObject, copy: Copy, attrs: dict[str, Any]) -> Outcome:
    """Object Lock keeps the source version (`src.lock` says how): its verified copy stays
    too, and a person decides."""
    return Outcome(
        State.LOCKED,
        f"{copy.kept}; {job.where} left in place because Object Lock protects it "
        f"({src.lock}). Alert: remove the hold or wait for the retention to end, then "
        "delete the source version",
        attrs,
    )
