"""``remedy status``, ``history`` and ``report`` name accounts as the functions do: from
the live policy bundle when a policy bucket is configured, else from the local folder.

On moto: a ledger entry in 111111111111, the local folder naming it ``prod-payments``
and a live bundle (pushed with ``remedy policy push``) naming it ``payments-live``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from live_policy_support import BUCKET, fresh_process, make_bucket
from notify_support import ROOT, TABLE, Ledger, aws, create_at, finding_from, ledger
from remedy.cli import main
from remedy.ledger.base import State

__all__ = ["aws", "ledger"]

ACCOUNT = "111111111111"
LOCAL = "prod-payments"
LIVE = "payments-live"


@pytest.fixture
def env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Ledger]:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(ROOT / "policies"))
    fresh_process(monkeypatch)
    create_at(
        ledger,
        datetime.now(UTC) - timedelta(hours=1),
        finding_from("macie-classification-personal.json"),
        "pending",
        State.PENDING_APPROVAL,
        "approve",
    )
    yield ledger


@pytest.fixture
def live(env: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Ledger:
    """A live bundle in which the account is renamed, and the bucket configured."""
    make_bucket()
    monkeypatch.setenv("REMEDY_POLICY_BUCKET", BUCKET)
    folder = tmp_path / "policy"
    shutil.copytree(ROOT / "policies", folder, ignore=shutil.ignore_patterns("schema"))
    accounts = folder / "accounts.yaml"
    text = accounts.read_text(encoding="utf-8")
    assert text.count(f"name: {LOCAL}\n") == 1
    accounts.write_text(text.replace(f"name: {LOCAL}\n", f"name: {LIVE}\n"), encoding="utf-8")
    assert main(["policy", "push", str(folder), "--allow-example-accounts"]) == 0
    return env


@pytest.mark.parametrize(("policy", "name", "other"), [("live", LIVE, LOCAL), ("env", LOCAL, LIVE)])
def test_status_names_the_account_as_the_policy_the_functions_read(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    name: str,
    other: str,
) -> None:
    """With a policy bucket, its live bundle; without one, the local folder."""
    request.getfixturevalue(policy)
    capsys.readouterr()
    assert main(["status", "--json"]) == 1
    (pending,) = json.loads(capsys.readouterr().out)["pending_approvals"]
    assert (pending["account"], pending["account_name"]) == (ACCOUNT, name)
    assert main(["status"]) == 1
    table = capsys.readouterr().out
    assert f"{name} ({ACCOUNT})" in table
    assert other not in table


def test_history_names_the_account_as_the_live_bundle_does(
    live: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--json"]) == 0
    (step,) = json.loads(capsys.readouterr().out)
    assert (step["account"], step["account_name"]) == (ACCOUNT, LIVE)


def test_report_names_the_account_as_the_live_bundle_does(
    live: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    assert main(["report", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert LIVE in text
    assert LOCAL not in text
