"""How remedy names and marks what it moves: the key of the copy in the quarantine bucket,
the origin tags and metadata on the copy, and the tombstone it may leave at the source key."""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Mapping

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


def is_tombstone(metadata: Mapping[str, str] | None, finding_key: str) -> bool:
    """Is the object with this user metadata the note remedy left for `finding_key`?"""
    return (metadata or {}).get(META_TOMBSTONE) == finding_key
