"""remedy policy diff: the text that changes, then the ledger's stored findings decided
again by the live policy and by the folder (moto: the policy bucket and the ledger)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from conftest import EVENTS, fake_aws_credentials
from live_policy_support import BUCKET, REGION, deployable, make_bucket, own_ids
from remedy.cli import main
from remedy.errors import InvalidEvent
from remedy.ledger.base import Entry, State, stamp
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.pipeline import UNREADABLE
from remedy.policy import decide, load_policy
from remedy.policy_live.replay import replay

TABLE = "remedy-ledger"
RULE = "notify-securityhub-high"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBLedgerStore]:
    fake_aws_credentials(monkeypatch, REGION)
    monkeypatch.setenv("REMEDY_POLICY_BUCKET", BUCKET)
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    with mock_aws():
        make_bucket()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
        yield DynamoDBLedgerStore(TABLE, dynamodb)


def stored_findings() -> list[Finding]:
    """Every sample event's findings, in the accounts of the deployable policy."""
    found: list[Finding] = []
    for path in sorted(EVENTS.glob("*.json")):
        try:
            found += normalise(json.loads(own_ids(path.read_text(encoding="utf-8"))))
        except InvalidEvent:
            continue
    return found


def record(store: DynamoDBLedgerStore, folder: Path, *, days_ago: float = 0) -> list[Finding]:
    policy = load_policy(folder)
    findings = stored_findings()
    created = stamp(datetime.now(UTC) - timedelta(days=days_ago))
    now = stamp(datetime.now(UTC))
    for finding in findings:
        decision = decide(finding, policy)
        store.create(
            Entry(
                key=finding.key,
                state=State.NOTIFIED,
                account=finding.account,
                region=finding.region,
                finding=finding.to_dict(),
                decision=decision.to_dict(),
                created_at=created,
                updated_at=now,
            )
        )
    return findings


def ignore_rule(folder: Path) -> None:
    rules = folder / "remediation.yaml"
    text = rules.read_text(encoding="utf-8")
    block = text[text.index(f"  - id: {RULE}") :]
    block = block[: block.index("    action: notify\n") + len("    action: notify\n")]
    changed = block.replace("action: notify", "action: ignore")
    rules.write_text(text.replace(block, changed), encoding="utf-8")


def test_the_stored_snapshot_decides_again_exactly_as_recorded(
    store: DynamoDBLedgerStore, tmp_path: Path
) -> None:
    folder = deployable(tmp_path / "policy")
    findings = record(store, folder)
    assert len(findings) > 20
    policy = load_policy(folder)
    for finding in findings:
        entry = store.get(finding.key)
        assert entry is not None
        again = decide(Finding.from_dict(entry.finding), policy)
        assert again.to_dict() == entry.decision
    result = replay(((f.key, f.to_dict()) for f in findings), policy, load_policy(folder))
    assert result.replayed == len(findings) and result.changes == []
    assert len({f.key for f in findings}) < len(findings)  # copies share an entry


def test_diff_shows_the_text_then_every_decision_that_would_change(
    store: DynamoDBLedgerStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = deployable(tmp_path / "live")
    assert main(["policy", "push", str(live)]) == 0
    findings = record(store, live)
    live_policy = load_policy(live)
    expected = sorted({f.key for f in findings if decide(f, live_policy).rule == RULE})
    assert len(expected) >= 2, "the samples hold findings the rule decides"
    # Not replayable: an event that could not be read; and an entry created long ago.
    now = stamp(datetime.now(UTC))
    store.create(
        Entry("invalid#1", State.REJECTED, "210000000001", REGION, {UNREADABLE: "{"}, {}, now, now)
    )
    candidate = tmp_path / "candidate"
    assert main(["policy", "pull", str(candidate)]) == 0
    ignore_rule(candidate)
    capsys.readouterr()
    assert main(["policy", "diff", str(candidate)]) == 0
    out = capsys.readouterr().out
    text, _, replayed = out.partition("\nreplayed ")
    assert f"+++ {candidate}/remediation.yaml\n" in text
    assert "-    action: notify\n+    action: ignore\n" in text
    assert text.count("\n@@ ") + text.startswith("@@") == 1
    lines = replayed.splitlines()
    assert lines[0].endswith(
        f": {len(expected)} decisions change (1 entries hold no finding to replay)"
    )
    # Copies of one finding (native and Security Hub's) share one entry.
    assert lines[0].startswith(f"{len({f.key for f in findings})} findings received since ")
    rows = lines[3 : 3 + len(expected)]
    assert sorted(row.split()[0] for row in rows) == expected
    for row in rows:
        assert f"notify ({RULE})" in row and f"ignore ({RULE})" in row
    assert lines[-1] == f"{len(expected):6d}  notify -> ignore"


def test_diff_replays_only_the_findings_of_the_period(
    store: DynamoDBLedgerStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = deployable(tmp_path / "live")
    assert main(["policy", "push", str(live)]) == 0
    record(store, live, days_ago=10)
    candidate = tmp_path / "candidate"
    assert main(["policy", "pull", str(candidate)]) == 0
    ignore_rule(candidate)
    capsys.readouterr()
    assert main(["policy", "diff", str(candidate)]) == 0
    assert ": 0 decisions change" in capsys.readouterr().out
    assert main(["policy", "diff", str(candidate), "--since", "30d"]) == 0
    out = capsys.readouterr().out
    assert ": 0 decisions change" not in out and out.endswith("  notify -> ignore\n")


def test_diff_of_a_folder_that_does_not_load_names_the_problem(
    store: DynamoDBLedgerStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = deployable(tmp_path / "live")
    assert main(["policy", "push", str(live)]) == 0
    (live / "remediation.yaml").write_text("version: 1\nrules: {}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["policy", "diff", str(live)]) == 2
    assert capsys.readouterr().err == (
        f"{live}/remediation.yaml:rules: {{}} is not of type 'array'\n"
    )
