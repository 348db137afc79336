"""Occurrences on moto across member accounts: a problem that comes back is remediated
again, a redelivery of one occurrence is remediated once, and a copy remedy ignores or
rejects never pre-empts the real finding (issue 9, points 1 and 3)."""

from __future__ import annotations

import copy
import json
import uuid
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
from remedy.ledger.base import State

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
    # A user turns Block Public Access off again; Security Hub reopens the same finding.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BPA_OFF)
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
