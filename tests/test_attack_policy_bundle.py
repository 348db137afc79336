"""Attacks on the live policy bundle: a bundle written into the bucket by anyone but
``remedy policy push`` (its content hash recomputed, so it passes that check) must be
refused like any bad version: the function keeps the last good policy, says which version
and why, and a cold start falls back to it. None may take a function down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from live_policy_support import (
    BUCKET,
    Clock,
    Refusals,
    live_bucket,
    policy_folder,
    versions,
)
from remedy.cli import main
from remedy.policy_live import loader
from remedy.policy_live.bucket import KEY, PolicyBucket
from remedy.policy_live.bundle import content_hash

_s3 = pytest.fixture(name="s3")(live_bucket)
_folder = pytest.fixture(name="folder")(policy_folder)


def files_of(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")}


def sealed(files: dict[str, str], record: object = None) -> bytes:
    """A bundle as the attacker writes it: the hash recomputed over its files."""
    document: dict[str, Any] = {"format": 1, "sha256": content_hash(files), "files": files}
    if record is not None:
        document["record"] = record
    return json.dumps(document).encode()


def bomb(depth: int) -> str:
    """break_glass as nested aliases: ``depth`` levels of ten, 10**depth strings once
    expanded (a few hundred bytes of YAML)."""
    items = ['&a0 ["x","x","x","x","x","x","x","x","x","x"]']
    items += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, depth)]
    return "break_glass: [" + ", ".join([*items, f"*a{depth - 1}"]) + "]"


def poisoned(case: str, folder: Path) -> tuple[bytes, str]:
    """(the bundle, the refusal it must get after ``<where>``)."""
    files = files_of(folder)
    if case == "empty-name":
        return sealed({**files, "": "x: 1\n"}), ': files: expected the top-level "*.yaml"'
    if case == "nul-in-name":
        return sealed({**files, "a\x00.yaml": "x: 1\n"}), ': files: expected the top-level "*.yaml"'
    if case == "long-name":
        return sealed({**files, "a" * 300 + ".yaml": "x: 1\n"}), (
            ': files: expected the top-level "*.yaml"'
        )
    if case == "record-not-an-object":
        return sealed(files, record="pushed by nobody"), ": record: expected an object"
    assert case == "alias-bomb"
    text = files["remediation.yaml"]
    assert "break_glass: [BreakGlass]" in text
    line = text[: text.index("break_glass: [BreakGlass]")].count("\n") + 1
    files["remediation.yaml"] = text.replace("break_glass: [BreakGlass]", bomb(6), 1)
    return sealed(files), f"/remediation.yaml:{line}: an alias of a list or mapping"


CASES = ["empty-name", "nul-in-name", "long-name", "record-not-an-object", "alias-bomb"]


@pytest.mark.parametrize("case", CASES)
def test_a_poisoned_bundle_is_refused_and_the_last_good_one_kept(
    case: str, s3: Any, folder: Path, tmp_path: Path
) -> None:
    """The attack: a bundle with a recomputed hash that passes every check of
    `bundle.from_bytes` but crashes the function reading it (a file name the function
    cannot write, a record that is not an object) or blows up as it is checked (YAML
    aliases expanding to a million strings, all of them in the refusal's message)."""
    assert main(["policy", "push", str(folder)]) == 0
    good = versions(s3)[0]
    clock, refused = Clock(), Refusals()
    policy = loader.LivePolicy(
        PolicyBucket(s3, BUCKET), workdir=tmp_path / "work", clock=clock, refused=refused
    )
    before = policy.get()
    body, reason = poisoned(case, folder)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    bad = versions(s3)[0]
    clock.now += 60
    assert policy.refresh() is False
    assert policy.get() is before and policy.version == good
    ((version, said),) = refused
    where = f"s3://{BUCKET}/{KEY}?versionId={bad}"
    assert version == bad
    assert said.startswith(where + reason)
    assert len(said) < 500
    cold = loader.LivePolicy(
        PolicyBucket(s3, BUCKET), workdir=tmp_path / "cold", clock=Clock(), refused=Refusals()
    )
    assert cold.get() is not None and cold.version == good
