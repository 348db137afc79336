"""Find an earlier copy on resume: a rerun looks in the quarantine bucket for the copy an
earlier attempt made for this finding and source version, so it finishes the move instead
of copying again (and, when the source is already gone, learns the source from the copy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from remedy.actions.s3_quarantine.errors import Stop, failure
from remedy.actions.s3_quarantine.integrity import SourceDigest, reported, same_bytes
from remedy.actions.s3_quarantine.job import Copy, Job, object_args
from remedy.actions.s3_quarantine.locate import SourceObject
from remedy.actions.s3_quarantine.marks import (
    META_FINDING,
    META_SOURCE_CLASS,
    META_SOURCE_SSE,
    META_SOURCE_VERSION,
    NULL_VERSION,
)

#: How many versions of a quarantine key a rerun inspects for its own earlier copy.
MAX_CANDIDATES = 20


def find_copy(
    job: Job,
    src: SourceObject | None,
    digest: SourceDigest | None,
    multipart: bool,
) -> Copy | None:
    """A copy an earlier attempt made for this finding and source version, if any
    (and, while the source still exists, if it holds the source's bytes)."""
    try:
        listing = job.s3.list_object_versions(
            Bucket=job.qbucket, Prefix=job.qkey, ExpectedBucketOwner=job.account
        )
    except ClientError as error:
        raise Stop(failure(error, "list the quarantine copies of", job.where)) from None
    candidates = [v for v in listing.get("Versions", []) if v.get("Key") == job.qkey]
    try:
        return _first_own_copy(job, candidates, src, digest, multipart)
    except ClientError as error:
        raise Stop(failure(error, "check the quarantine copies of", job.where)) from None


def _first_own_copy(
    job: Job,
    candidates: list[dict[str, Any]],
    src: SourceObject | None,
    digest: SourceDigest | None,
    multipart: bool,
) -> Copy | None:
    version = (src.version_id if src else job.resource.version_id) or NULL_VERSION
    for candidate in candidates[:MAX_CANDIDATES]:
        args = object_args(job.account, job.qbucket, job.qkey, candidate["VersionId"])
        head = job.s3.head_object(**args, ChecksumMode="ENABLED")
        meta = head.get("Metadata") or {}
        if meta.get(META_FINDING) != job.finding.key:
            continue
        if src is not None and (meta.get(META_SOURCE_VERSION) != version):
            continue
        checksum = reported(head)
        if (
            src is not None
            and digest is not None
            and not same_bytes(
                source_size=src.size,
                source=src.checksum,
                copy=checksum,
                copy_size=int(head.get("ContentLength", -1)),
                digest=digest,
                multipart=multipart,
            )
        ):
            continue
        return Copy(
            job.qbucket,
            job.qkey,
            candidate["VersionId"],
            checksum,
            "multipart" if multipart else "single",
            resumed=True,
            head=head,
        )
    return None


def source_from_copy(job: Job, head: Mapping[str, Any]) -> SourceObject:
    """The source as far as the copy (its HeadObject) remembers it, once the source is gone."""
    meta = head.get("Metadata") or {}
    algorithm, _, key_id = str(meta.get(META_SOURCE_SSE, "")).partition(" ")
    encryption: dict[str, Any] = {}
    if algorithm and algorithm != "none":
        encryption["ServerSideEncryption"] = algorithm
        if key_id:
            encryption["SSEKMSKeyId"] = key_id
    version = meta.get(META_SOURCE_VERSION)
    checksum = reported(head)
    return SourceObject(
        bucket=job.bucket,
        key=job.key,
        version_id=version if version and version != NULL_VERSION else None,
        etag=job.resource.etag or "",
        size=int(head.get("ContentLength", 0)),
        storage_class=str(meta.get(META_SOURCE_CLASS) or "STANDARD"),
        archive_status=None,
        restore=None,
        checksum=checksum if checksum is not None and not checksum.composite else None,
        tag_count=0,
        content={},
        metadata={},
        encryption=encryption,
        lock=None,
    )
