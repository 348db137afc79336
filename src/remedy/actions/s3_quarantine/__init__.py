"""Quarantine an S3 object inside the account that owns it, and put it back on release.

The principle is copy, verify, only then delete; `S3Quarantine._quarantine` is that
sentence, one step module each:

- `locate`: the exact source version (one HeadObject), and whether it may move;
- `copy`: into the quarantine bucket, re-encrypted, with metadata and (origin) tags;
- `verify`: the copy holds the source's bytes (size and checksum, see `integrity`), else
  it is removed;
- `delete`: the source version, then the versions left behind and the tombstone;
- `resume`: a rerun finds the copy an earlier attempt made, and finishes;
- `release`: puts the object back.

A crash at any point leaves the object in the source, in the quarantine bucket, or both.
`marks` holds the names and tags remedy puts on what it moves; `job` the object on its way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from boto3.s3.transfer import TransferConfig

from remedy.actions.outcome import Outcome, combine
from remedy.actions.registry import register
from remedy.actions.reversible import ReversibleAction, Undo
from remedy.actions.s3_quarantine.copy import (
    DEFAULT_TRANSFER,
    copy_to_quarantine,
    ledger_attrs,
)
from remedy.actions.s3_quarantine.delete import delete_source, finish
from remedy.actions.s3_quarantine.errors import Stop
from remedy.actions.s3_quarantine.job import Job, s3_uri
from remedy.actions.s3_quarantine.locate import gone, head_source, locked, not_movable
from remedy.actions.s3_quarantine.marks import (
    META_FINDING,
    META_PREFIX,
    META_TOMBSTONE,
    TAG_FINDING,
    TAG_SOURCE_KEY,
    is_tombstone,
    quarantine_key,
    tag_value,
)
from remedy.actions.s3_quarantine.release import ReleaseRefused, put_back
from remedy.actions.s3_quarantine.resume import find_copy, source_from_copy
from remedy.actions.s3_quarantine.verify import source_digest, verify_copy
from remedy.actions.session import AccountSessions, AssumeRoleFailed
from remedy.ledger.base import State
from remedy.model import Finding, Resource, ResourceKind
from remedy.settings import Settings

# What other modules import from here, from before the action was split into steps.
__all__ = [
    "META_FINDING",
    "META_PREFIX",
    "META_TOMBSTONE",
    "TAG_FINDING",
    "TAG_SOURCE_KEY",
    "ReleaseRefused",
    "S3Quarantine",
    "quarantine_key",
    "tag_value",
]


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
    #: Exactly the IAM actions the steps' calls need in the member account.
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
        job = Job(
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
            transfer=self.transfer,
            kms_key=self.settings.quarantine_key_alias(),
            clock=self.clock,
        )
        try:
            return self._quarantine(job, resume)
        except Stop as stop:
            return stop.outcome

    def _quarantine(self, job: Job, resume: bool) -> Outcome:
        """Copy, verify, only then delete. Each step ends the attempt (`Stop`) with the
        outcome that says why, leaving the object in the source, the copy, or both."""
        src = head_source(job)
        if src is None or is_tombstone(src.metadata, job.finding.key):
            return self._source_gone(job, resume)
        refused = not_movable(job, src)
        if refused is not None:
            return refused
        multipart = src.size >= self.transfer.multipart_threshold
        digest = source_digest(job, src.bucket, src.key, src.version_id, src.etag, src.size)
        # A rerun's earlier copy counts only if it already holds the source's bytes.
        copy = find_copy(job, src, digest, multipart) if resume else None
        if copy is None:
            copy = copy_to_quarantine(job, src, multipart)
            verify_copy(job, src, copy, digest, multipart)
        attrs = ledger_attrs(job, src, copy)
        if src.lock is not None:
            return locked(job, src, copy, attrs)
        delete_source(job, src, copy, attrs)
        return finish(job, src, copy, attrs, digest)

    def _source_gone(self, job: Job, resume: bool) -> Outcome:
        copy = find_copy(job, None, None, False) if resume else None
        if copy is None or copy.head is None:
            return gone(job)
        # An earlier attempt copied and deleted, then died before recording it: finish its
        # work (versions, tombstone) from the copy, which holds the source's bytes.
        src = source_from_copy(job, copy.head)
        digest = source_digest(
            job, copy.bucket, copy.key, copy.version_id, copy.head["ETag"], src.size
        )
        return finish(job, src, copy, ledger_attrs(job, src, copy), digest)

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        """Put the quarantined object(s) of an entry back where they were.

        Raises `ReleaseRefused` when putting an object back would overwrite or hide
        something at its old key, or does not verify, and `ActionFailed` (DENIED or
        FAILED) on AWS errors. Nothing is lost either way: the quarantine copy is removed
        only after the restored object is verified.
        """
        return put_back(self.sessions, self.transfer, finding, attrs)
