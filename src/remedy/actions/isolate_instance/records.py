"""What an isolation writes on the instance and its interfaces before each change.

The ledger gets the whole record when the attempt returns; these tags are how a rerun
learns what an attempt that died (a timeout, a crash) had already recorded, the way the
S3 quarantine learns from its copy's metadata. Each is written before the change it
describes, and a release deletes them. A value longer than EC2's 256 characters is split
over ``<key>``, ``<key>:2``, ``<key>:3`` ... (16 security groups do not fit in one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

#: What every tag remedy writes on an instance, interface or snapshot begins with.
PREFIX = "remedy:"
#: On the instance: the ledger key of the finding it is isolated for.
ISOLATED_FOR = "remedy:isolated-for"
#: On the instance: termination protection before remedy ("true" / "false").
PRIOR_TERMINATION = "remedy:prior-termination-protection"
#: On the instance: "<lifecycle state> <decremented: yes|no> <group name>".
PRIOR_SCALING = "remedy:prior-auto-scaling"
#: On each interface: its security groups before remedy, space-separated.
PRIOR_GROUPS = "remedy:prior-groups"
#: On each snapshot (and in their description): which finding and ledger entry.
SNAPSHOT_FINDING = "remedy:finding"
SNAPSHOT_LEDGER_KEY = "remedy:ledger-key"
SNAPSHOT_INSTANCE = "remedy:instance"
SNAPSHOT_VOLUME = "remedy:volume"
MAX_VALUE = 256


def short(text: str) -> str:
    """`text` when it fits a tag value, else ``sha256:`` and its digest (the ledger has it)."""
    if len(text) <= MAX_VALUE:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def tags_of(item: Mapping[str, Any]) -> dict[str, str]:
    """An EC2 description's tags (``Tags`` or ``TagSet``) as a dict."""
    found = item.get("Tags") or item.get("TagSet") or []
    return {t["Key"]: t["Value"] for t in found}


def _keys(key: str, count: int) -> list[str]:
    return [key if i == 0 else f"{key}:{i + 1}" for i in range(count)]


def split(key: str, value: str) -> list[dict[str, str]]:
    """`value` as one or more tags (`Key`/`Value`) under `key`."""
    parts = [value[i : i + MAX_VALUE] for i in range(0, len(value), MAX_VALUE)] or [""]
    return [{"Key": k, "Value": v} for k, v in zip(_keys(key, len(parts)), parts, strict=True)]


def joined(tags: Mapping[str, str], key: str) -> str | None:
    """The value `split` wrote under `key`, or None when there is none."""
    if key not in tags:
        return None
    out, i = [], 0
    while (name := _keys(key, i + 1)[-1]) in tags:
        out.append(tags[name])
        i += 1
    return "".join(out)


def written(tags: Mapping[str, str], keys: Iterable[str]) -> list[str]:
    """Every tag key remedy wrote under `keys` (their continuations included)."""
    out = []
    for key in keys:
        out += [k for k in tags if k == key or k.startswith(f"{key}:")]
    return out


def write(ec2: Any, resource_id: str, key: str, value: str) -> None:
    ec2.create_tags(Resources=[resource_id], Tags=split(key, value))
