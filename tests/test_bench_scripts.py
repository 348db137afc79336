"""The benchmark scripts still run (tiny sizes; no timing is asserted here).

They import the tests' fixtures and the project's internals, so a rename elsewhere can break
them silently; README "Figures" depends on them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "args",
    [
        ["bench/decide.py", "--events", "200", "--repeat", "1"],
        ["bench/api_calls.py", "--objects", "2", "--containments", "1"],
        ["bench/interactions.py", "--requests", "5", "--burst", "30"],
        ["bench/ledger_views.py", "--sizes", "100"],
        ["bench/account_resolve.py", "--accounts", "5", "--findings", "50", "--repeat", "1"],
        ["bench/cold_start.py", "--repeat", "1", "--clicks", "1"],
        ["bench/burst.py", "--sizes", "20", "--accounts", "3", "--containers", "2"],
        ["bench/cost.py", "--accounts", "10", "--markdown"],
        ["bench/policy_replay.py", "--findings", "300", "--repeat", "1"],
    ],
    ids=[
        "decide",
        "api_calls",
        "interactions",
        "ledger_views",
        "account_resolve",
        "cold_start",
        "burst",
        "cost",
        "policy_replay",
    ],
)
def test_bench_script_runs(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
