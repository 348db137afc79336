"""Release: put a quarantined object back at its old key, with its own encryption, storage
class, metadata and tags, and only then remove the quarantine copy (and the tombstone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from remedy.actions import aws_errors
from remedy.actions.reversible import ActionFailed, Undo
from remedy.actions.s3_quarantine.copy import copy_within
from remedy.actions.s3_quarantine.errors import explain, missing
from remedy.actions.s3_quarantine.integrity import copy_algorithm, reported
from remedy.actions.s3_quarantine.job import etag, object_args, s3_uri
from remedy.actions.s3_quarantine.locate import ARCHIVE_CLASSES, CONTENT_FIELDS
from remedy.actions.s3_quarantine.marks import META_PREFIX, TAG_PREFIX, is_tombstone
from remedy.actions.session import AccountSessions
from remedy.ledger.base import State
from remedy.model import Finding


class ReleaseRefused(ActionFailed):
    """A release that would overwrite or hide something, or does not verify; the ledger
    is unchanged and nothing is lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(State.FAILED, reason)


def put_back(
    sessions: AccountSessions,
    transfer: TransferConfig,
    finding: Finding,
    attrs: Mapping[str, Any],
) -> Undo:
    """Put the quarantined object(s) of a ledger entry back where they were (see
    `S3Quarantine.release`)."""
    items = attrs.get("objects") or [attrs]
    done = []
    for item in items:
        try:
            done.append(_put_back_one(sessions, transfer, finding, item))
        except ClientError as error:
            raise aws_errors.failed(
                error,
                account=finding.account,
                doing="release: putting the object back",
                service="s3",
            ) from None
    where = ", ".join(
        s3_uri(d["restored"]["bucket"], d["restored"]["key"], d["restored"]["version_id"])
        for d in done
    )
    notes = [note for d in done for note in d["notes"]]
    reason = "; ".join([f"put back at {where}", *notes])
    return Undo(reason, done[0] if len(done) == 1 else {"objects": done})


def _put_back_one(
    sessions: AccountSessions,
    transfer: TransferConfig,
    finding: Finding,
    item: Mapping[str, Any],
) -> dict[str, Any]:
    dest = item.get("destination")
    source = item.get("source")
    if not isinstance(dest, Mapping) or not isinstance(source, Mapping):
        raise ReleaseRefused(
            "the ledger entry does not say where the object went (attrs.destination); "
            "nothing to release"
        )
    account = str(dest.get("account") or finding.account)
    region = str(dest.get("region") or finding.region)
    s3 = sessions.client("s3", account, region, finding_key=finding.key)
    bucket, key = str(source["bucket"]), str(source["key"])
    qbucket, qkey, qversion = str(dest["bucket"]), str(dest["key"]), dest.get("version_id")
    versioned = source.get("version_id") is not None
    back = s3_uri(bucket, key)
    qargs = object_args(account, qbucket, qkey, qversion)
    qhead = s3.head_object(**qargs, ChecksumMode="ENABLED")
    tags: list[tuple[str, str]] = []
    if qhead.get("TagCount"):
        tags = [
            (t["Key"], t["Value"])
            for t in s3.get_object_tagging(**qargs).get("TagSet", [])
            if not t["Key"].startswith(TAG_PREFIX)
        ]
    try:
        current: Mapping[str, Any] | None = s3.head_object(
            **object_args(account, bucket, key, None)
        )
    except ClientError as error:
        if not missing(error):
            raise
        current = None
    tombstone = current is not None and is_tombstone(current.get("Metadata"), finding.key)
    if current is not None and not tombstone:
        raise ReleaseRefused(
            f"{back} now holds another object (ETag {etag(current.get('ETag'))}); "
            "putting the quarantined one back would overwrite or hide it. Move that "
            "object away first, then release again; nothing was changed"
        )
    size = int(qhead.get("ContentLength", 0))
    multipart = size >= transfer.multipart_threshold
    stored = reported(qhead)
    algorithm = stored.algorithm if stored is not None else copy_algorithm(None, multipart=True)
    extra: dict[str, Any] = {
        **{name: qhead[name] for name in CONTENT_FIELDS if qhead.get(name)},
        "MetadataDirective": "REPLACE",
        "Metadata": {
            k: v for k, v in (qhead.get("Metadata") or {}).items() if not k.startswith(META_PREFIX)
        },
        "TaggingDirective": "REPLACE",
        "Tagging": urlencode(tags, quote_via=quote),
        "ChecksumAlgorithm": algorithm,
        "ExpectedBucketOwner": account,
        **_original_encryption(source.get("encryption") or {}),
    }
    storage_class = source.get("storage_class")
    if storage_class and storage_class != "STANDARD" and storage_class not in ARCHIVE_CLASSES:
        extra["StorageClass"] = storage_class
    copy_source = {"Bucket": qbucket, "Key": qkey}
    if qversion:
        copy_source["VersionId"] = str(qversion)
    restored_version, restored, _ = copy_within(
        s3,
        account,
        transfer,
        copy_source,
        bucket,
        key,
        extra,
        size=size,
        etag=str(qhead["ETag"]),
        multipart=multipart,
    )
    if stored is None or restored is None or restored.value != stored.value:
        raise ReleaseRefused(
            f"the object put back at {back} did not verify against the quarantine copy "
            f"({restored} vs {stored}); the quarantine copy is kept and the ledger is "
            "unchanged: inspect both, then release again"
        )
    notes = []
    tombstone_removed = False
    if tombstone and versioned and current is not None and current.get("VersionId"):
        s3.delete_object(**object_args(account, bucket, key, current["VersionId"]))
        tombstone_removed = True
    elif tombstone:
        tombstone_removed = True  # overwritten by the object itself
    removed = True
    try:
        s3.delete_object(**qargs)
    except ClientError as error:
        removed = False
        notes.append(f"the quarantine copy stays ({explain(error)})")
    return {
        "restored": {"bucket": bucket, "key": key, "version_id": restored_version},
        "tombstone_removed": tombstone_removed,
        "quarantine_copy_removed": removed,
        "notes": notes,
    }


def _original_encryption(encryption: Mapping[str, Any]) -> dict[str, Any]:
    """The copy arguments that re-create the source's own encryption, where S3 allows it
    (SSE-C cannot be: remedy never had the customer's key, nor did it copy such objects)."""
    algorithm = encryption.get("ServerSideEncryption")
    if algorithm in ("aws:kms", "aws:kms:dsse"):
        out: dict[str, Any] = {"ServerSideEncryption": algorithm}
        if encryption.get("SSEKMSKeyId"):
            out["SSEKMSKeyId"] = encryption["SSEKMSKeyId"]
        return out
    if algorithm == "AES256":
        return {"ServerSideEncryption": "AES256"}
    return {}
