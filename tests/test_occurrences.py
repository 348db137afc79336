"""Occurrences on moto across member accounts: a problem that comes back is remediated
again, a redelivery of one occurrence is remediated once, and a copy remedy ignores or
rejects never pre-empts the real finding (issue 9, points 1 and 3)."""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fixtures_aws import (
    EVENTS,
    MEMBERS,
    REGION,
    ROOT,
    Stored,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    securityhub_copy,
    world_fixture,  # noqa: F401 - the fixture
)
from remedy import occurrences
from remedy.approvals.release import release
from remedy.ledger.base import State, stamp
from remedy.policy import load_policy
from remedy.views.history import Filters, steps
from test_malware_pipeline import EICAR, scan_result

A, B, C = MEMBERS
BPA_OFF = {
    "BlockPublicAcls": False,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def s3_calls(world: World, account: str) -> list[str]:
    calls: list[str] = []
    world.member_s3(account).meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def s38(
    account: str,
    bucket: str,
    updated_at: str,
    *,
    compliance: str = "FAILED",
    workflow: str = "NEW",
) -> dict[str, Any]:
    """Security Hub's S3.8 finding about `bucket`: one finding Id for ever, as Security
    Hub keeps it, at the state and time given."""
    event: dict[str, Any] = copy.deepcopy(
        json.loads((EVENTS / "securityhub-control-s3.8-block-public-access.json").read_text())
    )
    event["id"] = str(uuid.uuid4())
    event["account"] = account
    finding = event["detail"]["findings"][0]
    finding["Id"] = f"arn:aws:securityhub:{REGION}:{account}:security-control/S3.8/finding/{bucket}"
    finding["AwsAccountId"] = account
    finding["UpdatedAt"] = updated_at
    finding["Compliance"]["Status"] = compliance
    finding["Workflow"]["Status"] = finding["WorkflowState"] = workflow
    finding["Resources"][0]["Id"] = f"arn:aws:s3:::{bucket}"
    return event


def test_a_nightly_export_rewritten_at_the_same_key_is_quarantined_again(world: World) -> None:
    bucket = world.bucket(C, "exports")  # unversioned
    pipeline = world.pipeline()
    monday = world.put(C, bucket, "nightly/users.csv", b"monday's secrets")
    (first,) = pipeline.process(macie_event(C, bucket, monday.key, etag=monday.etag))
    assert first.state is State.QUARANTINED, first.history[-1].note

    tuesday = world.put(C, bucket, "nightly/users.csv", b"tuesday's secrets")
    event = macie_event(C, bucket, tuesday.key, etag=tuesday.etag)
    calls = s3_calls(world, C)
    (second,) = pipeline.process(event)
    (again,) = pipeline.process(copy.deepcopy(event))  # its redelivery

    # Its own entry, the second occurrence of the key, linked to the first.
    assert second.key == f"{first.key}.2"
    assert second.attrs[occurrences.NUMBER] == 2
    assert second.attrs[occurrences.PREVIOUS] == first.key
    assert second.state is State.QUARANTINED, second.history[-1].note
    assert again.key == second.key and again.version == second.version
    # Monday's event delivered late is Monday's occurrence; a Security Hub copy that leaves
    # the ETag out cannot be told apart from the newest, and is taken as it.
    (late,) = pipeline.process(macie_event(C, bucket, monday.key, etag=monday.etag))
    (etagless,) = pipeline.process(securityhub_copy(C, bucket, tuesday.key))
    assert late.key == first.key and late.version == first.version
    assert etagless.key == second.key and etagless.version == second.version
    assert calls.count("CopyObject") == 1 and calls.count("DeleteObject") == 1
    assert world.read(C, bucket, "nightly/users.csv") is None
    assert sorted(world.quarantined(tuesday)) == [b"monday's secrets", b"tuesday's secrets"]
    # Release names one occurrence: Monday's comes back, Tuesday's stays quarantined.
    released = release(first.key, by="alice", store=world.store, actions=pipeline.actions)
    assert released.state is State.RELEASED
    assert world.read(C, bucket, "nightly/users.csv") == b"monday's secrets"
    stays = world.store.get(second.key)
    assert stays is not None and stays.state is State.QUARANTINED


def test_a_security_hub_control_that_fails_again_is_remediated_again(world: World) -> None:
    bucket = world.bucket(A, "site")
    s3 = world.s3(A)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    failed = s38(A, bucket, "2026-11-01T10:00:00.000Z")
    calls = s3_calls(world, A)

    (first,) = pipeline.process(failed)
    assert first.state is State.QUARANTINED, first.history[-1].note
    # remedy's own feedback, then Security Hub's next check: the control passes.
    for resolved in (
        s38(A, bucket, "2026-11-01T10:00:00.000Z", workflow="RESOLVED"),
        s38(A, bucket, "2026-11-01T22:00:00.000Z", compliance="PASSED", workflow="RESOLVED"),
    ):
        (seen,) = pipeline.process(resolved)
        assert seen.key == first.key and seen.state is State.QUARANTINED
    # A user turns Block Public Access off again; Security Hub reopens the same finding
    # (after the hour in which a re-opening is held: see the rate bound below).
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    world.clock.advance(minutes=61)
    reopened = s38(A, bucket, "2026-11-02T09:00:00.000Z")

    (second,) = pipeline.process(reopened)
    (redelivered,) = pipeline.process(copy.deepcopy(reopened))
    (late,) = pipeline.process(copy.deepcopy(failed))  # the first event, delivered late

    assert second.key == occurrences.key_of(first.key, 2) == f"{first.key}.2"
    assert second.state is State.QUARANTINED, second.history[-1].note
    assert second.attrs[occurrences.NUMBER] == 2
    assert second.attrs[occurrences.PREVIOUS] == first.key
    assert "occurrence 2 of" in second.history[0].note
    assert redelivered.key == late.key == second.key
    assert redelivered.version == late.version == second.version
    assert calls.count("PutPublicAccessBlock") == 2
    config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(config.values())
    head = world.store.get(first.key)
    assert head is not None and head.state is State.QUARANTINED
    assert head.attrs[occurrences.LATEST] == 2


def test_a_control_fix_a_person_released_is_not_made_again_by_the_next_check(
    world: World,
) -> None:
    """Release puts back the setting remedy found, so Security Hub's next check fails the
    control again: that is the person's decision showing, not the problem coming back. Only
    a pass after the release (someone fixed it by hand) and a failure after it reopen."""
    bucket = world.bucket(A, "site")
    s3 = world.s3(A)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    (first,) = pipeline.process(s38(A, bucket, "2026-11-01T10:00:00.000Z"))
    assert first.state is State.QUARANTINED, first.history[-1].note
    # Security Hub's check after the fix passes; then alice releases (at the world's clock).
    passed = s38(A, bucket, "2026-11-01T10:30:00.000Z", compliance="PASSED", workflow="RESOLVED")
    pipeline.process(passed)
    world.clock.advance(minutes=61)
    released = release(first.key, by="alice", store=world.store, actions=pipeline.actions)
    assert released.state is State.RELEASED
    calls = s3_calls(world, A)
    at = datetime.fromisoformat(released.attrs["release"]["at"])

    def later(minutes: int) -> str:
        return (at + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    (again,) = pipeline.process(s38(A, bucket, later(30)))
    assert again.key == first.key and again.state is State.RELEASED
    assert calls == []
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == BPA_OFF
    # Someone turns the block on by hand, Security Hub passes it, then it is off again.
    world.clock.advance(minutes=61)
    pipeline.process(s38(A, bucket, later(60), compliance="PASSED", workflow="RESOLVED"))
    (reopened,) = pipeline.process(s38(A, bucket, later(120)))
    assert reopened.key == f"{first.key}.2"
    assert reopened.state is State.QUARANTINED, reopened.history[-1].note
    assert calls.count("PutPublicAccessBlock") == 1


def test_a_control_that_never_passed_is_not_remediated_twice(world: World) -> None:
    """Without a PASSED/RESOLVED/ARCHIVED in between, a newer FAILED/NEW (a periodic
    check) is the same occurrence."""
    bucket = world.bucket(B, "still-failing")
    world.s3(B).put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    (first,) = pipeline.process(s38(B, bucket, "2026-11-01T10:00:00.000Z"))
    (later,) = pipeline.process(s38(B, bucket, "2026-11-01T22:00:00.000Z"))
    assert later.key == first.key and later.version == first.version


def macie_policy(account: str, bucket: str, count: int) -> dict[str, Any]:
    """Macie's policy finding that `bucket` is public, its `count`-th occurrence (Macie
    updates the one finding in place when the problem recurs)."""
    event: dict[str, Any] = json.loads((EVENTS / "macie-policy-s3bucketpublic.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["account"] = event["detail"]["accountId"] = account
    event["detail"]["resourcesAffected"]["s3Bucket"]["name"] = bucket
    event["detail"]["resourcesAffected"]["s3Bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    event["detail"]["count"] = count
    event["detail"]["updatedAt"] = f"2026-11-0{count}T10:00:00.000Z"
    return event


def test_a_macie_policy_finding_that_recurs_is_remediated_again(world: World) -> None:
    bucket = world.bucket(C, "public-site")
    s3 = world.s3(C)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    calls = s3_calls(world, C)

    (first,) = pipeline.process(macie_policy(C, bucket, 1))
    (again,) = pipeline.process(macie_policy(C, bucket, 1))  # a redelivery
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    world.clock.advance(minutes=61)
    (second,) = pipeline.process(macie_policy(C, bucket, 2))
    (stale,) = pipeline.process(macie_policy(C, bucket, 1))  # the first, delivered late

    assert first.state is State.QUARANTINED, first.history[-1].note
    assert again.key == first.key and again.version == first.version
    assert second.key == f"{first.key}.2" and second.state is State.QUARANTINED
    assert stale.key == second.key and stale.version == second.version
    assert calls.count("PutPublicAccessBlock") == 2
    config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(config.values())


def _suppressed_copy(account: str, bucket: str, key: str, etag: str) -> dict[str, Any]:
    event = securityhub_copy(account, bucket, key, etag=etag)
    finding = event["detail"]["findings"][0]
    # An automation rule suppressed it before remedy saw it (so: ignore).
    finding["Workflow"]["Status"] = finding["WorkflowState"] = "SUPPRESSED"
    return event


def _private_key(world: World, account: str) -> tuple[Stored, dict[str, Any], dict[str, Any]]:
    """A private key in a new bucket of `account`, with Macie's finding about it and a
    suppressed Security Hub copy of that finding."""
    bucket = world.bucket(account, "keys")
    stored = world.put(account, bucket, "keys/deploy.pem", b"-----BEGIN RSA PRIVATE KEY-----")
    native = macie_event(account, bucket, stored.key, etag=stored.etag)
    return stored, native, _suppressed_copy(account, bucket, stored.key, stored.etag)


def test_an_ignored_copy_that_comes_first_does_not_pre_empt_the_native_finding(
    world: World,
) -> None:
    stored, native, suppressed = _private_key(world, B)
    pipeline = world.pipeline()
    calls = s3_calls(world, B)

    (ignored,) = pipeline.process(suppressed)
    (acted,) = pipeline.process(native)
    redeliveries = [pipeline.process(copy.deepcopy(e))[0] for e in (native, suppressed)]

    assert ignored.state is State.IGNORED
    assert acted.state is State.QUARANTINED, acted.history[-1].note
    assert acted.key == f"{ignored.key}.2"
    assert [e.key for e in redeliveries] == [acted.key, acted.key]
    assert calls.count("CopyObject") == 1 and calls.count("DeleteObject") == 1
    assert world.quarantined(stored) == [stored.body]
    kept = world.store.get(ignored.key)
    assert kept is not None and kept.state is State.IGNORED  # its record stays


def test_an_ignored_copy_after_the_native_finding_changes_nothing(world: World) -> None:
    stored, native, suppressed = _private_key(world, C)
    pipeline = world.pipeline()
    calls = s3_calls(world, C)

    (acted,) = pipeline.process(native)
    (after,) = pipeline.process(suppressed)
    (again,) = pipeline.process(copy.deepcopy(native))

    assert acted.state is State.QUARANTINED, acted.history[-1].note
    assert after.key == again.key == acted.key and again.version == acted.version
    assert calls.count("CopyObject") == 1
    assert world.quarantined(stored) == [stored.body]
    assert world.store.get(f"{acted.key}.2") is None


def test_a_forged_copy_that_comes_first_does_not_pre_empt_the_real_finding(
    world: World,
) -> None:
    bucket = world.bucket(A, "forged-first")
    stored = world.put(A, bucket, "payroll.csv", b"salaries")
    pipeline = world.pipeline()
    # Member B sends a finding about A's object first: rejected, nothing moves.
    forged = macie_event(A, bucket, stored.key, etag=stored.etag, envelope_account=B)
    native = macie_event(A, bucket, stored.key, etag=stored.etag)

    (rejected,) = pipeline.process(forged)
    assert rejected.state is State.REJECTED and world.still_at_source(stored)
    (acted,) = pipeline.process(native)
    (forged_again,) = pipeline.process(copy.deepcopy(forged))

    assert acted.state is State.QUARANTINED, acted.history[-1].note
    assert forged_again.key == acted.key and forged_again.version == acted.version
    assert world.quarantined(stored) == [stored.body]


# -- issue 18: the same bytes again, released bytes, re-opening and its rate ----------------


def _later(world: World, event: dict[str, Any], minutes: float = 1) -> dict[str, Any]:
    """`event` as made `minutes` from now (the finding's own creation time), with the clock
    moved there: a finding made after everything remedy did so far."""
    world.clock.advance(minutes=minutes)
    now = stamp(world.clock.now)
    if event.get("source") == "aws.macie":
        event["detail"]["createdAt"] = event["detail"]["updatedAt"] = now
    else:
        event["time"] = now
    return event


def test_the_same_secret_uploaded_again_after_its_quarantine_is_quarantined_again(
    world: World,
) -> None:
    bucket = world.bucket(B, "plain")  # unversioned: the same bytes get the same ETag
    pipeline = world.pipeline()
    stored = world.put(B, bucket, "ops/deploy.pem", b"-----BEGIN RSA PRIVATE KEY-----")
    original = macie_event(B, bucket, stored.key, etag=stored.etag)
    (first,) = pipeline.process(original)
    assert first.state is State.QUARANTINED, first.history[-1].note

    again = world.put(B, bucket, stored.key, stored.body)
    assert again.etag == stored.etag
    event = _later(world, macie_event(B, bucket, again.key, etag=again.etag))
    (second,) = pipeline.process(event)
    (redelivered,) = pipeline.process(copy.deepcopy(event))
    # The first finding, delivered late: made before remedy removed anything, so no write.
    (late,) = pipeline.process(copy.deepcopy(original))

    assert second.key == f"{first.key}.2"
    assert second.state is State.QUARANTINED, second.history[-1].note
    assert world.read(B, bucket, stored.key) is None
    assert world.quarantined(stored) == [stored.body, stored.body]
    assert redelivered.key == late.key == second.key
    assert redelivered.version == late.version == second.version
    assert world.store.get(f"{first.key}.3") is None


def test_the_same_malware_uploaded_again_after_its_quarantine_is_quarantined_again(
    world: World,
) -> None:
    bucket = world.bucket(C, "plain-uploads")
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    infected = world.put(C, bucket, "inbound/tool.exe", EICAR)
    (first,) = pipeline.process(scan_result(infected))
    assert first.state is State.QUARANTINED, first.history[-1].note

    again = world.put(C, bucket, infected.key, EICAR)
    (second,) = pipeline.process(_later(world, scan_result(again)))

    assert second.key == f"{first.key}.2"
    assert second.state is State.QUARANTINED, second.history[-1].note
    assert world.read(C, bucket, infected.key) is None


def _release(world: World, pipeline: Any, event: dict[str, Any], stored: Stored) -> Any:
    """`stored` quarantined on `event`, then released by a person: the entry and the object
    as release put it back (a new version, the same bytes)."""
    (first,) = pipeline.process(event)
    assert first.state is State.QUARANTINED, first.history[-1].note
    released = release(
        first.key,
        by="alice",
        store=world.store,
        actions=pipeline.actions,
        reason="false positive: the vendor's signed installer",
    )
    assert released.state is State.RELEASED
    (restored,) = [
        v for v in world.versions(stored.account, stored.bucket, stored.key) if v["IsLatest"]
    ]
    back = Stored(
        stored.account,
        stored.bucket,
        stored.key,
        restored["VersionId"],
        restored["ETag"],
        stored.body,
    )
    assert back.version_id != stored.version_id and back.etag == stored.etag
    return released, back


def _kept(world: World, released: Any, back: Stored) -> None:
    """Nothing was done to `back`, and the released entry says why, once."""
    assert world.store.get(f"{released.key}.2") is None
    assert world.still_at_source(back)
    after = world.store.get(released.key)
    assert after is not None and after.state is State.RELEASED
    assert after.attrs[occurrences.RELEASE_HOLDS]["count"] == 2
    assert after.attrs[occurrences.RELEASE_HOLDS]["last"]["version_id"] == back.version_id
    (note,) = [h.note for h in after.history if h.source == h.target]
    assert note.startswith(
        f"a new finding about the bytes alice released (ETag {back.etag.strip(chr(34))}, "
        f"now version {back.version_id}): not acted on"
    )
    assert note.endswith(
        "their reason: false positive: the vendor's signed installer; "
        "later ones are counted in attrs.release_holds"
    )


def test_malware_a_person_released_stays_released_when_guardduty_scans_it_again(
    world: World,
) -> None:
    bucket = world.bucket(A, "vendor", versioned=True)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    infected = world.put(A, bucket, "installers/setup.exe", EICAR)
    original = scan_result(infected)
    released, back = _release(world, pipeline, copy.deepcopy(original), infected)
    calls = s3_calls(world, A)

    # GuardDuty scans the version release wrote (CopyObject is an upload), then again.
    for _ in range(2):
        (rescan,) = pipeline.process(_later(world, scan_result(back)))
        assert rescan.key == released.key and rescan.state is State.RELEASED
    (redelivered,) = pipeline.process(original)  # the first, again: no note, no count

    assert redelivered.key == released.key
    assert "CopyObject" not in calls and "DeleteObject" not in calls
    _kept(world, released, back)
    # remedy history shows it, as a step by remedy on the released entry.
    shown = [
        s
        for s in steps(
            [world.store.get(released.key)], load_policy(ROOT / "policies").accounts, Filters()
        )
        if s.source == s.target
    ]  # type: ignore[list-item]
    assert [(s.how, s.target) for s in shown] == [("system", "RELEASED")]

    # The bytes change: that is another object, quarantined.
    changed = world.put(A, bucket, infected.key, EICAR + b" and more")
    (second,) = pipeline.process(_later(world, scan_result(changed)))
    assert second.key == f"{released.key}.2" and second.state is State.QUARANTINED
    assert not world.still_at_source(changed)


def test_a_secret_a_person_released_stays_released_when_macie_finds_it_again(
    world: World,
) -> None:
    bucket = world.bucket(B, "fixtures", versioned=True)
    pipeline = world.pipeline()
    stored = world.put(B, bucket, "tests/fake-key.pem", b"-----BEGIN FAKE KEY-----")
    event = macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    released, back = _release(world, pipeline, event, stored)

    for _ in range(2):
        again = macie_event(B, bucket, back.key, version_id=back.version_id, etag=back.etag)
        (seen,) = pipeline.process(_later(world, again))
        assert seen.key == released.key and seen.state is State.RELEASED

    _kept(world, released, back)


def test_a_workflow_reopened_by_the_member_is_not_a_new_occurrence(world: World) -> None:
    """Workflow is anyone's to set (BatchUpdateFindings); ten re-opens change nothing."""
    bucket = world.bucket(A, "storm")
    s3 = world.s3(A)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    calls = s3_calls(world, A)
    (first,) = pipeline.process(s38(A, bucket, "2026-11-01T10:00:00.000Z"))
    assert first.state is State.QUARANTINED, first.history[-1].note

    for hour in range(10):
        world.clock.advance(hours=2)
        for workflow, minute in (("RESOLVED", "00"), ("NEW", "30")):
            at = f"2026-11-02T{hour:02}:{minute}:00.000Z"
            (seen,) = pipeline.process(s38(A, bucket, at, workflow=workflow))
            assert seen.key == first.key

    assert calls.count("PutPublicAccessBlock") == 1
    assert world.store.get(f"{first.key}.2") is None


def test_at_most_one_new_occurrence_per_period_the_rest_recorded(world: World) -> None:
    bucket = world.bucket(B, "flapping")
    s3 = world.s3(B)
    pipeline = world.pipeline(policy_dir=ROOT / "policies")
    calls = s3_calls(world, B)

    def flap(day: int, hour: int) -> Any:
        """The control passes, then fails again (someone turned the block off again)."""
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
        at = f"2026-11-{day:02}T{hour:02}:"
        pipeline.process(s38(B, bucket, at + "00:00.000Z", compliance="PASSED"))
        return pipeline.process(s38(B, bucket, at + "30:00.000Z"))[0]

    (first,) = pipeline.process(s38(B, bucket, "2026-11-01T10:00:00.000Z"))
    world.clock.advance(minutes=61)
    reopened = [flap(2, hour) for hour in range(10)]  # within the hour: one acts

    assert [e.key for e in reopened] == [f"{first.key}.2"] * 10
    second = world.store.get(f"{first.key}.2")
    assert second is not None and second.state is State.QUARANTINED
    assert second.attrs[occurrences.HELD]["count"] == 9
    notes = [h.note for h in second.history if h.source == h.target]
    assert len(notes) == 1 and notes[0].startswith(
        "a new occurrence within 60 minutes of this one: recorded, not acted on"
    )
    assert calls.count("PutPublicAccessBlock") == 2

    world.clock.advance(minutes=61)
    third = flap(3, 10)
    assert third.key == f"{first.key}.3" and third.state is State.QUARANTINED


def test_an_object_finding_archived_then_unarchived_is_not_quarantined_again(
    world: World,
) -> None:
    """The object is gone with its quarantine: only a new write of it is a new occurrence,
    never the finding's record state going back and forth."""
    bucket = world.bucket(C, "archive-flip")
    pipeline = world.pipeline()
    stored = world.put(C, bucket, "keys/old.pem", b"-----BEGIN OLD KEY-----")
    event = macie_event(C, bucket, stored.key, etag=stored.etag)
    (first,) = pipeline.process(copy.deepcopy(event))
    assert first.state is State.QUARANTINED, first.history[-1].note

    for archived, hour in ((True, 11), (False, 12), (True, 13), (False, 14)):
        world.clock.advance(minutes=61)
        flip = copy.deepcopy(event)
        flip["detail"]["archived"] = archived
        flip["detail"]["updatedAt"] = f"2026-11-05T{hour}:00:00.000Z"
        (seen,) = pipeline.process(flip)
        assert seen.key == first.key

    assert world.store.get(f"{first.key}.2") is None
    assert world.quarantined(stored) == [stored.body]


def test_the_recurrence_period_is_the_policys(world: World, tmp_path: Path) -> None:
    """``defaults.recurrence_period_minutes: 0``: every re-opening acts."""
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    rules = folder / "remediation.yaml"
    text = rules.read_text()
    assert "  recurrence_period_minutes: 60\n" in text
    rules.write_text(text.replace("recurrence_period_minutes: 60", "recurrence_period_minutes: 0"))
    bucket = world.bucket(C, "unbounded")
    s3 = world.s3(C)
    pipeline = world.pipeline(policy_dir=folder)

    keys = []
    for hour in (10, 11, 12):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
        pipeline.process(s38(C, bucket, f"2026-11-04T{hour}:00:00.000Z", compliance="PASSED"))
        (entry,) = pipeline.process(s38(C, bucket, f"2026-11-04T{hour}:30:00.000Z"))
        assert entry.state is State.QUARANTINED, entry.history[-1].note
        keys.append(entry.key)

    # The first PASSED is recorded IGNORED (the key's first entry); each FAILED is the next.
    assert [k.rpartition(".")[2] for k in keys] == ["2", "3", "4"]
