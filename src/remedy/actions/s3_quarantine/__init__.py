"""The s3-quarantine action (being split into one module per step; see copy.py)."""

from remedy.actions.s3_quarantine.copy import (
    META_FINDING,
    META_PREFIX,
    META_TOMBSTONE,
    TAG_FINDING,
    TAG_SOURCE_KEY,
    ReleaseRefused,
    S3Quarantine,
    quarantine_key,
    tag_value,
)

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
