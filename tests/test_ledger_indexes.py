"""The ledger's indexes hold what the operators' views ask for, and nothing else.

Real DynamoDB calls on moto: every write path (create, transition, annotate,
update_attrs) keeps ``attention`` and ``activity_day`` in step, and the queries read only
their answer (``ScannedCount``), however many other entries the table holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify_support import Ledger, aws, finding_from, ledger, put_entry
from remedy.ledger.base import State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import ACTIVITY_SHARDS, activity_day
from remedy.ledger.queries import LedgerQueries

__all__ = ["aws", "ledger"]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _store(ledger: Ledger, moment: datetime) -> DynamoDBLedgerStore:
    return DynamoDBLedgerStore(ledger.table, ledger.client, clock=lambda: moment)


def _raw(ledger: Ledger, key: str) -> dict[str, object]:
    item = ledger.client.get_item(TableName=ledger.table, Key={"pk": {"S": key}})["Item"]
    return {name: next(iter(value.values())) for name, value in item.items()}


def test_attention_follows_every_write(ledger: Ledger) -> None:
    finding = finding_from("macie-classification-financial.json")
    store = _store(ledger, T0)
    put_entry(store, finding)
    queries = LedgerQueries(ledger.table, ledger.client, clock=lambda: T0)
    assert [(e.key, e.state) for e in queries.attention()] == [
        (finding.key, State.PENDING_APPROVAL)
    ]
    assert _raw(ledger, finding.key)["attention_at"] == "2026-11-20T09:00:00.000Z"

    store.transition(finding.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1")
    assert list(queries.attention()) == []
    assert "attention" not in _raw(ledger, finding.key)

    store.transition(finding.key, [State.APPROVED], State.QUARANTINING, by="remedy")
    later = _store(ledger, T0 + timedelta(minutes=5))
    later.transition(finding.key, [State.QUARANTINING], State.FAILED, by="remedy", note="503")
    assert [(e.key, e.state) for e in queries.attention()] == [(finding.key, State.FAILED)]
    assert _raw(ledger, finding.key)["attention_at"] == "2026-11-20T09:05:00.000Z"

    later.transition(finding.key, [State.FAILED], State.QUARANTINING, by="remedy")
    later.transition(
        finding.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remedy",
        attrs={"awaiting_approval": True},
    )
    assert [(e.key, e.state) for e in queries.attention()] == [(finding.key, State.QUARANTINED)]
    assert _raw(ledger, finding.key)["attention"] == "PENDING_APPROVAL"

    # Bookkeeping leaves the question open; deciding it closes it.
    later.update_attrs(finding.key, {"slack_ts": "1.2"})
    assert _raw(ledger, finding.key)["attention"] == "PENDING_APPROVAL"
    later.annotate(
        finding.key,
        State.QUARANTINED,
        ("awaiting_approval", True),
        {"awaiting_approval": False},
        by="slack:U1",
        note="kept",
    )
    assert list(queries.attention()) == []
    assert queries.reads.items == 1 + 0 + 1 + 1 + 0


def test_activity_day_moves_with_the_latest_write(ledger: Ledger) -> None:
    finding = finding_from("macie-classification-financial.json")
    put_entry(_store(ledger, T0), finding, State.NOTIFIED, action="notify")
    assert _raw(ledger, finding.key)["activity_day"] == activity_day(finding.key, "2026-11-20")
    _store(ledger, T0 + timedelta(days=2)).update_attrs(finding.key, {"slack_ts": "1"})
    raw = _raw(ledger, finding.key)
    assert raw["activity_day"] == activity_day(finding.key, "2026-11-22")
    assert str(raw["activity_day"]).startswith("2026-11-22#")
    assert int(str(raw["activity_day"]).split("#")[1]) in range(ACTIVITY_SHARDS)


def test_touched_reads_only_the_entries_written_since(ledger: Ledger) -> None:
    finding = finding_from("macie-classification-financial.json")
    for day in range(10):
        put_entry(
            _store(ledger, T0 + timedelta(days=day)),
            finding,
            State.NOTIFIED,
            action="notify",
            key=f"k{day}",
        )
    now = T0 + timedelta(days=9, hours=1)
    queries = LedgerQueries(ledger.table, ledger.client, clock=lambda: now)
    since = T0 + timedelta(days=7)
    assert sorted(e.key for e in queries.touched(since)) == ["k7", "k8", "k9"]
    assert queries.reads.items == 3
    # 3 days x every shard: the requests grow with the period, never with the table.
    assert queries.reads.requests == 3 * ACTIVITY_SHARDS

    by_account = LedgerQueries(ledger.table, ledger.client, clock=lambda: now)
    assert sorted(e.key for e in by_account.touched(since, finding.account)) == [
        "k7",
        "k8",
        "k9",
    ]
    assert list(by_account.touched(since, "000000000000")) == []
    assert by_account.reads.items == 3
