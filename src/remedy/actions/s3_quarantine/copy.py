"""Copy: the source version into its account's quarantine bucket, re-encrypted with the
quarantine KMS key, with its metadata, content headers and tags plus origin tags.

Up to 5 GiB, one CopyObject; above, s3transfer's multipart copy, pinned to the size and
ETag already read. Either way the copy is asked for the checksum `verify` compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.exceptions import S3CopyFailedError
from s3transfer.subscribers import BaseSubscriber

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.actions.s3_quarantine.errors import Stop, failure
from remedy.actions.s3_quarantine.integrity import Checksum, copy_algorithm, reported
from remedy.actions.s3_quarantine.job import Copy, Job, object_args, s3_uri
from remedy.actions.s3_quarantine.locate import SourceObject
from remedy.actions.s3_quarantine.marks import (
    MAX_TAGS,
    META_FINDING,
    META_SOURCE_CLASS,
    META_SOURCE_SSE,
    META_SOURCE_VERSION,
    NULL_VERSION,
    TAG_FINDING,
    TAG_QUARANTINED_AT,
    TAG_SOURCE_BUCKET,
    TAG_SOURCE_KEY,
    TAG_SOURCE_VERSION,
    tag_value,
)
from remedy.ledger.base import State

GIB = 1024**3
#: CopyObject copies up to 5 GiB in one atomic request; above, s3transfer copies parts.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=5 * GIB, multipart_chunksize=256 * 1024**2, max_concurrency=10
)


class _KnownObject(BaseSubscriber):
    """Tells s3transfer the size and ETag remedy already read, so it does not send its
    own HeadObject, and pins every part copy to that ETag (CopySourceIfMatch)."""

    def __init__(self, size: int, etag: str) -> None:
        self.size = size
        self.etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(self.etag)


def origin_tags(job: Job, src: SourceObject) -> tuple[list[tuple[str, str]], list[str]]:
    """The source's tags plus the origin tags that fit in S3's limit of 10.

    The source's own tags always win: they are the owner's data. Origin tags are added
    in order of use (finding key first) while there is room; those left out are named
    in the outcome, and the ledger entry holds every origin fact anyway. A source that
    already has 10 tags gets no origin tags; the copy's metadata still names the
    finding (``x-amz-meta-remedy-finding``).
    """
    tags: dict[str, str] = {}
    if src.tag_count:
        kwargs = object_args(job.account, src.bucket, src.key, src.version_id)
        try:
            response = job.s3.get_object_tagging(**kwargs)
        except ClientError as error:
            raise Stop(failure(error, "read the tags of", job.where)) from None
        tags = {t["Key"]: t["Value"] for t in response.get("TagSet", [])}
    origin = (
        (TAG_FINDING, tag_value(job.finding.key)),
        (TAG_SOURCE_VERSION, tag_value(src.version_id or NULL_VERSION)),
        (TAG_SOURCE_BUCKET, tag_value(src.bucket)),
        (TAG_SOURCE_KEY, tag_value(src.key)),
        (TAG_QUARANTINED_AT, job.now()),
    )
    dropped = []
    for name, value in origin:
        if name in tags or len(tags) < MAX_TAGS:
            tags[name] = value
        else:
            dropped.append(name)
    return list(tags.items()), dropped


def copy_to_quarantine(job: Job, src: SourceObject, multipart: bool) -> Copy:
    """Copy `src` to the quarantine bucket; not yet verified."""
    tags, dropped = origin_tags(job, src)
    algorithm = copy_algorithm(src.checksum, multipart=multipart)
    extra: dict[str, Any] = {
        **src.content,
        "MetadataDirective": "REPLACE",
        "Metadata": {
            **src.metadata,
            META_FINDING: job.finding.key,
            META_SOURCE_VERSION: src.version_id or NULL_VERSION,
            META_SOURCE_SSE: " ".join(
                str(src.encryption[name])
                for name in ("ServerSideEncryption", "SSEKMSKeyId")
                if src.encryption.get(name)
            )
            or "none",
            META_SOURCE_CLASS: src.storage_class,
        },
        "TaggingDirective": "REPLACE",
        "Tagging": urlencode(tags, quote_via=quote),
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": job.kms_key,
        "ChecksumAlgorithm": algorithm,
        # Pins the bytes read by HeadObject: a source overwritten since is not copied.
        "CopySourceIfMatch": src.etag,
        "ExpectedBucketOwner": job.account,
    }
    copy_source: dict[str, str] = {"Bucket": src.bucket, "Key": src.key}
    if src.version_id:
        copy_source["VersionId"] = src.version_id
    try:
        version, checksum, head = copy_within(
            job.s3,
            job.account,
            job.transfer,
            copy_source,
            job.qbucket,
            job.qkey,
            extra,
            size=src.size,
            etag=src.etag,
            multipart=multipart,
        )
    except S3CopyFailedError as error:
        raise Stop(
            Outcome(
                State.CHANGED,
                f"{job.where} changed while it was being copied ({error}); the source is "
                "untouched. If the new content is sensitive too, a new finding will "
                "report it",
                {"source": src.to_dict()},
            )
        ) from None
    except ClientError as error:
        raise Stop(_copy_error(error, job, src, s3_uri(job.qbucket, job.qkey))) from None
    return Copy(
        job.qbucket,
        job.qkey,
        version,
        checksum,
        "multipart" if multipart else "single",
        tuple(dropped),
        head=head,
    )


def copy_within(
    s3: Any,
    account: str,
    transfer: TransferConfig,
    copy_source: Mapping[str, str],
    bucket: str,
    key: str,
    extra: Mapping[str, Any],
    *,
    size: int,
    etag: str,
    multipart: bool,
) -> tuple[str | None, Checksum | None, Mapping[str, Any] | None]:
    """Copy one object version to `bucket`/`key` in the same account: the new version
    id, its checksum and, for a multipart copy (s3transfer's parts, pinned to the
    `size` and `etag` already read), the HeadObject of the result that told them."""
    if not multipart:
        response = s3.copy_object(
            CopySource=copy_source,
            Bucket=bucket,
            Key=key,
            ExpectedSourceBucketOwner=account,
            **extra,
        )
        return response.get("VersionId"), reported(response.get("CopyObjectResult") or {}), None
    _pin_transfer_calls(s3, account)
    with create_transfer_manager(s3, transfer) as manager:
        manager.copy(
            copy_source=copy_source,
            bucket=bucket,
            key=key,
            extra_args=extra,
            subscribers=[_KnownObject(size, etag)],
            source_client=s3,
        ).result()
    head = s3.head_object(**object_args(account, bucket, key, None, ChecksumMode="ENABLED"))
    return head.get("VersionId"), reported(head), head


#: The calls of s3transfer's multipart copy that it sends without the owner pins, whatever
#: `extra_args` say: UploadPartCopy (the source's owner) and the AbortMultipartUpload of its
#: clean-up after a failed part.
_TRANSFER_PINS = {
    "UploadPartCopy": ("ExpectedBucketOwner", "ExpectedSourceBucketOwner"),
    "AbortMultipartUpload": ("ExpectedBucketOwner",),
}


def _pin_transfer_calls(s3: Any, account: str) -> None:
    """Make the member client pin `account` on the calls s3transfer makes unpinned, so a
    bucket of another account is never read or written even by a multipart copy. A member
    client belongs to one account, so registering once per client (unique_id) is enough."""
    for operation, names in _TRANSFER_PINS.items():

        def pin(params: dict[str, Any], names: tuple[str, ...] = names, **_: Any) -> None:
            for name in names:
                params.setdefault(name, account)

        s3.meta.events.register(
            f"provide-client-params.s3.{operation}", pin, unique_id=f"remedy-pin-{operation}"
        )


def _copy_error(error: ClientError, job: Job, src: SourceObject, target: str) -> Outcome:
    code = aws_errors.code(error)
    attrs = {"source": src.to_dict()}
    if code == "NoSuchBucket":
        return Outcome(
            State.FAILED,
            f"the quarantine bucket {job.qbucket} does not exist: deploy the member stack "
            f"in account {job.account}, region {job.region}; {job.where} is untouched",
            attrs,
        )
    if code in ("InvalidObjectState", "ObjectNotInActiveTierError"):
        return Outcome(
            State.ARCHIVED,
            f"{job.where} is archived and must be restored before it can be copied; nothing moved",
            attrs,
        )
    if code == "PreconditionFailed":
        return Outcome(
            State.CHANGED,
            f"{job.where} changed between the check and the copy; nothing moved. If the "
            "new content is sensitive too, a new finding will report it",
            attrs,
        )
    return failure(error, f"copy to {target}", job.where, attrs)


def ledger_attrs(job: Job, src: SourceObject, copy: Copy) -> dict[str, Any]:
    """What the ledger entry records of a copy: where it is, of what, how it was made."""
    attrs: dict[str, Any] = {
        "destination": copy.destination(job.account, job.region, job.kms_key),
        "source": src.to_dict(),
        "checksum": copy.checksum.to_dict() if copy.checksum else None,
        "copy": copy.method,
    }
    if copy.origin_tags_dropped:
        attrs["origin_tags_dropped"] = list(copy.origin_tags_dropped)
    if copy.resumed:
        attrs["resumed"] = True
    return attrs
