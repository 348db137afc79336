"""One event end to end on moto: normalise, decide (shipped policy), ledger, quarantine in
the finding's own account, notifiers told after every change."""

from __future__ import annotations

import json

import pytest

from fixtures_aws import (
    EVENTS,
    MEMBERS,
    ROOT,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    securityhub_copy,
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.ledger.base import Entry, HistoryItem, State
from remedy.pipeline import InProgress, Pipeline

A, B, C = MEMBERS
PERSONAL = "SensitiveData:S3Object/Personal"


class Recorder:
    """A notifier that remembers what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, State]] = []

    def on_change(self, entry: Entry) -> None:
        self.seen.append((entry.key, entry.state))


class Broken:
    def on_change(self, entry: Entry) -> None:
        raise RuntimeError("slack is down")


def s3_calls(world: World, account: str) -> list[str]:
    calls: list[str] = []
    world.member_s3(account).meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_a_credentials_finding_is_quarantined_end_to_end(world: World) -> None:
    bucket = world.bucket(A, "dev-artifacts", versioned=True)
    stored = world.put(A, bucket, "deploy/.aws/credentials", b"aws_secret_access_key=abc")
    recorder = Recorder()
    # The shipped policy, as deployed.
    pipeline = world.pipeline(notifiers=[recorder], policy_dir=ROOT / "policies")
    event = macie_event(A, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)

    (entry,) = pipeline.process(event)

    assert entry.state is State.QUARANTINED, entry.history[-1].note
    assert [(h.source, h.target) for h in entry.history] == [
        ("RECEIVED", "QUARANTINING"),
        ("QUARANTINING", "QUARANTINED"),
    ]
    assert entry.decision["rule"] == "quarantine-credentials"
    assert entry.attrs["destination"]["bucket"] == world.quarantine_bucket(A)
    assert recorder.seen == [(entry.key, State.QUARANTINING), (entry.key, State.QUARANTINED)]
    assert world.quarantined(stored) == [stored.body]
    assert not world.still_at_source(stored)
    assert world.store.get(entry.key) == entry


def test_native_macie_and_its_security_hub_copy_give_one_remediation(world: World) -> None:
    bucket = world.bucket(B, "dupes", versioned=True)
    stored = world.put(B, bucket, "keys/id_rsa", b"-----BEGIN OPENSSH PRIVATE KEY-----")
    calls = s3_calls(world, B)
    pipeline = world.pipeline()
    native = macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    copy = securityhub_copy(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)

    (first,) = pipeline.process(native)
    (second,) = pipeline.process(copy)

    assert first.key == second.key
    assert second.state is State.QUARANTINED and second.version == first.version
    assert calls.count("CopyObject") == 1 and calls.count("DeleteObject") == 1
    assert world.quarantined(stored) == [stored.body]


def test_a_forged_event_is_rejected_and_nothing_moves(world: World) -> None:
    bucket = world.bucket(A, "victim", versioned=True)
    stored = world.put(A, bucket, "payroll.csv", b"salaries")
    recorder = Recorder()
    pipeline = world.pipeline(notifiers=[recorder])
    # Member B sends a finding about A's object: B is not an aggregator.
    forged = macie_event(
        A, bucket, stored.key, version_id=stored.version_id, etag=stored.etag, envelope_account=B
    )

    (entry,) = pipeline.process(forged)

    assert entry.state is State.REJECTED
    assert B in entry.history[0].note and A in entry.history[0].note
    assert recorder.seen == [(entry.key, State.REJECTED)]
    assert world.still_at_source(stored)
    assert world.quarantined(stored) == []
    assert world.assume_calls == []


def test_the_shipped_forged_sample_is_rejected(world: World) -> None:
    event = json.loads((EVENTS / "macie-classification-forged-cross-account.json").read_text())
    (entry,) = world.pipeline().process(event)
    assert entry.state is State.REJECTED
    assert world.assume_calls == []


def test_acts_only_in_the_account_the_finding_names(world: World) -> None:
    mine = world.bucket(C, "team-c", versioned=True)
    stored = world.put(C, mine, "exports/users.csv", b"emails")
    # The same key in B's bucket, and B's copy of the data: neither may be touched.
    theirs = world.bucket(B, "team-b", versioned=True)
    other = world.put(B, theirs, "exports/users.csv", b"emails")
    # Delivered by the aggregator, about account C.
    event = securityhub_copy(C, mine, stored.key, version_id=stored.version_id, etag=stored.etag)

    (entry,) = world.pipeline().process(event)

    assert entry.state is State.QUARANTINED
    assert entry.account == C
    assert {c["RoleArn"] for c in world.assume_calls} == {
        f"arn:aws:iam::{C}:role/remedy-remediation"
    }
    assert world.still_at_source(other)
    assert world.quarantined(other) == []
    assert world.quarantined(stored) == [b"emails"]


def test_approval_first_then_the_remediator_quarantines(world: World) -> None:
    bucket = world.bucket(A, "hr", versioned=True)
    stored = world.put(A, bucket, "people.csv", b"names and birthdays")
    recorder = Recorder()
    pipeline = world.pipeline(notifiers=[recorder])
    event = macie_event(
        A,
        bucket,
        stored.key,
        version_id=stored.version_id,
        etag=stored.etag,
        finding_type=PERSONAL,
    )

    (entry,) = pipeline.process(event)
    assert entry.state is State.PENDING_APPROVAL
    assert world.still_at_source(stored) and world.assume_calls == []

    # What the Slack interactions handler does when an approver clicks Quarantine.
    world.store.transition(entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1")
    done = pipeline.remediate(entry.key)

    assert done.state is State.QUARANTINED
    assert [h.target for h in done.history] == [
        "PENDING_APPROVAL",
        "APPROVED",
        "QUARANTINING",
        "QUARANTINED",
    ]
    assert world.quarantined(stored) == [stored.body]
    assert recorder.seen == [
        (entry.key, State.PENDING_APPROVAL),
        (entry.key, State.QUARANTINING),
        (entry.key, State.QUARANTINED),
    ]
    # A second invocation of the remediator (Lambda retries) changes nothing.
    assert pipeline.remediate(entry.key) == done


@pytest.mark.parametrize(
    ("sample", "state"),
    [
        ("macie-policy-s3bucketpublic.json", State.NOTIFIED),
        ("securityhub-control-s3.13-lifecycle-low.json", State.IGNORED),
        ("securityhub-guardduty-ec2-command-and-control.json", State.NOTIFIED),
    ],
)
def test_notify_and_ignore_decisions_touch_nothing(world: World, sample: str, state: State) -> None:
    recorder = Recorder()
    event = json.loads((EVENTS / sample).read_text())
    entries = world.pipeline(notifiers=[recorder]).process(event)
    assert [e.state for e in entries] == [state]
    assert recorder.seen == [(entries[0].key, state)]
    assert world.assume_calls == []


def test_every_finding_of_a_batch_gets_its_own_entry(world: World) -> None:
    event = json.loads((EVENTS / "securityhub-multi-account-batch.json").read_text())
    entries = world.pipeline().process(event)
    assert len(entries) == len(event["detail"]["findings"]) == len({e.key for e in entries})
    assert {e.account for e in entries} == {f["AwsAccountId"] for f in event["detail"]["findings"]}


def test_redelivery_of_a_finished_finding_does_nothing(world: World) -> None:
    bucket = world.bucket(A, "twice", versioned=True)
    stored = world.put(A, bucket, "k", b"secret")
    pipeline = world.pipeline()
    event = macie_event(A, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    (done,) = pipeline.process(event)
    calls = s3_calls(world, A)
    (again,) = pipeline.process(event)
    assert again == done
    assert calls == []


def test_a_fresh_attempt_in_progress_is_left_to_its_worker(world: World) -> None:
    bucket = world.bucket(B, "busy", versioned=True)
    stored = world.put(B, bucket, "k", b"secret")
    event = macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    pipeline = world.pipeline()
    finding_key = world.finding(stored).key
    # Another worker claimed it (its Lambda is still running).
    world.store.create(
        Entry(
            key=finding_key,
            state=State.QUARANTINING,
            account=B,
            region="eu-west-1",
            finding=world.finding(stored).to_dict(),
            decision={
                "action": "quarantine",
                "rule": "r",
                "reason": "x",
                "remediation": "s3-quarantine",
            },
            created_at="",
            updated_at="",
            history=(HistoryItem("", "remedy", "RECEIVED", "QUARANTINING"),),
        )
    )
    with pytest.raises(InProgress, match="retry after"):
        pipeline.process(event)
    assert world.still_at_source(stored)
    # Past the lease the worker is known dead: the next delivery takes over and finishes.
    world.clock.advance(seconds=901)
    (entry,) = pipeline.process(event)
    assert entry.state is State.QUARANTINED
    assert "taking over" in entry.history[-2].note
    assert world.quarantined(stored) == [stored.body]


def test_a_failing_notifier_never_stops_the_remediation(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = world.bucket(C, "noisy", versioned=True)
    stored = world.put(C, bucket, "k", b"secret")
    counted: list[str] = []
    recorder = Recorder()
    pipeline = world.pipeline(notifiers=[Broken(), recorder])
    pipeline.announce.count = counted.append
    event = macie_event(C, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    (entry,) = pipeline.process(event)
    assert entry.state is State.QUARANTINED
    assert counted == ["NotifierErrors", "NotifierErrors"]
    assert len(recorder.seen) == 2
    assert "notifier Broken failed" in caplog.text


def test_an_unregistered_remediation_fails_with_a_reason(world: World) -> None:
    bucket = world.bucket(A, "unreg", versioned=True)
    stored = world.put(A, bucket, "k", b"secret")
    base = world.pipeline()
    pipeline = Pipeline(store=world.store, policy=base.policy, actions={}, clock=world.clock)
    event = macie_event(A, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    (entry,) = pipeline.process(event)
    assert entry.state is State.FAILED
    assert "'s3-quarantine', which is not registered" in entry.history[-1].note
    assert world.still_at_source(stored)


def test_the_deployed_member_role_suffices_for_the_whole_pipeline(world: World) -> None:
    bucket = world.bucket(B, "enforced", versioned=True)
    stored = world.put(B, bucket, "db/dump.sql", b"cards", Tagging="env=prod")
    pipeline = world.pipeline()
    event = macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    with world.enforced():
        (entry,) = pipeline.process(event)
    assert entry.state is State.QUARANTINED, entry.history[-1].note
    assert world.quarantined(stored) == [stored.body]
