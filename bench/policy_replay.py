"""How fast ``remedy policy diff`` decides stored findings again (target: 20,000 a second).

Builds N stored ledger items (default 100,000) as the diff's Query returns them: the
sample events of ``events/`` and ``../shared/conformance/`` varied per copy as
bench/decide.py varies them, normalised, and each finding kept as the ledger keeps it
(its ``to_dict`` snapshot as JSON text in the item). Then, several times, the replay
``remedy policy diff`` runs on them: each item read back into an entry
(`remedy.ledger.queries.snapshot`, the diff's read path), its finding rebuilt and decided
by the shipped policy and by a candidate in which one rule changed, the two compared.
The network reads are not in it (bench/ledger_views.py measures queries).

    .venv/bin/python bench/policy_replay.py [--findings 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from remedy.ledger.queries import snapshot
from remedy.normalise import normalise
from remedy.policy import load_policy, shipped_dir
from remedy.policy_live.replay import replay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decide import build_payloads  # bench/decide.py, beside this file

TARGET = 20_000
CHANGED_RULE = "notify-securityhub-high"


def items(count: int) -> list[dict[str, Any]]:
    """`count` ledger items as the diff's Query returns them (its projection: key,
    creation time, finding snapshot)."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        for payload in build_payloads(max(1000, count // 2)):
            for finding in normalise(json.loads(payload)):
                found.append(
                    {
                        "pk": {"S": f"{finding.key}#{len(found)}"},
                        "created_at": {"S": "2026-12-01T00:00:00.000Z"},
                        "finding": {"S": json.dumps(finding.to_dict(), sort_keys=True)},
                    }
                )
            if len(found) >= count:
                break
    return found[:count]


def candidate(folder: Path) -> Path:
    """The shipped policy with one rule's action changed (notify -> ignore)."""
    shutil.copytree(shipped_dir(), folder, ignore=shutil.ignore_patterns("schema"))
    rules = folder / "remediation.yaml"
    text = rules.read_text(encoding="utf-8")
    block = text[text.index(f"  - id: {CHANGED_RULE}") :]
    block = block[: block.index("    action: notify\n") + len("    action: notify\n")]
    rules.write_text(text.replace(block, block.replace("notify\n", "ignore\n")), "utf-8")
    return folder


def snapshots(stored: list[dict[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    return (snapshot(item) for item in stored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    old = load_policy(shipped_dir())
    with tempfile.TemporaryDirectory() as tmp:
        new = load_policy(candidate(Path(tmp) / "policy"))
    stored = items(args.findings)
    rates: list[float] = []
    cpu_rates: list[float] = []
    changed = replayed = 0
    for _ in range(args.repeat):
        gc.collect()
        gc.disable()
        start, cpu = time.perf_counter(), time.process_time()
        result = replay(snapshots(stored), old, new)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        gc.enable()
        rates.append(result.replayed / seconds)
        cpu_rates.append(result.replayed / cpu_seconds)
        changed, replayed = len(result.changes), result.replayed
    rate = statistics.median(rates)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(
        f"{replayed:,} stored findings replayed through two policies, {changed:,} decisions "
        f"change ({CHANGED_RULE}: notify -> ignore)"
    )
    print(
        f"median of {args.repeat}: {rate:,.0f} findings/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); target >= {TARGET:,}: "
        + ("met" if rate >= TARGET else "NOT met")
    )
    # Single-threaded: on an otherwise idle core, wall time is CPU time. On a shared
    # machine the wall-clock rate falls with the CPU share this process gets.
    print(
        f"per CPU second: median {statistics.median(cpu_rates):,.0f} findings "
        f"(wall-clock rate / CPU rate = {rate / statistics.median(cpu_rates):.2f}, the CPU "
        "share this process had)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
