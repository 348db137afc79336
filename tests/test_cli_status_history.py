"""``remedy status`` and ``remedy history`` against a ledger and queues on moto.

The entries are written by the ledger store as the pipeline, the Slack and email
deciders and ``remedy release`` write them (their ``by`` values), in several accounts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import unicodedata
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from notify_support import (
    ROOT,
    TABLE,
    Ledger,
    aws,
    create_at,
    finding_from,
    ledger,
    put_entry,
    store_at,
)
from remedy.cli import main
from remedy.ledger.base import State
from remedy.notify.outbox import TICKET_OUTBOX_PK, SlackOutbox

__all__ = ["aws", "ledger"]

#: When the running test started: ages are measured against the real clock, so a module-level
#: moment would drift by however long the tests before this one took.
NOW = datetime.now(UTC)
QUEUES = ("remedy-findings-dlq", "remedy-events-dlq", "remedy-remediator-dlq")
RELEASER = "arn:aws:iam::999999999999:user/ada"


@pytest.fixture(autouse=True)
def _now() -> None:
    global NOW
    NOW = datetime.now(UTC)


@pytest.fixture
def env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(ROOT / "policies"))
    sqs = boto3.client("sqs")
    for name in QUEUES:
        sqs.create_queue(QueueName=name)
    return ledger


def _story(ledger: Ledger) -> None:
    """Five entries in three accounts, from two days ago to now."""
    base = finding_from("macie-classification-personal.json")
    day = NOW - timedelta(days=2)
    # prod-payments: pending for two days (the oldest), and one approved in Slack.
    create_at(ledger, day, base, "pending-old", State.PENDING_APPROVAL, "approve")
    create_at(ledger, day, base, "approved", State.PENDING_APPROVAL, "approve")
    store_at(ledger, day + timedelta(hours=1)).transition(
        "approved", [State.PENDING_APPROVAL], State.APPROVED, by="slack:U0PAYLEAD1", note="ok"
    )
    # staging-analytics: pending for an hour.
    other = finding_from("macie-classification-financial.json")
    create_at(
        ledger, NOW - timedelta(hours=1), other, "pending-new", State.PENDING_APPROVAL, "approve"
    )
    # A quarantine that ended LOCKED after two attempts, one released from the CLI.
    create_at(ledger, day, base, "locked", State.QUARANTINING, "quarantine")
    s = store_at(ledger, day + timedelta(minutes=1))
    s.transition("locked", [State.QUARANTINING], State.FAILED, by="remedy", note="503")
    s.transition("locked", [State.FAILED], State.QUARANTINING, by="remedy")
    s.transition("locked", [State.QUARANTINING], State.LOCKED, by="remedy", note="legal hold")
    create_at(ledger, day, base, "freed", State.QUARANTINING, "quarantine")
    s.transition("freed", [State.QUARANTINING], State.QUARANTINED, by="remedy", note="moved")
    store_at(ledger, NOW).transition(
        "freed", [State.QUARANTINED], State.RELEASED, by=RELEASER, note="=HYPERLINK(x)"
    )


def test_status_lists_what_waits_for_a_person(
    env: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    _story(env)
    SlackOutbox(env.client, env.table).add("approved")
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=QUEUES[2])["QueueUrl"], MessageBody="x")

    assert main(["status", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [p["key"] for p in out["pending_approvals"]] == ["pending-old", "pending-new"]
    oldest = out["pending_approvals"][0]
    assert oldest["account"] == "111111111111"
    assert oldest["account_name"] == "prod-payments"
    assert oldest["approvers"] == ["U0PAYLEAD1", "U0PAYLEAD2", "S0PAYAPPROV"]
    assert 2 * 86400 - 60 <= oldest["age_seconds"] <= 2 * 86400 + 60
    assert oldest["resources"][0].startswith("s3://")
    assert [(a["key"], a["state"], a["attempts"], a["note"]) for a in out["needs_attention"]] == [
        ("locked", "LOCKED", 2, "legal hold")
    ]
    assert out["slack_messages_owed"] == 1
    assert out["tickets_owed"] == 0
    assert {q["name"]: q["depth"] for q in out["dead_letter_queues"]} == {
        "remedy-findings-dlq": 0,
        "remedy-events-dlq": 0,
        "remedy-remediator-dlq": 1,
    }

    assert main(["status"]) == 1
    table = capsys.readouterr().out
    assert "Pending approvals: 2" in table
    assert "prod-payments (111111111111)" in table
    assert "2d 0h" in table
    assert "Needs a person: 1" in table
    assert "remedy-remediator-dlq  1" in table
    assert table.rstrip().endswith("something needs a person")


def test_status_exits_0_when_nothing_waits(env: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    put_entry(
        store_at(env, NOW),
        finding_from("macie-classification-financial.json"),
        State.NOTIFIED,
        action="notify",
    )
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Pending approvals: 0" in out
    assert out.rstrip().endswith("nothing needs a person")


def test_status_shows_the_tickets_owed(env: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    tickets = SlackOutbox(env.client, env.table, pk=TICKET_OUTBOX_PK)
    tickets.add("pending-old")
    tickets.add("locked")
    SlackOutbox(env.client, env.table).add("approved")

    main(["status"])
    lines = capsys.readouterr().out.splitlines()
    assert "Slack messages owed: 1" in lines
    assert "Tickets owed: 2" in lines
    main(["status", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["slack_messages_owed"], out["tickets_owed"]) == (1, 2)


def test_status_counts_a_missing_queue_as_needing_a_person(
    env: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("sqs").delete_queue(
        QueueUrl=boto3.client("sqs").get_queue_url(QueueName=QUEUES[1])["QueueUrl"]
    )
    assert main(["status", "--json"]) == 1
    queue = json.loads(capsys.readouterr().out)["dead_letter_queues"][1]
    assert queue["name"] == "remedy-events-dlq"
    assert queue["depth"] is None
    assert queue["error"].startswith("cannot read the queue: ")
    assert "NonExistentQueue" in queue["error"]


def test_status_without_a_prefix_for_an_odd_table_name(
    env: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", "audit")
    assert main(["status"]) == 2
    assert capsys.readouterr().err == (
        "remedy status: the ledger table 'audit' does not end in '-ledger', so the queues' "
        "names are unknown: pass --prefix (the stack's Prefix parameter)\n"
    )


def test_history_says_who_when_how_and_why(env: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    _story(env)
    assert main(["history", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert len(steps) == 11
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    approved = next(s for s in steps if s["target"] == "APPROVED")
    assert approved == {
        "at": approved["at"],
        "key": "approved",
        "account": "111111111111",
        "account_name": "prod-payments",
        "source": "PENDING_APPROVAL",
        "target": "APPROVED",
        "by": "slack:U0PAYLEAD1",
        "how": "slack",
        "why": "ok",
        "ticket": "",
    }
    assert {s["how"] for s in steps} == {"system", "slack", "cli"}

    assert main(["history", "--by", "cli", "--csv"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "at",
        "key",
        "account",
        "account_name",
        "source",
        "target",
        "by",
        "how",
        "why",
        "ticket",
    ]
    # A note that looks like a formula is not one in a spreadsheet.
    assert rows[1][1:] == [
        "freed",
        "111111111111",
        "prod-payments",
        "QUARANTINED",
        "RELEASED",
        RELEASER,
        "cli",
        "'=HYPERLINK(x)",
        "",
    ]
    assert len(rows) == 2
    assert text.endswith("\r\n")


def test_history_filters(env: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    _story(env)

    def keys(*args: str) -> list[tuple[str, str]]:
        assert main(["history", "--json", *args]) == 0
        return [(s["key"], s["target"]) for s in json.loads(capsys.readouterr().out)]

    assert keys("--state", "LOCKED") == [("locked", "LOCKED")]
    assert keys("--by", "slack:U0PAYLEAD1") == [("approved", "APPROVED")]
    assert keys("--key", "freed") == [
        ("freed", "QUARANTINING"),
        ("freed", "QUARANTINED"),
        ("freed", "RELEASED"),
    ]
    assert keys("--since", (NOW - timedelta(hours=2)).isoformat()) == [
        ("pending-new", "PENDING_APPROVAL"),
        ("freed", "RELEASED"),
    ]
    until = (NOW - timedelta(days=2) + timedelta(minutes=30)).isoformat()
    assert ("approved", "APPROVED") not in keys("--until", until)
    assert keys("--account", "222222222222") == [("pending-new", "PENDING_APPROVAL")]
    assert keys("--account", "333333333333") == []


def test_history_refuses_a_bad_period(env: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--since", "2026-12-02", "--until", "2026-12-01"]) == 2
    assert capsys.readouterr().err == (
        "remedy history: --since 2026-12-02 00:00:00+00:00 is after --until "
        "2026-12-01 00:00:00+00:00\n"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["history", "--since", "yesterday"])
    assert exit_.value.code == 2
    assert "'yesterday' is not an ISO 8601 date or time" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["slack#outbox", "slack#digest#C0PAY#1700000000", "no-such-key"])
def test_history_of_a_key_that_is_no_entry_says_so_and_exits_2(
    env: Ledger, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # The outbox and a digest window are bookkeeping items in the ledger table, not entries.
    SlackOutbox(env.client, env.table).add("approved")
    env.client.put_item(
        TableName=env.table,
        Item={"pk": {"S": "slack#digest#C0PAY#1700000000"}, "arrived": {"N": "3"}},
    )
    before = env.client.scan(TableName=env.table)["Items"]

    assert main(["history", "--key", key]) == 2
    out = capsys.readouterr()
    assert out.err == f"remedy history: no ledger entry {key!r}\n"
    assert out.out == ""
    assert env.client.scan(TableName=env.table)["Items"] == before


#: Cursor up, erase the line, an OSC 8 hyperlink and a right-to-left override: what a member
#: can put in an S3 key or a note to hide or disguise rows on the operator's terminal.
HIDING = "\x1b[1A\x1b[2K\x1b]8;;https://evil.example\x07x\x1b]8;;\x07\u202e\x9b2J"


def _hostile(ledger: Ledger) -> str:
    base = finding_from("macie-classification-personal.json")
    obj = dataclasses.replace(base.s3_objects[0], key=f"people{HIDING}.csv")
    hostile = dataclasses.replace(base, resources=(obj,), type=f"Custom{HIDING}")
    create_at(ledger, NOW, hostile, f"key{HIDING}", State.PENDING_APPROVAL, "approve")
    store_at(ledger, NOW).transition(
        f"key{HIDING}", [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1", note=HIDING
    )
    create_at(ledger, NOW, hostile, "locked", State.QUARANTINING, "quarantine")
    store_at(ledger, NOW).transition(
        "locked", [State.QUARANTINING], State.LOCKED, by="remedy", note=f"held{HIDING}"
    )
    return f"people{HIDING}.csv"


def _no_control_characters(text: str) -> None:
    bad = [c for c in text if c not in "\n\r" and unicodedata.category(c) in ("Cc", "Cf")]
    assert bad == []


def test_status_and_history_escape_what_would_drive_the_terminal(
    env: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile(env)
    put_entry(
        store_at(env, NOW),
        finding_from("macie-classification-financial.json"),
        State.PENDING_APPROVAL,
        key=f"pending{HIDING}",
    )
    shown = "\\x1b[1A\\x1b[2K\\x1b]8;;https://evil.example\\x07x"

    assert main(["status"]) == 1
    out = capsys.readouterr().out
    _no_control_characters(out)
    assert f"pending{shown}" in out
    assert "held\\x1b[1A" in out

    assert main(["history"]) == 0
    out = capsys.readouterr().out
    _no_control_characters(out)
    assert f"key{shown}" in out

    assert main(["history", "--csv"]) == 0
    out = capsys.readouterr().out
    _no_control_characters(out)
    assert "\\u202e\\x9b2J" in out

    # JSON escapes them already (its own \u001b), and stays the exact data.
    assert main(["history", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert {s["why"] for s in steps} >= {HIDING, f"held{HIDING}"}


@pytest.mark.parametrize("command", [["status"], ["history"], ["history", "--key", "k"]])
def test_an_unreadable_ledger_is_one_line_and_exit_2(
    env: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", "gone-ledger")
    assert main([*command, "--prefix", "remedy"] if command == ["status"] else command) == 2
    assert capsys.readouterr() == (
        "",
        f"remedy {command[0]}: ledger table 'gone-ledger' not found: set REMEDY_LEDGER_TABLE "
        "to the core stack's LedgerTableName output and AWS_DEFAULT_REGION to its region\n",
    )
    assert boto3.client("dynamodb").list_tables()["TableNames"] == [TABLE]
