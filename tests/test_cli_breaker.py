"""``remedy breaker status`` and ``remedy breaker close`` on moto's ledger table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notify_support import TABLE, Ledger, aws, ledger
from remedy.cli import main
from remedy.policy.rails import BreakerLimits
from remedy.rails.breaker import Breaker

__all__ = ["aws", "ledger"]

A = "111111111111"
RULE = "quarantine-credentials"
SHIPPED = Path(__file__).resolve().parent.parent / "policies"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(SHIPPED))


def trip(ledger: Ledger) -> None:
    breaker = Breaker(ledger.client, ledger.table, BreakerLimits(per_rule=2))
    for n in range(3):
        breaker.admit(RULE, A, f"k{n}")


def test_status_exits_0_when_none_is_open(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["breaker", "status"]) == 0
    assert capsys.readouterr().out == "No breaker is open.\n"


def test_status_lists_the_open_one_and_close_closes_it(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    trip(ledger)

    assert main(["breaker", "status", "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert [o["scope"] for o in shown["open"]] == [f"rule:{RULE}:{A}"]
    assert shown["counts"] == {f"rule:{RULE}:{A}": 2, f"account:{A}": 2, "all": 2}

    assert (
        main(["breaker", "close", RULE, "--reason", "checked the bulk import", "--by", "alice"])
        == 0
    )
    assert capsys.readouterr().out == f"closed: rule:{RULE}:{A}\n"
    assert main(["breaker", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "No breaker is open."
    assert out[1].startswith(f"closed rule:{RULE}:{A} at ") and out[1].endswith(
        " by alice: checked the bulk import"
    )


def test_closing_what_is_not_open_is_one_line_and_exit_2(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    trip(ledger)
    assert main(["breaker", "close", "222222222222", "--reason", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "remedy breaker close: no open breaker matches '222222222222' (open: "
        f"rule:{RULE}:{A}); name a rule id, a 12-digit account id or 'all' (remedy breaker "
        "status lists them)\n"
    )
    # Still open.
    assert main(["breaker", "status", "--json"]) == 1


def test_an_empty_reason_is_refused(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    trip(ledger)
    assert main(["breaker", "close", RULE, "--reason", "  "]) == 2
    assert capsys.readouterr().err == (
        "remedy breaker close: --reason is empty; say why it is safe to act again\n"
    )
    assert main(["breaker", "status", "--json"]) == 1
