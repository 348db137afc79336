"""Approval deadlines end to end on moto across accounts: a pending approval past its
rule's deadline is announced again once per period (Slack, threaded or escalated, and the
owners' email through SNS), never quarantined unless the rule says ``on_timeout:
quarantine``, and then approved by remedy with one conditional write that a person's click
at the same moment cannot double."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures_aws import (
    LEDGER_TABLE,
    MEMBERS,
    Stored,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    securityhub_copy,
    world_fixture,  # noqa: F401 - the fixture
)
from notify_support import atomic_dynamodb, slack, slack_client
from remedy.approvals.deadlines import ESCALATED_AT, MAX_REMINDERS, REMINDERS, Deadlines, Report
from remedy.approvals.decide import Decided, Decider, Decisions
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Conflict, Entry, State, stamp
from remedy.ledger.indexes import PENDING
from remedy.ledger.queries import LedgerQueries
from remedy.ledger.times import waiting_since
from remedy.ledger.vocabulary import CLOSED_AT_SOURCE
from remedy.normalise import normalise
from remedy.notify.composite import CompositeNotifier
from remedy.notify.owners import OwnersNotifier
from remedy.notify.securityhub import feedback_for
from remedy.notify.slack import SlackNotifier
from remedy.notify.slack_message import permalink
from remedy.policy import load_policy
from remedy.views.history import Filters, steps
from remedy.views.status import waiting

__all__ = ["atomic_dynamodb", "slack"]

A, B, _ = MEMBERS
PERSONAL = "SensitiveData:S3Object/Personal"
ADA = Decider("U0PAYLEAD1", "ada", "slack:U0PAYLEAD1", "in Slack by ada")
#: Objects in buckets named ``timeout-*`` are quarantined once the deadline passes; any
#: other personal data keeps waiting, reminded every 4 hours.
RULES = """\
version: 1
defaults:
  approval_deadline_hours: 4
rules:
  - id: approve-personal-then-quarantine
    match: {product: [Macie], type: ["SensitiveData:S3Object/Personal"], bucket: ["timeout-*"]}
    action: approve
    approval_deadline_hours: 2
    on_timeout: quarantine
  - id: approve-personal-data
    match: {product: [Macie], type: ["SensitiveData:S3Object/Personal"]}
    action: approve
"""


class Scene:
    """The pipeline, the Slack and owners' notifiers and the deadline runs, on one world."""

    def __init__(self, world: World, slack: SlackServer, policy_dir: Path) -> None:
        self.world = world
        self.slack = slack
        self.policy = load_policy(policy_dir)
        sns = world.core.client("sns")
        sqs = world.core.client("sqs")
        self.topic = sns.create_topic(Name=f"owners-{uuid.uuid4().hex[:8]}")["TopicArn"]
        self.queue = sqs.create_queue(QueueName=f"owners-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
        )
        self.notifier = CompositeNotifier(
            [
                ("slack", SlackNotifier(world.store, self.policy.accounts, slack_client(slack))),
                ("owners", OwnersNotifier(self.topic, self.policy.accounts, sns)),
            ]
        )
        self.pipeline = world.pipeline(notifiers=[self.notifier], policy_dir=policy_dir)
        self.handed: list[str] = []
        self.keys: set[str] = set()

    def deadlines(self, hand_over: Any = None) -> Deadlines:
        """A scheduled run's deadlines, as the Slack outbox function builds them."""
        queries = LedgerQueries(LEDGER_TABLE, self.world.core.client("dynamodb"))
        # The module's tests share one ledger table: this test's entries only.
        return Deadlines(
            lambda: (e for e in queries.waiting(PENDING) if e.key in self.keys),
            self.world.store,
            Decisions(self.world.store, self.notifier, hand_over or self.handed.append),
            self.notifier.remind,
            default_hours=24,
            clock=self.world.clock,
        )

    def ask(self, account: str, bucket: str, severity: str = "High") -> tuple[Stored, Entry]:
        """An object with personal data, and its finding decided: approval asked."""
        stored = self.world.put(account, self.world.bucket(account, bucket), "people.csv")
        event = macie_event(
            account,
            stored.bucket,
            stored.key,
            version_id=stored.version_id,
            etag=stored.etag,
            size=len(stored.body),
            finding_type=PERSONAL,
        )
        event["detail"]["severity"] = {"description": severity}
        (finding,) = normalise(event)
        entry = self.pipeline.handle(finding)
        assert entry.state is State.PENDING_APPROVAL
        self.keys.add(entry.key)
        return stored, entry

    def emails(self) -> list[dict[str, Any]]:
        sqs = self.world.core.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for message in got["Messages"]:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def posts(self) -> list[dict[str, Any]]:
        return self.slack.calls("chat.postMessage")

    def entry(self, key: str) -> Entry:
        entry = self.world.store.get(key)
        assert entry is not None
        return entry


@pytest.fixture
def scene(world: World, slack: SlackServer) -> Scene:
    folder = Path(tempfile.mkdtemp(prefix="policy-", dir=world.policy_dir.parent))
    shutil.copytree(world.policy_dir, folder, dirs_exist_ok=True)
    (folder / "remediation.yaml").write_text(RULES, encoding="utf-8")
    return Scene(world, slack, folder)


def test_the_decision_carries_the_rules_deadline(scene: Scene) -> None:
    _, waiting = scene.ask(B, "personal")
    _, timing_out = scene.ask(B, "timeout-personal")

    assert waiting.decision["deadline"] == {"hours": 4.0, "on_timeout": "keep-waiting"}
    assert timing_out.decision["deadline"] == {"hours": 2.0, "on_timeout": "quarantine"}


def test_a_reminder_goes_after_the_deadline_once_per_period_in_the_thread(scene: Scene) -> None:
    stored, entry = scene.ask(B, "personal")
    original = scene.entry(entry.key).attrs["slack"]
    scene.emails()  # the approval request itself
    deadlines = scene.deadlines()

    scene.world.clock.advance(hours=3, minutes=59)
    assert deadlines.run() == Report(pending=1)
    assert len(scene.posts()) == 1 and scene.emails() == []

    scene.world.clock.advance(minutes=1)
    assert deadlines.run() == Report(pending=1, reminded=1)
    # Once per period: the next runs within it send nothing.
    assert deadlines.run() == Report(pending=1)
    scene.world.clock.advance(hours=3)
    assert deadlines.run() == Report(pending=1)

    # staging-analytics has no channels_by_severity: a reply in the approval's thread,
    # also shown in the channel.
    _, reminder = scene.posts()
    assert reminder["channel"] == original["channel"]
    assert reminder["thread_ts"] == original["ts"]
    assert reminder["reply_broadcast"] is True
    text = json.dumps(reminder["blocks"])
    assert "reminder 1: still waiting for approval after 4h 0m (deadline 4 h)" in text
    assert entry.key in text
    (email,) = scene.emails()
    assert email["Subject"].startswith("remedy reminder [HIGH] Waiting for approval")
    assert email["Message"].startswith("Reminder: reminder 1: still waiting for approval")
    assert email["MessageAttributes"]["account_id"]["Value"] == B

    # The next period: the second reminder.
    scene.world.clock.advance(hours=1)
    assert deadlines.run() == Report(pending=1, reminded=1)
    assert len(scene.posts()) == 3 and len(scene.emails()) == 1

    # Never quarantined: the object is where it was, the entry still waits, and its age
    # still counts from the request.
    after = scene.entry(entry.key)
    assert after.state is State.PENDING_APPROVAL
    assert after.attrs[REMINDERS] == 2
    assert after.attrs["reminded_at"] == stamp(scene.world.clock.now)
    assert waiting_since(after) == entry.history[-1].at
    shown = waiting(after, scene.policy.accounts, scene.world.clock.now)
    assert (shown.reminders, shown.age_seconds) == (2, 8 * 3600)
    assert scene.world.still_at_source(stored)
    assert scene.handed == []
    # The history shows the first reminder, by remedy (the system); the next ones only
    # count (attrs), so the history stays bounded.
    notes = [
        (s.how, s.why)
        for s in steps([after], scene.policy.accounts, Filters())
        if s.source == s.target
    ]
    assert [how for how, _ in notes] == ["system"]
    assert notes[0][1].startswith("reminder 1: still waiting for approval after 4h 0m")


def test_a_reminder_escalates_to_the_accounts_top_channel_with_a_link(scene: Scene) -> None:
    # prod-payments: MEDIUM goes to #payments-security, HIGH and above to #payments-oncall.
    _, entry = scene.ask(A, "personal", severity="Medium")
    original = scene.entry(entry.key).attrs["slack"]
    assert original["channel"] == SlackServer.channel_id("#payments-security")
    scene.world.clock.advance(hours=4)

    assert scene.deadlines().run() == Report(pending=1, reminded=1)

    reminder = scene.posts()[-1]
    assert reminder["channel"] == "#payments-oncall"
    assert "thread_ts" not in reminder
    assert permalink(original["channel"], original["ts"]) in json.dumps(reminder["blocks"])


def test_two_runs_at_once_send_one_reminder(scene: Scene, atomic_dynamodb: None) -> None:
    _, entry = scene.ask(B, "personal")
    scene.world.clock.advance(hours=5)
    barrier = threading.Barrier(2)
    reports: list[Report] = []

    def run() -> None:
        deadlines = scene.deadlines()
        barrier.wait()
        reports.append(deadlines.run())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.reminded for r in reports) == [0, 1]
    assert len(scene.posts()) == 2  # the approval request and one reminder
    after = scene.entry(entry.key)
    assert after.attrs[REMINDERS] == 1
    assert [h.source == h.target for h in after.history].count(True) == 1


def test_on_timeout_quarantine_approves_as_remedy_and_the_object_is_moved(scene: Scene) -> None:
    stored, entry = scene.ask(B, "timeout-personal")
    deadlines = scene.deadlines()
    scene.world.clock.advance(hours=1, minutes=59)
    assert deadlines.run() == Report(pending=1)
    assert scene.entry(entry.key).state is State.PENDING_APPROVAL

    scene.world.clock.advance(minutes=1)
    assert deadlines.run() == Report(pending=1, timed_out=1)

    approved = scene.entry(entry.key)
    assert approved.state is State.APPROVED
    assert scene.handed == [entry.key]
    assert approved.attrs["decided_by"]["id"] == "remedy"
    assert approved.attrs["timed_out"]["deadline_hours"] == 2.0
    # The remediator carries it out as for a click.
    done = scene.pipeline.remediate(entry.key)

    assert done.state is State.QUARANTINED
    assert not scene.world.still_at_source(stored)
    assert scene.world.quarantined(stored) == [stored.body]
    history = steps([done], scene.policy.accounts, Filters())
    decision = next(s for s in history if s.target == "APPROVED")
    assert (decision.by, decision.how) == ("remedy", "system")
    assert decision.why == (
        "approved by remedy: the approval deadline of 2 h passed with no decision "
        "(waited 2h 0m; the rule says on_timeout: quarantine)"
    )
    # Nothing is pending any more: a later run neither reminds nor decides.
    assert deadlines.run() == Report()


def test_a_click_racing_the_timeout_gives_one_outcome(scene: Scene, atomic_dynamodb: None) -> None:
    stored, entry = scene.ask(B, "timeout-personal")
    scene.world.clock.advance(hours=3)
    handed: list[str] = []
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def click() -> None:
        deciding = Decisions(scene.world.store, scene.notifier, handed.append)
        barrier.wait()
        try:
            results["click"] = deciding.decide(entry.key, State.DISMISSED, ADA)
        except Conflict as lost:
            results["click"] = lost

    def timeout() -> None:
        deadlines = scene.deadlines(handed.append)
        barrier.wait()
        results["timeout"] = deadlines.run()

    threads = [threading.Thread(target=click), threading.Thread(target=timeout)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = scene.entry(entry.key)
    decisions = [h for h in final.history if h.target in ("APPROVED", "DISMISSED")]
    assert len(decisions) == 1
    if isinstance(results["click"], Decided):
        # The click may be written before the run lists what is pending, or after.
        assert results["timeout"] in (Report(pending=1), Report())
        assert final.state is State.DISMISSED and handed == []
        assert decisions[0].by == ADA.actor
    else:
        assert isinstance(results["click"], Conflict)
        assert results["timeout"] == Report(pending=1, timed_out=1)
        assert final.state is State.APPROVED and handed == [entry.key]
        assert decisions[0].by == "remedy"
    assert scene.world.still_at_source(stored)  # nothing acted before the remediator runs


def test_a_decided_entry_is_neither_reminded_nor_timed_out(scene: Scene) -> None:
    _, waiting = scene.ask(B, "personal")
    _, timing_out = scene.ask(B, "timeout-personal")
    deciding = Decisions(scene.world.store, scene.notifier, scene.handed.append)
    deciding.decide(waiting.key, State.DISMISSED, ADA)
    deciding.decide(timing_out.key, State.DISMISSED, ADA)
    before = len(scene.posts())
    scene.world.clock.advance(hours=30)

    assert scene.deadlines().run() == Report()

    assert len(scene.posts()) == before
    assert scene.entry(timing_out.key).state is State.DISMISSED


def test_a_reminder_slack_refuses_is_counted_and_the_email_still_goes(scene: Scene) -> None:
    _, entry = scene.ask(B, "personal")
    scene.emails()
    scene.world.clock.advance(hours=4)
    scene.slack.fail("chat.postMessage", error="channel_not_found")

    assert scene.deadlines().run() == Report(pending=1, reminded=1)

    assert scene.notifier.failures["slack"] == 1
    assert len(scene.emails()) == 1
    # Claimed: the period's reminder is not sent twice; the next period tries again.
    assert scene.entry(entry.key).attrs[REMINDERS] == 1


# -- issue 18, item 4: an approval whose finding was closed at its source -------------------

PERSONAL_ASFF = "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal"


def archived(stored: Stored, *, envelope: str | None = None) -> dict[str, Any]:
    """Macie's update of the finding about `stored`: archived (a suppression rule)."""
    event = macie_event(
        stored.account,
        stored.bucket,
        stored.key,
        version_id=stored.version_id,
        etag=stored.etag,
        finding_type=PERSONAL,
        envelope_account=envelope,
    )
    event["detail"]["archived"] = True
    return event


def suppressed(stored: Stored) -> dict[str, Any]:
    """Security Hub's copy of the same finding, its workflow set to SUPPRESSED."""
    event = securityhub_copy(
        stored.account,
        stored.bucket,
        stored.key,
        version_id=stored.version_id,
        etag=stored.etag,
        asff_type=PERSONAL_ASFF,
    )
    finding = event["detail"]["findings"][0]
    finding["Workflow"]["Status"] = finding["WorkflowState"] = "SUPPRESSED"
    return event


def test_an_archived_finding_is_never_quarantined_by_its_deadline(scene: Scene) -> None:
    stored, entry = scene.ask(B, "timeout-personal")
    updates = len(scene.slack.calls("chat.update"))

    (marked,) = scene.pipeline.process(archived(stored))
    (again,) = scene.pipeline.process(archived(stored))  # said twice: marked once

    assert marked.key == again.key == entry.key
    assert marked.state is State.PENDING_APPROVAL
    assert marked.attrs[CLOSED_AT_SOURCE]["why"] == "RecordState ARCHIVED"
    assert again.version == marked.version and len(again.history) == len(marked.history)
    note = marked.history[-1].note
    assert note.startswith("closed at the source (RecordState ARCHIVED):")
    # The approval's Slack message now says so.
    (update,) = scene.slack.calls("chat.update")[updates:]
    assert update["ts"] == marked.attrs["slack"]["ts"]
    assert "closed at the source (RecordState ARCHIVED)" in json.dumps(update["blocks"])

    scene.world.clock.advance(hours=30)
    assert scene.deadlines().run() == Report(pending=1)

    after = scene.entry(entry.key)
    assert after.state is State.PENDING_APPROVAL
    assert scene.handed == []
    assert scene.world.still_at_source(stored)


def test_a_suppressed_finding_is_no_longer_reminded(scene: Scene) -> None:
    stored, entry = scene.ask(B, "personal")
    scene.emails()
    posts = len(scene.posts())

    (marked,) = scene.pipeline.process(suppressed(stored))

    assert marked.key == entry.key
    assert marked.attrs[CLOSED_AT_SOURCE]["why"] == "Workflow SUPPRESSED"
    # Security Hub's workflow stays as the source set it (no NOTIFIED written over it).
    assert feedback_for(marked) is None
    for _ in range(3):
        scene.world.clock.advance(hours=4)
        assert scene.deadlines().run() == Report(pending=1)
    assert len(scene.posts()) == posts and scene.emails() == []
    assert REMINDERS not in scene.entry(entry.key).attrs


def test_an_archive_forwarded_by_another_member_marks_nothing(scene: Scene) -> None:
    stored, entry = scene.ask(B, "timeout-personal")

    (seen,) = scene.pipeline.process(archived(stored, envelope=A))

    assert seen.key == entry.key and CLOSED_AT_SOURCE not in seen.attrs
    scene.world.clock.advance(hours=2)
    assert scene.deadlines().run() == Report(pending=1, timed_out=1)


def test_an_archive_about_other_bytes_at_the_key_marks_nothing(scene: Scene) -> None:
    stored, entry = scene.ask(B, "timeout-personal")
    earlier = replace(stored, etag='"9e107d9d372bb6826bd81d3542a419d6"')

    (seen,) = scene.pipeline.process(archived(earlier))

    assert CLOSED_AT_SOURCE not in scene.entry(entry.key).attrs
    assert seen.key != entry.key or CLOSED_AT_SOURCE not in seen.attrs


def _pad_history(scene: Scene, key: str, size: int) -> None:
    """`key`'s history grown by `size` bytes of notes, as ~1,000 reminders once grew it."""
    note = "x" * 1000
    items = [
        {"M": {k: {"S": v} for k, v in (("at", "t"), ("by", "remedy"), ("note", note))}}
        for _ in range(size // 1000)
    ]
    scene.world.core.client("dynamodb").update_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="SET history = list_append(history, :more)",
        ExpressionAttributeValues={":more": {"L": items}},
    )


def test_one_entry_that_cannot_be_written_stops_no_other_deadline(scene: Scene) -> None:
    # The oldest pending approval (listed first) has a history near DynamoDB's 400 KB: its
    # reminder's write fails. Every other approval is still reminded or timed out.
    _, stuck = scene.ask(A, "personal")
    _pad_history(scene, stuck.key, 395_000)
    scene.world.clock.advance(minutes=1)
    _, waiting = scene.ask(B, "personal")
    stored, timing_out = scene.ask(B, "timeout-personal")
    scene.world.clock.advance(hours=4)
    posts = len(scene.posts())

    assert scene.deadlines().run() == Report(pending=3, reminded=1, timed_out=1, failed=1)

    assert scene.entry(stuck.key).attrs.get(REMINDERS) is None
    assert scene.entry(waiting.key).attrs[REMINDERS] == 1
    assert scene.entry(timing_out.key).state is State.APPROVED
    assert scene.handed == [timing_out.key]
    # The reminder for B, and the timed-out approval's message updated.
    assert len(scene.posts()) == posts + 1
    assert scene.world.still_at_source(stored)


#: Runs of the forgotten approval's deadlines: twice the reminders and the escalation.
PERIODS = 2 * (MAX_REMINDERS + 1)


def test_reminders_stop_after_the_bound_with_one_escalation_and_a_bounded_history(
    scene: Scene,
) -> None:
    _, entry = scene.ask(B, "personal")
    scene.emails()
    before = scene.entry(entry.key)
    deadlines = scene.deadlines()
    reports = []
    assert MAX_REMINDERS == 5  # the 6th period, after 1 day, escalates
    # A forgotten approval, 4-hour deadline: PERIODS scheduled runs, the escalation's and
    # as many again after it (each run past the bound must stay silent).
    for _ in range(PERIODS):
        scene.world.clock.advance(hours=4)
        reports.append(deadlines.run())

    assert sum(r.reminded for r in reports) == MAX_REMINDERS
    assert sum(r.escalated for r in reports) == 1
    assert reports[MAX_REMINDERS] == Report(pending=1, escalated=1)
    assert set(reports[MAX_REMINDERS + 1 :]) == {Report(pending=1)}
    after = scene.entry(entry.key)
    assert after.state is State.PENDING_APPROVAL
    assert after.attrs[REMINDERS] == MAX_REMINDERS
    assert after.attrs[ESCALATED_AT] == stamp(before_escalation(scene, MAX_REMINDERS + 1))
    # The history: the first reminder and the escalation, never one item per reminder.
    notes = [h.note for h in after.history[len(before.history) :]]
    assert [n.split(":")[0] for n in notes] == ["reminder 1", "escalated"]
    assert notes[1] == (
        "escalated: still waiting for approval after 1d 0h "
        f"(deadline 4 h) and {MAX_REMINDERS} reminders; remedy reminds no more and keeps "
        "waiting for a person"
    )
    # Slack and email: each reminder and the one escalation, then silence.
    assert len(scene.posts()) == 1 + MAX_REMINDERS + 1
    emails = scene.emails()
    assert len(emails) == MAX_REMINDERS + 1
    assert emails[-1]["Message"].startswith("Reminder: escalated: still waiting for approval")


def before_escalation(scene: Scene, periods: int) -> datetime:
    """When the escalation was sent: the run at `periods` deadlines after the request."""
    return scene.world.clock.now - timedelta(hours=4 * (PERIODS - periods))
