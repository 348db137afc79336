"""The policy bucket: every pushed bundle is one version of one object.

Reads are what the functions need (the live bundle, a conditional GET against the ETag
they hold, older versions to fall back on); `put` is what ``remedy policy push`` needs:
a conditional write (``If-Match`` the live ETag, or ``If-None-Match: *`` on an empty
bucket), so two people pushing at once cannot both win, even between the CLI's check of
the base version and its write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from remedy.errors import RemedyError
from remedy.policy_live.bundle import MAX_BUNDLE_BYTES, Bundle

#: The one object whose versions are the policy's versions.
KEY = "policy/bundle.json"
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound"})


class LiveMoved(RemedyError):
    """The live version changed between reading it and writing the next one."""


class BundleTooLarge(RemedyError):
    pass


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of the bundle object as S3 describes it."""

    version_id: str
    etag: str
    last_modified: datetime | None = None
    body: bytes = b""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class PolicyBucket:
    def __init__(self, client: Any, bucket: str, key: str = KEY) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def where(self, version_id: str) -> str:
        return f"{self.uri}?versionId={version_id}"

    def live(self) -> Stored | None:
        """The live version's id and ETag (no body); None if nothing was ever pushed."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if _code(error) in _ABSENT:
                return None
            raise
        return Stored(head.get("VersionId") or "null", head["ETag"], head.get("LastModified"))

    def fetch(self, version_id: str | None = None) -> Stored | None:
        """The live version (or `version_id`) with its body; None if there is none."""
        extra = {"VersionId": version_id} if version_id else {}
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key, **extra)
        except ClientError as error:
            if _code(error) in _ABSENT or _code(error) == "NoSuchVersion":
                return None
            raise
        return self._stored(answer)

    def fetch_if_changed(self, etag: str) -> Stored | None:
        """The live version if its ETag is not `etag` (a conditional GET); None if unchanged."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key, IfNoneMatch=etag)
        except ClientError as error:
            if _code(error) in ("304", "NotModified"):
                return None
            raise
        return self._stored(answer)

    def _stored(self, answer: dict[str, Any]) -> Stored:
        if int(answer.get("ContentLength", 0)) > MAX_BUNDLE_BYTES:
            answer["Body"].close()
            raise BundleTooLarge(
                f"{self.where(answer.get('VersionId') or 'null')}: "
                f"{answer['ContentLength']:,} bytes, more than {MAX_BUNDLE_BYTES:,}"
            )
        return Stored(
            answer.get("VersionId") or "null",
            answer["ETag"],
            answer.get("LastModified"),
            answer["Body"].read(),
        )

    def versions(self) -> list[Stored]:
        """Every version of the bundle, newest first (no bodies; delete markers left out)."""
        found: list[Stored] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key):
            found += [
                Stored(v["VersionId"], v["ETag"], v.get("LastModified"))
                for v in page.get("Versions", ())
                if v["Key"] == self.key
            ]
        return sorted(found, key=lambda v: v.last_modified or datetime.min, reverse=True)

    def put(self, bundle: Bundle, expect: Stored | None) -> str:
        """Write `bundle` as the new live version if `expect` is still live (None: if the
        bucket holds no bundle yet); its version id. `LiveMoved` if another push won."""
        condition = {"IfMatch": expect.etag} if expect is not None else {"IfNoneMatch": "*"}
        try:
            answer = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bundle.to_bytes(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _code(error) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                raise LiveMoved(
                    f"{self.uri}: another push changed the live version while this one was "
                    "being written; run remedy policy diff again and push on top of it"
                ) from None
            raise
        return str(answer.get("VersionId") or "null")
