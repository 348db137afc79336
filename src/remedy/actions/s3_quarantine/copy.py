"""Quarantine an S3 object inside the account that owns it, and put it back on release.

The object a finding names is copied into that account's quarantine bucket (same region)
under ``<source-bucket>/<key>``, re-encrypted with the quarantine KMS key, with its
metadata, content headers and tags, plus origin tags. Only when the copy is verified (size
and checksum, see `remedy.actions.s3_quarantine.integrity`) is the source version deleted. A crash
at any point leaves the object in the source, in the quarantine bucket, or both; a rerun
with ``resume=True`` finds the copy an earlier attempt made and finishes.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from string import Template
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.exceptions import S3CopyFailedError
from s3transfer.subscribers import BaseSubscriber
from s3transfer.utils import ChunksizeAdjuster

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome, combine
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.actions.s3_quarantine.integrity import (
    Checksum,
    SourceDigest,
    copy_algorithm,
    reported,
    same_bytes,
)
from remedy.actions.session import AccountSessions, AssumeRoleFailed
from remedy.ledger.base import State
from remedy.model import Finding, Resource, ResourceKind
from remedy.settings import Settings

#: Object tags remedy adds to the copy, in the order they are kept when the source's own
#: tags leave less room than S3's 10-tag limit.
TAG_FINDING = "remedy:finding"
TAG_SOURCE_VERSION = "remedy:source-version"
TAG_SOURCE_BUCKET = "remedy:source-bucket"
TAG_SOURCE_KEY = "remedy:source-key"
TAG_QUARANTINED_AT = "remedy:quarantined-at"
TAG_PREFIX = "remedy:"
MAX_TAGS = 10
MAX_TAG_VALUE = 256
#: User metadata remedy adds to the copy (``x-amz-meta-...``): how a rerun recognises the
#: copy an earlier attempt made, whatever room the tags had. Removed again on release.
META_FINDING = "remedy-finding"
META_SOURCE_VERSION = "remedy-source-version"
#: The source's encryption and storage class, so a release can restore them even when the
#: ledger entry was completed by a rerun that no longer saw the source.
META_SOURCE_SSE = "remedy-source-sse"
META_SOURCE_CLASS = "remedy-source-class"
META_TOMBSTONE = "remedy-tombstone"
META_PREFIX = "remedy-"
NULL_VERSION = "null"
MAX_KEY_BYTES = 1024
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
#: How many versions of a quarantine key a rerun inspects for its own earlier copy.
MAX_CANDIDATES = 20
GIB = 1024**3
#: CopyObject copies up to 5 GiB in one atomic request; above, s3transfer copies parts.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=5 * GIB, multipart_chunksize=256 * 1024**2, max_concurrency=10
)
STREAM_CHUNK = 1024**2

DEFAULT_TOMBSTONE = (
    "This object was moved to quarantine by remedy at $time: a $product finding ($type, "
    "ledger key $finding) reported sensitive data in it. It is kept, encrypted, at "
    "s3://$quarantine. If this is a false positive, ask your security team to run "
    "`remedy release $finding`; it will be put back here.\n"
)


class ReleaseRefused(ActionFailed):
    """A release that would overwrite or hide something, or does not verify; the ledger
    is unchanged and nothing is lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(State.FAILED, reason)


class _Stop(Exception):
    """Ends one object's attempt early with the outcome that says why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def s3_uri(bucket: str, key: str, version_id: str | None = None) -> str:
    uri = f"s3://{bucket}/{key}"
    return f"{uri} (version {version_id})" if version_id else uri


def quarantine_key(bucket: str, key: str) -> str:
    """``<source-bucket>/<key>``; keys too long for that get a digest of the key instead
    (the ledger and the origin tags keep the real key)."""
    wanted = f"{bucket}/{key}"
    if len(wanted.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES:
        return wanted
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{bucket}/.remedy-long-keys/{digest}"


def _tag_char_ok(char: str) -> bool:
    # S3 tag values: letters, numbers and spaces in any script, and _ . : / = + - @
    return unicodedata.category(char)[0] in "LNZ" or char in "_.:/=+-@"


def tag_value(text: str) -> str:
    """`text` as an S3 tag value: as is when S3 accepts it; else ``b64:`` + its base64
    (every base64 character is allowed); if still over 256 characters, ``sha256:`` + its
    digest. The exact value is always in the ledger entry."""
    if len(text) <= MAX_TAG_VALUE and all(_tag_char_ok(c) for c in text):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    encoded = "b64:" + base64.b64encode(raw).decode()
    if len(encoded) <= MAX_TAG_VALUE:
        return encoded
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _denied(error: ClientError) -> bool:
    return (
        _status(error) == 403
        or aws_errors.code(error) in ("AccessDenied", "AllAccessDisabled")
        or (aws_errors.code(error).startswith("KMS."))
    )


def _missing(error: ClientError) -> bool:
    # HEAD answers bare status codes; 405 is a version that is a delete marker.
    return _status(error) in (404, 405) or aws_errors.code(error) in ("NoSuchKey", "NoSuchVersion")


def _object_args(
    owner: str, bucket: str, key: str, version_id: str | None, **extra: Any
) -> dict[str, Any]:
    """The request fields naming one object (version) in a bucket `owner` must own."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ExpectedBucketOwner": owner, **extra}
    if version_id:
        kwargs["VersionId"] = version_id
    return kwargs


def _is_tombstone(metadata: Mapping[str, str] | None, finding_key: str) -> bool:
    """Is the object with this user metadata the note remedy left for `finding_key`?"""
    return (metadata or {}).get(META_TOMBSTONE) == finding_key


def _explain(error: ClientError) -> str:
    message = aws_errors.message(error)
    return f"{aws_errors.code(error)}: {message}" if message else aws_errors.code(error)


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
            lock=_lock(head),
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
            "etag": _etag(self.etag),
            "size": self.size,
            "storage_class": self.storage_class,
            "encryption": self.encryption,
        }


def _lock(head: Mapping[str, Any]) -> str | None:
    """Why Object Lock keeps this version, if it does (HeadObject reports it when the
    role may read retention and legal hold)."""
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return "a legal hold is on"
    until = head.get("ObjectLockRetainUntilDate")
    if isinstance(until, datetime) and until > datetime.now(UTC):
        mode = head.get("ObjectLockMode", "")
        return f"{mode} retention until {until.astimezone(UTC).isoformat()}".strip()
    return None


@dataclass(frozen=True, slots=True)
class _Copy:
    bucket: str
    key: str
    version_id: str | None
    checksum: Checksum | None
    method: str
    origin_tags_dropped: tuple[str, ...] = ()
    resumed: bool = False
    #: HeadObject of the copy, when a rerun found it.
    head: Mapping[str, Any] | None = field(default=None, compare=False)

    def destination(self, account: str, region: str, kms_key: str) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "account": account,
            "region": region,
            "kms_key": kms_key,
        }


@dataclass(slots=True)
class _Job:
    """One object of one finding, and where its copy goes."""

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
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return s3_uri(self.bucket, self.key, self.resource.version_id)


class _KnownObject(BaseSubscriber):
    """Tells s3transfer the size and ETag remedy already read, so it does not send its
    own HeadObject, and pins every part copy to that ETag (CopySourceIfMatch)."""

    def __init__(self, size: int, etag: str) -> None:
        self.size = size
        self.etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(self.etag)


@register("s3-quarantine")
class S3Quarantine(ReversibleAction):
    """Move the S3 object a finding names into its own account's quarantine bucket.

    The copy lands in ``<prefix>-quarantine-<account>-<region>`` under
    ``<source-bucket>/<key>``, encrypted with the quarantine KMS key, with the source's
    metadata, content headers and tags and origin tags ``remedy:*``. The source version is
    deleted only after the copy's size and checksum are verified. Outcomes: QUARANTINED,
    GONE, CHANGED, LOCKED, ARCHIVED, DENIED, FAILED (see README "Quarantine and the ledger").

    Example policy rule (``policies/remediation.yaml``)::

        rules:
          - id: quarantine-credentials
            match:
              product: [Macie]
              type: ["SensitiveData:S3Object/Credentials"]
            action: quarantine
            remediation: s3-quarantine
            options:
              purge_versions: true   # also delete older versions with the same content
              tombstone: true        # leave a note at the source key saying where it went
    """

    schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "purge_versions": {
                "type": "boolean",
                "default": False,
                "description": "Also delete older versions of the key whose content is the "
                "same (same size and checksum) as the quarantined version.",
            },
            "tombstone": {
                "type": "boolean",
                "default": False,
                "description": "Leave a small text object at the source key saying where "
                "the object went and why.",
            },
            "tombstone_text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4000,
                "description": "The tombstone's text; $time, $product, $type, $finding and "
                "$quarantine are replaced.",
            },
        },
    }
    #: Exactly the IAM actions the calls below need in the member account.
    permissions: ClassVar[frozenset[str]] = frozenset(
        {
            # HeadObject / GetObject / CopySource of the current object (unversioned).
            "s3:GetObject",
            # ... of a named version.
            "s3:GetObjectVersion",
            # GetObjectTagging of the source (and the copy, on release).
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging",
            # So HeadObject reports Object Lock retention and legal hold (LOCKED).
            "s3:GetObjectRetention",
            "s3:GetObjectLegalHold",
            # So a missing object is 404 (GONE) rather than 403 (DENIED).
            "s3:ListBucket",
            # ListObjectVersions: versions left behind, purge_versions, a rerun's lookup.
            "s3:ListBucketVersions",
            # CopyObject / multipart copy into quarantine, the tombstone, release.
            "s3:PutObject",
            # Tags on CopyObject; s3transfer tags a multipart copy's version afterwards.
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            # s3transfer aborts a multipart copy that failed.
            "s3:AbortMultipartUpload",
            # DeleteObject of an unversioned source; of a version (source, purge,
            # tombstone and quarantine copy on release).
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            # S3 calls KMS for the caller: reading SSE-KMS sources and the quarantine copy,
            # writing the copy (and multipart parts) with the quarantine key.
            "kms:Decrypt",
            "kms:GenerateDataKey",
        }
    )
    resource_kinds: ClassVar[frozenset[str]] = frozenset({ResourceKind.S3_OBJECT.value})

    def __init__(
        self,
        sessions: AccountSessions,
        settings: Settings,
        *,
        transfer: TransferConfig = DEFAULT_TRANSFER,
        clock: Any = None,
    ) -> None:
        super().__init__(sessions, settings)
        self.transfer = transfer
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> str:
        return f"{self.clock().astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"

    # -- the action ------------------------------------------------------------------------

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        objects = [r for r in finding.s3_objects if r.bucket and r.key]
        if not objects:
            return Outcome(
                State.FAILED,
                "the finding names no S3 object, so s3-quarantine has nothing to move; "
                "point the policy rule for this finding type at another action",
            )
        return combine(self._one(finding, r, options, resume) for r in objects)

    def _one(
        self, finding: Finding, resource: Resource, options: Mapping[str, Any], resume: bool
    ) -> Outcome:
        assert resource.bucket is not None and resource.key is not None
        # Act in the account the finding lives in, never the one that delivered it.
        account = finding.account
        region = resource.region or finding.region
        where = s3_uri(resource.bucket, resource.key, resource.version_id)
        try:
            s3 = self.sessions.client("s3", account, region, finding_key=finding.key)
        except AssumeRoleFailed as error:
            state = State.DENIED if error.code == "AccessDenied" else State.FAILED
            return Outcome(state, f"{where}: nothing moved: {error}")
        job = _Job(
            s3=s3,
            finding=finding,
            resource=resource,
            bucket=resource.bucket,
            key=resource.key,
            account=account,
            region=region,
            qbucket=self.settings.quarantine_bucket(account, region),
            qkey=quarantine_key(resource.bucket, resource.key),
            options=options,
        )
        try:
            return self._quarantine(job, resume)
        except _Stop as stop:
            return stop.outcome

    def _quarantine(self, job: _Job, resume: bool) -> Outcome:
        src = self._head_source(job)
        if src is None or _is_tombstone(src.metadata, job.finding.key):
            return self._source_gone(job, resume)
        if (
            job.resource.version_id is None
            and job.resource.etag
            and _etag(src.etag) != _etag(job.resource.etag)
        ):
            return Outcome(
                State.CHANGED,
                f"{job.where} changed after the finding (ETag now {_etag(src.etag)}, the "
                f"finding saw {_etag(job.resource.etag)}); nothing moved. If the new content "
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
        multipart = src.size >= self.transfer.multipart_threshold
        digest = SourceDigest(
            lambda: self._stream(job, src.bucket, src.key, src.version_id, src.etag),
            self._part_size(src.size),
        )
        copy = self._find_copy(job, src, digest, multipart) if resume else None
        if copy is None:
            copy = self._copy(job, src, digest, multipart)
        attrs = self._attrs(job, src, copy)
        kept = f"copy kept at {s3_uri(copy.bucket, copy.key, copy.version_id)}"
        if src.lock is not None:
            return Outcome(
                State.LOCKED,
                f"{kept}; {job.where} left in place because Object Lock protects it "
                f"({src.lock}). Alert: remove the hold or wait for the retention to end, then "
                "delete the source version",
                attrs,
            )
        self._delete_source(job, src, kept, attrs)
        return self._finish(job, src, copy, attrs, digest)

    # -- the source ------------------------------------------------------------------------

    def _head_source(self, job: _Job) -> SourceObject | None:
        kwargs = _object_args(
            job.account, job.bucket, job.key, job.resource.version_id, ChecksumMode="ENABLED"
        )
        try:
            head = job.s3.head_object(**kwargs)
        except ClientError as error:
            if _missing(error):
                return None
            raise _Stop(self._error(error, "read", job.where)) from None
        return SourceObject.from_head(job.bucket, job.key, head)

    def _stream(
        self, job: _Job, bucket: str, key: str, version_id: str | None, etag: str
    ) -> Iterable[bytes]:
        """The bytes of one object version, pinned by its ETag, in chunks."""
        kwargs = _object_args(job.account, bucket, key, version_id, IfMatch=etag)
        body = job.s3.get_object(**kwargs)["Body"]
        try:
            yield from body.iter_chunks(STREAM_CHUNK)
        finally:
            body.close()

    def _part_size(self, size: int) -> int:
        # The part size s3transfer will use for this object, so the composite checksum
        # computed here has the same part boundaries as the copy's.
        return int(ChunksizeAdjuster().adjust_chunksize(self.transfer.multipart_chunksize, size))

    def _source_gone(self, job: _Job, resume: bool) -> Outcome:
        copy = self._find_copy(job, None, None, False) if resume else None
        if copy is None or copy.head is None:
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
        # An earlier attempt copied and deleted, then died before recording it: finish its
        # work (versions, tombstone) from the copy, which holds the source's bytes.
        src = self._source_from_copy(job, copy.head)
        head = copy.head
        digest = SourceDigest(
            lambda: self._stream(job, copy.bucket, copy.key, copy.version_id, head["ETag"]),
            self._part_size(src.size),
        )
        return self._finish(job, src, copy, self._attrs(job, src, copy), digest)

    @staticmethod
    def _source_from_copy(job: _Job, head: Mapping[str, Any]) -> SourceObject:
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

    # -- the copy --------------------------------------------------------------------------

    def _find_copy(
        self,
        job: _Job,
        src: SourceObject | None,
        digest: SourceDigest | None,
        multipart: bool,
    ) -> _Copy | None:
        """A copy an earlier attempt made for this finding and source version, if any
        (and, while the source still exists, if it holds the source's bytes)."""
        try:
            listing = job.s3.list_object_versions(
                Bucket=job.qbucket, Prefix=job.qkey, ExpectedBucketOwner=job.account
            )
        except ClientError as error:
            raise _Stop(self._error(error, "list the quarantine copies of", job.where)) from None
        candidates = [v for v in listing.get("Versions", []) if v.get("Key") == job.qkey]
        try:
            return self._first_own_copy(job, candidates, src, digest, multipart)
        except ClientError as error:
            raise _Stop(self._error(error, "check the quarantine copies of", job.where)) from None

    def _first_own_copy(
        self,
        job: _Job,
        candidates: list[dict[str, Any]],
        src: SourceObject | None,
        digest: SourceDigest | None,
        multipart: bool,
    ) -> _Copy | None:
        version = (src.version_id if src else job.resource.version_id) or NULL_VERSION
        for candidate in candidates[:MAX_CANDIDATES]:
            args = _object_args(job.account, job.qbucket, job.qkey, candidate["VersionId"])
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
            return _Copy(
                job.qbucket,
                job.qkey,
                candidate["VersionId"],
                checksum,
                "multipart" if multipart else "single",
                resumed=True,
                head=head,
            )
        return None

    def _tags(self, job: _Job, src: SourceObject) -> tuple[list[tuple[str, str]], list[str]]:
        """The source's tags plus the origin tags that fit in S3's limit of 10.

        The source's own tags always win: they are the owner's data. Origin tags are added
        in order of use (finding key first) while there is room; those left out are named
        in the outcome, and the ledger entry holds every origin fact anyway. A source that
        already has 10 tags gets no origin tags; the copy's metadata still names the
        finding (``x-amz-meta-remedy-finding``).
        """
        tags: dict[str, str] = {}
        if src.tag_count:
            kwargs = _object_args(job.account, src.bucket, src.key, src.version_id)
            try:
                response = job.s3.get_object_tagging(**kwargs)
            except ClientError as error:
                raise _Stop(self._error(error, "read the tags of", job.where)) from None
            tags = {t["Key"]: t["Value"] for t in response.get("TagSet", [])}
        origin = (
            (TAG_FINDING, tag_value(job.finding.key)),
            (TAG_SOURCE_VERSION, tag_value(src.version_id or NULL_VERSION)),
            (TAG_SOURCE_BUCKET, tag_value(src.bucket)),
            (TAG_SOURCE_KEY, tag_value(src.key)),
            (TAG_QUARANTINED_AT, self._now()),
        )
        dropped = []
        for name, value in origin:
            if name in tags or len(tags) < MAX_TAGS:
                tags[name] = value
            else:
                dropped.append(name)
        return list(tags.items()), dropped

    def _copy(self, job: _Job, src: SourceObject, digest: SourceDigest, multipart: bool) -> _Copy:
        tags, dropped = self._tags(job, src)
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
            "SSEKMSKeyId": self.settings.quarantine_key_alias(),
            "ChecksumAlgorithm": algorithm,
            # Pins the bytes read by HeadObject: a source overwritten since is not copied.
            "CopySourceIfMatch": src.etag,
            "ExpectedBucketOwner": job.account,
        }
        copy_source: dict[str, str] = {"Bucket": src.bucket, "Key": src.key}
        if src.version_id:
            copy_source["VersionId"] = src.version_id
        target = s3_uri(job.qbucket, job.qkey)
        try:
            version, checksum, head = self._copy_within(
                job.s3,
                job.account,
                copy_source,
                job.qbucket,
                job.qkey,
                extra,
                size=src.size,
                etag=src.etag,
                multipart=multipart,
            )
        except S3CopyFailedError as error:
            raise _Stop(
                Outcome(
                    State.CHANGED,
                    f"{job.where} changed while it was being copied ({error}); the source is "
                    "untouched. If the new content is sensitive too, a new finding will "
                    "report it",
                    {"source": src.to_dict()},
                )
            ) from None
        except ClientError as error:
            raise _Stop(self._copy_error(error, job, src, target)) from None
        copy_size = None
        if head is not None:
            if (head.get("Metadata") or {}).get(META_FINDING) != job.finding.key:
                raise _Stop(
                    Outcome(
                        State.FAILED,
                        f"another copy landed at {target} while {job.where} was being copied; "
                        "the source is untouched and the next attempt will check again",
                    )
                )
            copy_size = int(head.get("ContentLength", -1))
        try:
            verified = same_bytes(
                source_size=src.size,
                source=src.checksum,
                copy=checksum,
                copy_size=copy_size,
                digest=digest,
                multipart=multipart,
            )
        except ClientError as error:
            # The source could not be read back to hash it (changed, or refused): an
            # unverified copy is not kept, and the source is not touched.
            self._discard(job, version)
            raise _Stop(self._error(error, "read back, to verify the copy,", job.where)) from None
        if not verified:
            self._discard(job, version)
            raise _Stop(
                Outcome(
                    State.FAILED,
                    f"the copy of {job.where} at {target} did not verify (copy checksum "
                    f"{checksum.to_dict() if checksum else 'missing'}, source "
                    f"{src.checksum.to_dict() if src.checksum else 'computed'}); the copy was "
                    "removed, the source is untouched, and the next attempt copies again",
                    {"source": src.to_dict()},
                )
            )
        return _Copy(
            job.qbucket,
            job.qkey,
            version,
            checksum,
            "multipart" if multipart else "single",
            tuple(dropped),
        )

    def _copy_within(
        self,
        s3: Any,
        account: str,
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
        with create_transfer_manager(s3, self.transfer) as manager:
            manager.copy(
                copy_source=copy_source,
                bucket=bucket,
                key=key,
                extra_args=extra,
                subscribers=[_KnownObject(size, etag)],
                source_client=s3,
            ).result()
        head = s3.head_object(**_object_args(account, bucket, key, None, ChecksumMode="ENABLED"))
        return head.get("VersionId"), reported(head), head

    def _discard(self, job: _Job, version: str | None) -> None:
        if not version:
            return
        try:
            job.s3.delete_object(**_object_args(job.account, job.qbucket, job.qkey, version))
        except ClientError as error:
            job.notes.append(f"the unverified copy could not be removed: {_explain(error)}")

    def _copy_error(self, error: ClientError, job: _Job, src: SourceObject, target: str) -> Outcome:
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
                f"{job.where} is archived and must be restored before it can be copied; "
                "nothing moved",
                attrs,
            )
        if code == "PreconditionFailed":
            return Outcome(
                State.CHANGED,
                f"{job.where} changed between the check and the copy; nothing moved. If the "
                "new content is sensitive too, a new finding will report it",
                attrs,
            )
        return self._error(error, f"copy to {target}", job.where, attrs)

    @staticmethod
    def _error(
        error: ClientError, doing: str, where: str, attrs: dict[str, Any] | None = None
    ) -> Outcome:
        if _denied(error):
            return Outcome(
                State.DENIED,
                f"could not {doing} {where} ({_explain(error)}); nothing lost. Check the "
                "remediation role's policy, the KMS key policies and the bucket policy",
                attrs or {},
            )
        return Outcome(
            State.FAILED,
            f"could not {doing} {where} ({_explain(error)}); nothing lost; will be retried",
            attrs or {},
        )

    # -- after the copy --------------------------------------------------------------------

    def _attrs(self, job: _Job, src: SourceObject, copy: _Copy) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "destination": copy.destination(
                job.account, job.region, self.settings.quarantine_key_alias()
            ),
            "source": src.to_dict(),
            "checksum": copy.checksum.to_dict() if copy.checksum else None,
            "copy": copy.method,
        }
        if copy.origin_tags_dropped:
            attrs["origin_tags_dropped"] = list(copy.origin_tags_dropped)
        if copy.resumed:
            attrs["resumed"] = True
        return attrs

    def _delete_source(
        self, job: _Job, src: SourceObject, kept: str, attrs: dict[str, Any]
    ) -> None:
        kwargs = _object_args(job.account, src.bucket, src.key, src.version_id)
        if not src.version_id:
            # Unversioned: delete only the object that was copied, never one written since.
            kwargs["IfMatch"] = src.etag
        try:
            job.s3.delete_object(**kwargs)
        except ClientError as error:
            if _missing(error):
                return
            if aws_errors.code(error) == "PreconditionFailed":
                raise _Stop(
                    Outcome(
                        State.CHANGED,
                        f"{kept}; {job.where} was overwritten after it was copied, so the new "
                        "object was left in place. If it is sensitive too, a new finding will "
                        "report it",
                        attrs,
                    )
                ) from None
            if _denied(error):
                raise _Stop(
                    Outcome(
                        State.DENIED,
                        f"{kept}; could not delete {job.where} ({_explain(error)}), so it is "
                        "still there. Check the remediation role's s3:DeleteObject* grant, "
                        "the bucket policy and Object Lock settings",
                        attrs,
                    )
                ) from None
            raise _Stop(
                Outcome(
                    State.FAILED,
                    f"{kept}; could not delete {job.where} ({_explain(error)}); the next "
                    "attempt finishes the move",
                    attrs,
                )
            ) from None

    def _finish(
        self,
        job: _Job,
        src: SourceObject,
        copy: _Copy,
        attrs: dict[str, Any],
        digest: SourceDigest,
    ) -> Outcome:
        target = s3_uri(copy.bucket, copy.key, copy.version_id)
        if copy.resumed:
            parts = [f"moved {job.where} to {target}, finishing an attempt that was cut short"]
        else:
            verified = f"{copy.checksum.algorithm} checksum" if copy.checksum else "checksum"
            parts = [f"moved {job.where} to {target}, {verified} verified"]
        if src.version_id is not None:
            parts.append(self._versions(job, src, copy, attrs, digest))
        if job.options.get("tombstone"):
            attrs["tombstone"] = self._tombstone(job, copy)
            if attrs["tombstone"]:
                parts.append("a tombstone at the source key says where it went")
        if copy.origin_tags_dropped:
            parts.append(
                "the source had too many tags for all origin tags; left out: "
                + ", ".join(copy.origin_tags_dropped)
            )
        parts.extend(job.notes)
        return Outcome(State.QUARANTINED, "; ".join(parts), attrs)

    def _versions(
        self,
        job: _Job,
        src: SourceObject,
        copy: _Copy,
        attrs: dict[str, Any],
        digest: SourceDigest,
    ) -> str:
        """Which versions of the key remain (and, with purge_versions, delete those with
        the quarantined content). Best effort: the object is already quarantined."""
        try:
            listing = job.s3.list_object_versions(
                Bucket=src.bucket, Prefix=src.key, ExpectedBucketOwner=job.account
            )
        except ClientError as error:
            return f"could not list the versions left behind ({_explain(error)})"
        versions = [v for v in listing.get("Versions", []) if v.get("Key") == src.key]
        purged: list[str] = []
        if job.options.get("purge_versions"):
            for version in versions:
                if int(version.get("Size", -1)) == src.size and self._purge_if_same(
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

    def _purge_if_same(
        self, job: _Job, src: SourceObject, version_id: str, digest: SourceDigest
    ) -> bool:
        """Delete `version_id` if it holds the quarantined bytes; True if it was deleted."""
        args = _object_args(job.account, src.bucket, src.key, version_id)
        try:
            head = job.s3.head_object(**args, ChecksumMode="ENABLED")
            if _lock(head) is not None or not same_bytes(
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
            job.notes.append(f"version {version_id} not purged: {_explain(error)}")
            return False
        return True

    def _tombstone(self, job: _Job, copy: _Copy) -> dict[str, Any]:
        """Leave (or find) the note at the source key; {} if it could not be written."""
        try:
            current = job.s3.head_object(**_object_args(job.account, job.bucket, job.key, None))
        except ClientError as error:
            if not _missing(error):
                job.notes.append(f"tombstone not written: {_explain(error)}")
                return {}
            current = None
        if current is not None:
            if _is_tombstone(current.get("Metadata"), job.finding.key):
                return {"version_id": current.get("VersionId"), "etag": _etag(current["ETag"])}
            job.notes.append(
                "tombstone not written: another object or version is current at the source key"
            )
            return {}
        text = Template(str(job.options.get("tombstone_text") or DEFAULT_TOMBSTONE))
        body = text.safe_substitute(
            time=self._now(),
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
            job.notes.append(f"tombstone not written: {_explain(error)}")
            return {}
        return {"version_id": response.get("VersionId"), "etag": _etag(response.get("ETag"))}

    # -- release ---------------------------------------------------------------------------

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        """Put the quarantined object(s) of an entry back where they were.

        Raises `ReleaseRefused` when putting an object back would overwrite or hide
        something at its old key, or does not verify, and `ActionFailed` (DENIED or
        FAILED) on AWS errors. Nothing is lost either way: the quarantine copy is removed
        only after the restored object is verified.
        """
        items = attrs.get("objects") or [attrs]
        done = []
        for item in items:
            try:
                done.append(self._release_one(finding, item))
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

    def _release_one(self, finding: Finding, item: Mapping[str, Any]) -> dict[str, Any]:
        dest = item.get("destination")
        source = item.get("source")
        if not isinstance(dest, Mapping) or not isinstance(source, Mapping):
            raise ReleaseRefused(
                "the ledger entry does not say where the object went (attrs.destination); "
                "nothing to release"
            )
        account = str(dest.get("account") or finding.account)
        region = str(dest.get("region") or finding.region)
        s3 = self.sessions.client("s3", account, region, finding_key=finding.key)
        bucket, key = str(source["bucket"]), str(source["key"])
        qbucket, qkey, qversion = str(dest["bucket"]), str(dest["key"]), dest.get("version_id")
        versioned = source.get("version_id") is not None
        back = s3_uri(bucket, key)
        qargs = _object_args(account, qbucket, qkey, qversion)
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
                **_object_args(account, bucket, key, None)
            )
        except ClientError as error:
            if not _missing(error):
                raise
            current = None
        tombstone = current is not None and _is_tombstone(current.get("Metadata"), finding.key)
        if current is not None and not tombstone:
            raise ReleaseRefused(
                f"{back} now holds another object (ETag {_etag(current.get('ETag'))}); "
                "putting the quarantined one back would overwrite or hide it. Move that "
                "object away first, then release again; nothing was changed"
            )
        size = int(qhead.get("ContentLength", 0))
        multipart = size >= self.transfer.multipart_threshold
        stored = reported(qhead)
        algorithm = stored.algorithm if stored is not None else copy_algorithm(None, multipart=True)
        extra: dict[str, Any] = {
            **{name: qhead[name] for name in CONTENT_FIELDS if qhead.get(name)},
            "MetadataDirective": "REPLACE",
            "Metadata": {
                k: v
                for k, v in (qhead.get("Metadata") or {}).items()
                if not k.startswith(META_PREFIX)
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
        restored_version, restored, _ = self._copy_within(
            s3,
            account,
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
            s3.delete_object(**_object_args(account, bucket, key, current["VersionId"]))
            tombstone_removed = True
        elif tombstone:
            tombstone_removed = True  # overwritten by the object itself
        removed = True
        try:
            s3.delete_object(**qargs)
        except ClientError as error:
            removed = False
            notes.append(f"the quarantine copy stays ({_explain(error)})")
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
