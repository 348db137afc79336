"""Delete the source, once its copy is verified, and account for what remains at its key:
other versions (with ``purge_versions``, those holding the same bytes are deleted too) and,
with ``tombstone``, a note saying where the object went."""

from __future__ import annotations

from datetime import datetime
from string import Template
from typing import Any

from botocore.exceptions import ClientError

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.actions.s3_quarantine.errors import Stop, denied, explain, missing
from remedy.actions.s3_quarantine.integrity import SourceDigest, reported, same_bytes
from remedy.actions.s3_quarantine.job import Copy, Job, etag, object_args, s3_uri
from remedy.actions.s3_quarantine.locate import SourceObject, lock
from remedy.actions.s3_quarantine.marks import META_TOMBSTONE, is_tombstone
from remedy.ledger.base import State

DEFAULT_TOMBSTONE = (
    "This object was moved to quarantine by remedy at $time: a $product finding ($type, "
    "ledger key $finding) reported sensitive data in it. It is kept, encrypted, at "
    "s3://$quarantine. If this is a false positive, ask your security team to run "
    "`remedy release $finding`; it will be put back here.\n"
)


def delete_source(job: Job, src: SourceObject, copy: Copy, attrs: dict[str, Any]) -> None:
    """Delete exactly the version that was copied; stop with CHANGED, DENIED or FAILED
    (the copy kept) if S3 will not."""
    kwargs = object_args(job.account, src.bucket, src.key, src.version_id)
    if not src.version_id:
        # Unversioned: delete only the object that was copied, never one written since.
        kwargs["IfMatch"] = src.etag
    try:
        job.s3.delete_object(**kwargs)
    except ClientError as error:
        if missing(error):
            return
        if aws_errors.code(error) == "PreconditionFailed":
            raise Stop(
                Outcome(
                    State.CHANGED,
                    f"{copy.kept}; {job.where} was overwritten after it was copied, so the new "
                    "object was left in place. If it is sensitive too, a new finding will "
                    "report it",
                    attrs,
                )
            ) from None
        if denied(error):
            raise Stop(
                Outcome(
                    State.DENIED,
                    f"{copy.kept}; could not delete {job.where} ({explain(error)}), so it is "
                    "still there. Check the remediation role's s3:DeleteObject* grant, "
                    "the bucket policy and Object Lock settings",
                    attrs,
                )
            ) from None
        raise Stop(
            Outcome(
                State.FAILED,
                f"{copy.kept}; could not delete {job.where} ({explain(error)}); the next "
                "attempt finishes the move",
                attrs,
            )
        ) from None


def finish(
    job: Job,
    src: SourceObject,
    copy: Copy,
    attrs: dict[str, Any],
    digest: SourceDigest,
) -> Outcome:
    """QUARANTINED, with the versions left behind and the tombstone (best effort: the
    object is already quarantined)."""
    target = s3_uri(copy.bucket, copy.key, copy.version_id)
    if copy.resumed:
        parts = [f"moved {job.where} to {target}, finishing an attempt that was cut short"]
    else:
        verified = f"{copy.checksum.algorithm} checksum" if copy.checksum else "checksum"
        parts = [f"moved {job.where} to {target}, {verified} verified"]
    if src.version_id is not None:
        parts.append(_versions(job, src, attrs, digest))
    if job.options.get("tombstone"):
        attrs["tombstone"] = _tombstone(job, copy)
        if attrs["tombstone"]:
            parts.append("a tombstone at the source key says where it went")
    if copy.origin_tags_dropped:
        parts.append(
            "the source had too many tags for all origin tags; left out: "
            + ", ".join(copy.origin_tags_dropped)
        )
    parts.extend(job.notes)
    return Outcome(State.QUARANTINED, "; ".join(parts), attrs)


def _versions(job: Job, src: SourceObject, attrs: dict[str, Any], digest: SourceDigest) -> str:
    """Which versions of the key remain (and, with purge_versions, delete those with
    the quarantined content). Best effort: the object is already quarantined."""
    try:
        listing = job.s3.list_object_versions(
            Bucket=src.bucket, Prefix=src.key, ExpectedBucketOwner=job.account
        )
    except ClientError as error:
        return f"could not list the versions left behind ({explain(error)})"
    versions = [v for v in listing.get("Versions", []) if v.get("Key") == src.key]
    purged: list[str] = []
    if job.options.get("purge_versions"):
        for version in versions:
            if int(version.get("Size", -1)) == src.size and _purge_if_same(
                job, src, version["VersionId"], digest
            ):
                purged.append(version["VersionId"])
    remaining = [v for v in versions if v["VersionId"] not in purged]
    attrs["versions_remaining"] = [
        {
            "version_id": v["VersionId"],
            "size": v.get("Size"),
            "last_modified": v["LastModified"].isoformat()
            if isinstance(v.get("LastModified"), datetime)
            else v.get("LastModified"),
            "latest": bool(v.get("IsLatest")),
        }
        for v in remaining
    ]
    if purged:
        attrs["versions_purged"] = purged
    said = []
    if purged:
        said.append(f"purged {len(purged)} older version(s) with the same content")
    if remaining:
        ids = ", ".join(v["VersionId"] for v in remaining)
        said.append(
            f"{len(remaining)} other version(s) of the key remain in the bucket ({ids}); "
            "review them, or use purge_versions for copies of the same content"
        )
    else:
        said.append("no other version of the key remains")
    return "; ".join(said)


def _purge_if_same(job: Job, src: SourceObject, version_id: str, digest: SourceDigest) -> bool:
    """Delete `version_id` if it holds the quarantined bytes; True if it was deleted."""
    args = object_args(job.account, src.bucket, src.key, version_id)
    try:
        head = job.s3.head_object(**args, ChecksumMode="ENABLED")
        if lock(head) is not None or not same_bytes(
            source_size=src.size,
            source=src.checksum,
            copy=reported(head),
            copy_size=int(head.get("ContentLength", -1)),
            digest=digest,
            multipart=False,
        ):
            return False
        job.s3.delete_object(**args)
    except ClientError as error:
        job.notes.append(f"version {version_id} not purged: {explain(error)}")
        return False
    return True


def _tombstone(job: Job, copy: Copy) -> dict[str, Any]:
    """Leave (or find) the note at the source key; {} if it could not be written."""
    try:
        current = job.s3.head_object(**object_args(job.account, job.bucket, job.key, None))
    except ClientError as error:
        if not missing(error):
            job.notes.append(f"tombstone not written: {explain(error)}")
            return {}
        current = None
    if current is not None:
        if is_tombstone(current.get("Metadata"), job.finding.key):
            return {"version_id": current.get("VersionId"), "etag": etag(current["ETag"])}
        job.notes.append(
            "tombstone not written: another object or version is current at the source key"
        )
        return {}
    text = Template(str(job.options.get("tombstone_text") or DEFAULT_TOMBSTONE))
    body = text.safe_substitute(
        time=job.now(),
        product=job.finding.product,
        type=job.finding.type,
        finding=job.finding.key,
        quarantine=f"{copy.bucket}/{copy.key}",
    )
    kwargs: dict[str, Any] = {
        "Bucket": job.bucket,
        "Key": job.key,
        "Body": body.encode("utf-8"),
        "ContentType": "text/plain; charset=utf-8",
        "Metadata": {META_TOMBSTONE: job.finding.key},
        "ExpectedBucketOwner": job.account,
        # Never overwrite (or, versioned, hide) an object written since the delete.
        "IfNoneMatch": "*",
    }
    try:
        response = job.s3.put_object(**kwargs)
    except ClientError as error:
        job.notes.append(f"tombstone not written: {explain(error)}")
        return {}
    return {"version_id": response.get("VersionId"), "etag": etag(response.get("ETag"))}
