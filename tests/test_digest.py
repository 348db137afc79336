"""Bursts: past the threshold, one digest per channel and window; nothing dropped."""

from __future__ import annotations

import dataclasses
import json
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from notify_support import (
    REGION,
    Ledger,
    accounts,
    atomic_dynamodb,
    aws,
    finding_from,
    ledger,
    put_entry,
    slack,
    slack_client,
)
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.model import Finding
from remedy.notify.digest import MAX_LABELS, PREFIX, DigestConfig, Digests
from remedy.notify.outbox import SlackOutbox
from remedy.notify.slack import SlackNotifier, SlackUnavailable
from remedy.policy.accounts import Accounts

__all__ = ["accounts", "atomic_dynamodb", "aws", "ledger", "slack"]

# All of these route HIGH findings to the default block's "#sec-findings".
BURST_ACCOUNTS = ("333333333333", "555555555555", "123456789012", "444444444444")
TYPES = ("SensitiveData:S3Object/Credentials", "SensitiveData:S3Object/Financial")
CHANNEL = "#sec-findings"
THRESHOLD = 20


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def burst_findings(count: int, start: int = 0) -> Iterator[Finding]:
    base = finding_from("macie-classification-forged-cross-account.json")  # HIGH
    for i in range(start, start + count):
        obj = dataclasses.replace(base.resources[0], key=f"exports/file-{i}.csv")
        yield dataclasses.replace(
            base,
            key=f"m-{i:032x}",
            account=BURST_ACCOUNTS[i % len(BURST_ACCOUNTS)],
            envelope_account=BURST_ACCOUNTS[i % len(BURST_ACCOUNTS)],
            type=TYPES[i % len(TYPES)],
            resources=(obj, base.resources[1]),
        )


def make_notifier(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    clock: Clock,
    outbox_interval: float = 60.0,
    connection_retries: int = 2,
) -> SlackNotifier:
    return SlackNotifier(
        ledger.store,
        accounts,
        slack_client(slack, connection_retries=connection_retries),
        digests=Digests(
            ledger.client,
            ledger.table,
            accounts,
            DigestConfig(threshold=THRESHOLD, window_seconds=300, min_interval=0),
            clock=clock,
        ),
        outbox=SlackOutbox(ledger.client, ledger.table),
        outbox_interval=outbox_interval,
    )


def run_batches(notifiers: list[SlackNotifier], entries: list[Entry], batch: int = 10) -> None:
    """As the findings function does: a batch per invocation, a flush at its end; the
    invocations spread over several warm containers."""
    for n, start in enumerate(range(0, len(entries), batch)):
        notifier = notifiers[n % len(notifiers)]
        for entry in entries[start : start + batch]:
            notifier.on_change(entry)
        notifier.flush()


def all_slack_attrs(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """``attrs.slack`` of every finding entry, read with a few scans, not a read per key."""
    found: dict[str, dict[str, Any]] = {}
    reader = TypeDeserializer()
    for page in ledger.client.get_paginator("scan").paginate(TableName=ledger.table):
        for item in page["Items"]:
            if item["pk"]["S"].startswith("m-"):
                attrs = reader.deserialize(item["attrs"])
                found[item["pk"]["S"]] = attrs.get("slack") or {}
    return found


def digest_counts(message_blocks: list[dict[str, Any]]) -> dict[str, int]:
    """The per-account and per-type numbers a digest message shows."""
    fields = message_blocks[2]["fields"]
    out: dict[str, int] = {}
    for field in fields:
        title, *lines = field["text"].split("\n")
        out[title] = sum(int(line.rsplit(": ", 1)[1]) for line in lines)
    return out


def test_burst_of_1000_becomes_one_digest_and_nothing_is_dropped(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    clock = Clock()
    notifiers = [make_notifier(ledger, accounts, slack, clock) for _ in range(5)]
    entries = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify") for f in burst_findings(1000)
    ]
    # Approvals arriving in the middle of the burst keep their own interactive messages.
    approvals = [put_entry(ledger.store, f) for f in burst_findings(5, start=5000)]
    mixed = entries[:500] + approvals + entries[500:]

    run_batches(notifiers, mixed)

    posts = slack.calls("chat.postMessage")
    digests = [m for m in slack.messages(CHANNEL) if m.text.startswith(":package: Digest")]
    assert len(digests) == 1
    assert len(posts) == THRESHOLD + len(approvals) + 1
    per_finding = len(posts) / len(mixed)
    print(f"\nSlack messages per finding in a burst of {len(mixed)}: {per_finding:.3f}")

    slack_attrs = all_slack_attrs(ledger)
    own, digested = [], []
    for entry in mixed:
        if slack_attrs[entry.key].get("ts"):
            own.append(entry.key)
        else:
            assert slack_attrs[entry.key]["digest"].startswith(PREFIX + CHANNEL + "#")
            digested.append(entry.key)
    assert len(own) == THRESHOLD + len(approvals)
    assert {a.key for a in approvals} <= set(own)
    assert len(digested) == 1000 - THRESHOLD
    buttons = [m for m in slack.messages(CHANNEL) if "remedy_quarantine" in json.dumps(m.blocks)]
    assert len(buttons) == len(approvals)

    final = digests[0]
    assert final.text == f":package: Digest: {len(digested)} more findings in {CHANNEL}"
    assert digest_counts(final.blocks) == {
        "*By account*": len(digested),
        "*By type*": len(digested),
    }
    assert final.blocks[3]["text"]["text"].count("• *HIGH*") == 10


def test_a_contained_change_awaiting_approval_keeps_its_own_message_past_the_threshold(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    notifier = make_notifier(ledger, accounts, slack, Clock())
    entries = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify")
        for f in burst_findings(THRESHOLD + 5)
    ]
    (finding,) = burst_findings(1, start=9000)
    # As the pipeline leaves a contain-first remediation: contained, approvers not yet asked.
    claimed = put_entry(ledger.store, finding, State.QUARANTINING)
    contained = ledger.store.transition(
        claimed.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remedy",
        attrs={"awaiting_approval": True},
    )

    run_batches([notifier], [*entries, contained])

    slack_attrs = all_slack_attrs(ledger)
    assert slack_attrs[contained.key].get("ts"), "contained change was folded into the digest"
    assert "digest" not in slack_attrs[contained.key]
    # The ones past the threshold that need nobody went into the digest.
    assert sum(1 for e in entries if "digest" in slack_attrs[e.key]) == 5


def test_concurrent_invocations_lose_no_finding_in_the_digest(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, atomic_dynamodb: None
) -> None:
    clock = Clock()
    entries = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify") for f in burst_findings(120)
    ]
    errors: list[str] = []
    # Each worker is a container of its own: its own session, clients and notifier.
    containers = [boto3.session.Session(region_name=REGION).client("dynamodb") for _ in range(5)]

    def worker(client: Any, part: list[Entry]) -> None:
        own = Ledger(DynamoDBLedgerStore(ledger.table, client), client, ledger.table)
        try:
            run_batches([make_notifier(own, accounts, slack, clock)], part)
        except Exception:
            errors.append(traceback.format_exc())

    threads = [
        threading.Thread(target=worker, args=(containers[i], entries[i::5])) for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    digest = [m for m in slack.messages(CHANNEL) if m.text.startswith(":package: Digest")]
    assert len(digest) == 1
    assert digest[0].text == f":package: Digest: {120 - THRESHOLD} more findings in {CHANNEL}"
    assert len(slack.calls("chat.postMessage")) == THRESHOLD + 1


def test_a_new_window_starts_a_new_count(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    clock = Clock()
    notifier = make_notifier(ledger, accounts, slack, clock)
    first = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify")
        for f in burst_findings(THRESHOLD + 3)
    ]
    run_batches([notifier], first)
    clock.now += 300
    later = put_entry(
        ledger.store, next(burst_findings(1, start=9000)), State.NOTIFIED, action="notify"
    )
    notifier.on_change(later)
    stored = ledger.store.get(later.key)
    assert stored is not None and stored.attrs["slack"]["ts"]
    assert len(slack.calls("chat.postMessage")) == THRESHOLD + 1 + 1


def test_digest_owed_while_slack_is_down_is_posted_when_it_returns(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    clock = Clock()
    notifier = make_notifier(ledger, accounts, slack, clock, connection_retries=0)
    entries = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify")
        for f in burst_findings(THRESHOLD + 30)
    ]
    run_batches([notifier], entries[:THRESHOLD])
    slack.stop()
    # The first finding past the threshold posts the digest: Slack is down, so it is owed.
    with pytest.raises(SlackUnavailable):
        notifier.on_change(entries[THRESHOLD])
    for entry in entries[THRESHOLD + 1 :]:
        notifier.on_change(entry)  # counted into the digest: no Slack call
    with pytest.raises(SlackUnavailable, match="digest not updated"):
        notifier.flush()
    window = (ledger.store.get(entries[-1].key) or entries[-1]).attrs["slack"]["digest"]
    assert window in SlackOutbox(ledger.client, ledger.table).pending(10)

    slack.start()
    other = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    # A later invocation (a fresh container checks the outbox first).
    make_notifier(ledger, accounts, slack, clock).on_change(other)
    digest = [m for m in slack.messages(CHANNEL) if m.text.startswith(":package: Digest")]
    assert [d.text for d in digest] == [f":package: Digest: 30 more findings in {CHANNEL}"]
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == []


def test_what_re_sending_counts_into_a_digest_is_shown_by_the_same_flush(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    """After an outage longer than a window, re-sending what is owed counts findings into
    the current window's digest. The flush that re-sends them (the scheduled Slack outbox
    function's only one) must show them, not leave the digest short until a later flush
    by the same container, which a recycled container never makes."""
    clock = Clock()
    notifier = make_notifier(ledger, accounts, slack, clock, connection_retries=0)
    entries = [
        put_entry(ledger.store, f, State.NOTIFIED, action="notify")
        for f in burst_findings(2 * THRESHOLD)
    ]
    slack.stop()
    for window in (entries[:THRESHOLD], entries[THRESHOLD:]):
        for entry in window:  # under each window's threshold: each its own message, owed
            with pytest.raises(SlackUnavailable):
                notifier.on_change(entry)
        clock.now += 300
    assert len(SlackOutbox(ledger.client, ledger.table).pending(100)) == 2 * THRESHOLD

    slack.start()
    resender = make_notifier(ledger, accounts, slack, clock)
    resender.outbox_batch = 100
    resender.flush()

    (digest,) = [m for m in slack.messages(CHANNEL) if m.text.startswith(":package: Digest")]
    assert digest.text == f":package: Digest: {THRESHOLD} more findings in {CHANNEL}"
    assert len(slack.calls("chat.postMessage")) == THRESHOLD + 1
    assert SlackOutbox(ledger.client, ledger.table).pending(100) == []


def test_a_finding_added_while_the_digest_renders_is_shown_before_the_lease_is_freed(
    ledger: Ledger, accounts: Accounts
) -> None:
    """The lease protocol, step by step: a second refresh finds the lease taken and leaves
    at once; a finding counted while the holder renders makes its release fail, so the
    holder renders again; the digest ends showing both."""
    digests = Digests(
        ledger.client,
        ledger.table,
        accounts,
        DigestConfig(threshold=0, min_interval=0),
        clock=Clock(),
    )
    first, second = list(burst_findings(2))
    entries = [put_entry(ledger.store, f, State.NOTIFIED, action="notify") for f in (first, second)]
    window = digests.window(CHANNEL)
    assert digests.place(window, entries[0]) == 1
    shown: list[str] = []
    competing: list[bool] = []

    def post(channel: str, message: Any) -> tuple[str, str]:
        shown.append(message.text)
        # Meanwhile another invocation counts a finding and tries to refresh.
        assert digests.place(window, entries[1]) == 2
        competing.append(digests.refresh(window.pk, post, update))
        return "C0SECFIND01", "1.000001"

    def update(channel: str, ts: str, message: Any) -> None:
        assert (channel, ts) == ("C0SECFIND01", "1.000001")
        shown.append(message.text)

    assert digests.refresh(window.pk, post, update) is True
    assert competing == [False]
    assert shown == [
        f":package: Digest: 1 more findings in {CHANNEL}",
        f":package: Digest: 2 more findings in {CHANNEL}",
    ]
    # Nothing new since: a later refresh has nothing to do.
    assert digests.refresh(window.pk, post, update) is False


def test_a_window_of_many_long_types_stays_bounded_and_drops_no_account(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    # One member sends findings of 450 distinct custom types of 1,000 characters each into
    # the shared channel: unbounded, the window item would pass DynamoDB's 400 KB.
    clock = Clock()
    notifier = make_notifier(ledger, accounts, slack, clock)
    member = BURST_ACCOUNTS[0]
    entries = [
        put_entry(
            ledger.store,
            dataclasses.replace(f, account=member, type=f"Custom/{i:04d}/" + "x" * 1000),
            State.NOTIFIED,
            action="notify",
        )
        for i, f in enumerate(burst_findings(THRESHOLD + 450))
    ]
    run_batches([notifier], entries)
    # Then another account's finding reaches the same channel in the same window.
    other = next(burst_findings(1, start=9000))
    theirs = put_entry(
        ledger.store,
        dataclasses.replace(other, account=BURST_ACCOUNTS[1]),
        State.NOTIFIED,
        action="notify",
    )
    notifier.on_change(theirs)
    notifier.flush()

    window = (ledger.store.get(theirs.key) or theirs).attrs["slack"]["digest"]
    item = ledger.client.get_item(TableName=ledger.table, Key={"pk": {"S": window}})["Item"]
    assert len(json.dumps(item)) < 150_000
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == []
    (digest,) = [m for m in slack.messages(CHANNEL) if m.text.startswith(":package: Digest")]
    assert digest.text == f":package: Digest: 451 more findings in {CHANNEL}"
    assert digest_counts(digest.blocks) == {"*By account*": 451, "*By type*": 451}
    assert f"(others): {450 - MAX_LABELS + 1}" in json.dumps(digest.blocks)


def test_any_failure_to_notify_leaves_the_message_owed(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    # The digest's ledger write fails (here: a table that is not there), not Slack.
    notifier = SlackNotifier(
        ledger.store,
        accounts,
        slack_client(slack),
        digests=Digests(ledger.client, "no-such-table", accounts, clock=Clock()),
        outbox=SlackOutbox(ledger.client, ledger.table),
    )
    entry = put_entry(
        ledger.store, next(burst_findings(1, start=7000)), State.NOTIFIED, action="notify"
    )

    with pytest.raises(SlackUnavailable) as owed:
        notifier.on_change(entry)

    assert str(owed.value).startswith(
        f"Slack message for {entry.key} (NOTIFIED) not sent: An error occurred "
        "(ResourceNotFoundException) when calling the UpdateItem operation"
    )
    assert (ledger.store.get(entry.key) or entry).attrs["slack_pending"] is True
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == [entry.key]
    assert notifier.owed() == 1
    assert slack.calls("chat.postMessage") == []
