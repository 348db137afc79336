"""Verify: does the copy hold the source's bytes? If not, it is removed and the source is
left alone. The comparison itself (size and checksum, never the ETag) is in `integrity`;
this step reads the source back when that comparison needs its bytes."""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from remedy.actions.outcome import Outcome
from remedy.actions.s3_quarantine.errors import Stop, explain, failure
from remedy.actions.s3_quarantine.integrity import SourceDigest, same_bytes
from remedy.actions.s3_quarantine.job import Copy, Job, object_args, s3_uri
from remedy.actions.s3_quarantine.locate import SourceObject
from remedy.actions.s3_quarantine.marks import META_FINDING
from remedy.ledger.base import State

STREAM_CHUNK = 1024**2


def source_digest(
    job: Job, bucket: str, key: str, version_id: str | None, etag: str, size: int
) -> SourceDigest:
    """SHA-256 of the bytes of one object version (read only if a comparison needs them),
    over the parts s3transfer would copy it in."""
    # The part size s3transfer will use for this object, so the composite checksum
    # computed here has the same part boundaries as the copy's.
    part_size = int(ChunksizeAdjuster().adjust_chunksize(job.transfer.multipart_chunksize, size))
    return SourceDigest(lambda: _stream(job, bucket, key, version_id, etag), part_size)


def _stream(job: Job, bucket: str, key: str, version_id: str | None, etag: str) -> Iterable[bytes]:
    """The bytes of one object version, pinned by its ETag, in chunks."""
    kwargs = object_args(job.account, bucket, key, version_id, IfMatch=etag)
    body = job.s3.get_object(**kwargs)["Body"]
    try:
        yield from body.iter_chunks(STREAM_CHUNK)
    finally:
        body.close()


def verify_copy(
    job: Job, src: SourceObject, copy: Copy, digest: SourceDigest, multipart: bool
) -> None:
    """Return if `copy` is this finding's copy of `src`'s bytes; else remove it and stop."""
    target = s3_uri(copy.bucket, copy.key)
    copy_size = None
    if copy.head is not None:
        if (copy.head.get("Metadata") or {}).get(META_FINDING) != job.finding.key:
            raise Stop(
                Outcome(
                    State.FAILED,
                    f"another copy landed at {target} while {job.where} was being copied; "
                    "the source is untouched and the next attempt will check again",
                )
            )
        copy_size = int(copy.head.get("ContentLength", -1))
    try:
        verified = same_bytes(
            source_size=src.size,
            source=src.checksum,
            copy=copy.checksum,
            copy_size=copy_size,
            digest=digest,
            multipart=multipart,
        )
    except ClientError as error:
        # The source could not be read back to hash it (changed, or refused): an
        # unverified copy is not kept, and the source is not touched.
        _discard(job, copy.version_id)
        raise Stop(failure(error, "read back, to verify the copy,", job.where)) from None
    if not verified:
        _discard(job, copy.version_id)
        raise Stop(
            Outcome(
                State.FAILED,
                f"the copy of {job.where} at {target} did not verify (copy checksum "
                f"{copy.checksum.to_dict() if copy.checksum else 'missing'}, source "
                f"{src.checksum.to_dict() if src.checksum else 'computed'}); the copy was "
                "removed, the source is untouched, and the next attempt copies again",
                {"source": src.to_dict()},
            )
        )


def _discard(job: Job, version: str | None) -> None:
    if not version:
        return
    try:
        job.s3.delete_object(**object_args(job.account, job.qbucket, job.qkey, version))
    except ClientError as error:
        job.notes.append(f"the unverified copy could not be removed: {explain(error)}")
