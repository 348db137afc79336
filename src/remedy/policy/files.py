"""Buckets allowed to stay public, per account, from ``policies/public-bucket-allowlist.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from remedy.policy import default_dir, read_checked

ALLOWLIST_FILE = "public-bucket-allowlist.yaml"
ALLOWLIST_SCHEMA = "public-bucket-allowlist.schema.json"


@dataclass(frozen=True, slots=True)
class AllowEntry:
    accounts: tuple[str, ...]
    buckets: tuple[str, ...]
    why: str


@dataclass(frozen=True, slots=True)
class BucketAllowlist:
    entries: tuple[AllowEntry, ...] = ()

    def reason(self, account: str, bucket: str) -> str | None:
        """Why `bucket` in `account` may stay public, or None when it may not."""
        for entry in self.entries:
            if ("*" in entry.accounts or account in entry.accounts) and any(
                fnmatchcase(bucket, glob) for glob in entry.buckets
            ):
                return entry.why
        return None


def load_allowlist(policy_dir: Path | None = None) -> BucketAllowlist:
    """Read and check the allow-list; problems raise `PolicyError` ``file:path: message``."""
    data = read_checked((policy_dir or default_dir()) / ALLOWLIST_FILE, ALLOWLIST_SCHEMA)
    return BucketAllowlist(
        tuple(
            AllowEntry(tuple(e["accounts"]), tuple(e["buckets"]), e["why"]) for e in data["allow"]
        )
    )
