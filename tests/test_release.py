"""Release: a quarantined object goes back where it was, and the ledger says who and when."""

from __future__ import annotations

import json
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from fixtures_aws import (
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    Stored,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.actions.s3_quarantine import META_PREFIX, ReleaseRefused, S3Quarantine
from remedy.approvals.release import NotReleasable, release
from remedy.cli import main
from remedy.ledger.base import Entry, State

A, B, C = MEMBERS
MIB = 1024**2


def quarantine(world: World, stored: Stored, options: dict[str, Any] | None = None) -> Entry:
    policy = world.policy_with(options) if options else None
    pipeline = world.pipeline(policy_dir=policy) if policy else world.pipeline()
    event = macie_event(
        stored.account, stored.bucket, stored.key, version_id=stored.version_id, etag=stored.etag
    )
    (entry,) = pipeline.process(event)
    assert entry.state is State.QUARANTINED, entry.history[-1].note
    return entry


def actions(world: World, **kwargs: Any) -> dict[str, S3Quarantine]:
    return {"s3-quarantine": world.action(**kwargs)}


def test_release_puts_the_object_back_as_it_was(world: World) -> None:
    kms = world.admin(A).client("kms")
    team_key = kms.create_key(Description="team key")["KeyMetadata"]["Arn"]
    bucket = world.bucket(A, "release", versioned=True)
    stored = world.put(
        A,
        bucket,
        "reports/2026 Q1 #final.csv",
        b"false positive: test card numbers",
        ContentType="text/csv",
        Metadata={"owner": "finance"},
        Tagging="team=finance",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=team_key,
    )
    entry = quarantine(world, stored, {"tombstone": True})
    assert world.read(A, bucket, stored.key) is not None  # the tombstone

    released = release(
        entry.key,
        by="alice@example.com",
        caller="arn:aws:iam::123456789012:user/alice",
        store=world.store,
        actions=actions(world),
    )

    assert released.state is State.RELEASED
    last = released.history[-1]
    assert (last.source, last.target, last.by) == ("QUARANTINED", "RELEASED", "alice@example.com")
    assert "put back at" in last.note
    facts = released.attrs["release"]
    assert facts["by"] == "alice@example.com" and facts["at"]
    assert facts["caller"] == "arn:aws:iam::123456789012:user/alice"
    assert facts["tombstone_removed"] and facts["quarantine_copy_removed"]
    s3 = world.s3(A)
    head = s3.head_object(Bucket=bucket, Key=stored.key)
    assert head["VersionId"] == facts["restored"]["version_id"]
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"owner": "finance"}
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == team_key
    assert world.read(A, bucket, stored.key) == stored.body
    tags = s3.get_object_tagging(Bucket=bucket, Key=stored.key)["TagSet"]
    assert tags == [{"Key": "team", "Value": "finance"}]
    # No tombstone left in the history of the key; the quarantine copy is gone.
    bodies = [
        world.read(A, bucket, stored.key, v["VersionId"])
        for v in world.versions(A, bucket, stored.key)
    ]
    assert bodies == [stored.body]
    assert world.quarantined(stored) == []


def test_release_in_an_unversioned_bucket_replaces_the_tombstone(world: World) -> None:
    bucket = world.bucket(B, "release-plain")
    stored = world.put(B, bucket, "a.txt", b"not secret after all", Metadata={"k": "v"})
    entry = quarantine(world, stored, {"tombstone": True})
    released = release(entry.key, by="bob", store=world.store, actions=actions(world))
    assert released.state is State.RELEASED
    assert world.read(B, bucket, "a.txt") == stored.body
    head = world.s3(B).head_object(Bucket=bucket, Key="a.txt")
    assert not any(k.startswith(META_PREFIX) for k in head["Metadata"])
    assert world.quarantined(stored) == []


def test_release_refuses_to_overwrite_a_newer_object(world: World) -> None:
    bucket = world.bucket(C, "release-busy")
    stored = world.put(C, bucket, "a.txt", b"quarantined")
    entry = quarantine(world, stored)
    world.put(C, bucket, "a.txt", b"uploaded since")
    with pytest.raises(ReleaseRefused, match="now holds another object"):
        release(entry.key, by="carol", store=world.store, actions=actions(world))
    assert world.read(C, bucket, "a.txt") == b"uploaded since"
    assert world.quarantined(stored) == [b"quarantined"]
    current = world.store.get(entry.key)
    assert current is not None and current.state is State.QUARANTINED
    assert current.version == entry.version


def test_only_quarantined_entries_can_be_released(world: World) -> None:
    with pytest.raises(NotReleasable, match="no ledger entry 'm-nope'"):
        release("m-nope", by="x", store=world.store, actions=actions(world))
    bucket = world.bucket(A, "release-twice", versioned=True)
    stored = world.put(A, bucket, "k", b"x")
    entry = quarantine(world, stored)
    release(entry.key, by="first", store=world.store, actions=actions(world))
    with pytest.raises(NotReleasable, match="is RELEASED; only QUARANTINED"):
        release(entry.key, by="second", store=world.store, actions=actions(world))


def test_a_large_object_is_released_through_multipart_copy(world: World) -> None:
    small = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    bucket = world.bucket(B, "release-big", versioned=True)
    body = b"0123456789abcdef" * (11 * MIB // 16)
    stored = world.put(B, bucket, "big.bin", body)
    pipeline = world.pipeline(action=world.action(transfer=small))
    event = macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    (entry,) = pipeline.process(event)
    assert entry.state is State.QUARANTINED and entry.attrs["copy"] == "multipart"
    released = release(
        entry.key, by="dave", store=world.store, actions=actions(world, transfer=small)
    )
    assert released.state is State.RELEASED
    assert world.read(B, bucket, "big.bin") == body


def test_declared_permissions_suffice_for_release(world: World) -> None:
    world.set_role_policy(C, S3Quarantine.permissions)
    bucket = world.bucket(C, "release-enforced", versioned=True)
    stored = world.put(C, bucket, "k.txt", b"x", Tagging="a=b")
    with world.enforced():
        entry = quarantine(world, stored, {"tombstone": True})
        released = release(entry.key, by="erin", store=world.store, actions=actions(world))
    assert released.state is State.RELEASED
    assert world.read(C, bucket, "k.txt") == b"x"


def test_the_release_command(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = world.bucket(A, "release-cli", versioned=True)
    stored = world.put(A, bucket, "cli.txt", b"cli")
    entry = quarantine(world, stored)
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)

    assert main(["release", entry.key, "--by", "frank"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["state"] == "RELEASED"
    assert printed["release"]["by"] == "frank"
    assert printed["release"]["caller"].startswith("arn:aws:")
    assert world.read(A, bucket, "cli.txt") == b"cli"

    assert main(["release", entry.key]) == 2
    error = capsys.readouterr().err
    assert error.strip() == (
        f"remedy release: {entry.key}: ledger entry {entry.key} is RELEASED; only QUARANTINED "
        "entries can be released"
    )


@pytest.mark.parametrize("key", ["slack#outbox", "slack#digest#C0PAY#1700000000"])
def test_releasing_a_bookkeeping_item_says_no_ledger_entry(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # The Slack outbox and digest windows share the ledger table but are no entries.
    bucket = world.bucket(A, "release-bookkeeping", versioned=True)
    entry = quarantine(world, world.put(A, bucket, "kept.txt", b"kept"))
    dynamodb = world.core.client("dynamodb")
    dynamodb.update_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="ADD pending :k",
        ExpressionAttributeValues={":k": {"SS": [entry.key]}},
    )
    before = dynamodb.get_item(TableName=LEDGER_TABLE, Key={"pk": {"S": key}})["Item"]
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)

    assert main(["release", key]) == 2

    assert capsys.readouterr().err == (
        f"remedy release: {key}: no ledger entry {key!r}; nothing to release\n"
    )
    assert dynamodb.get_item(TableName=LEDGER_TABLE, Key={"pk": {"S": key}})["Item"] == before
    assert world.store.get(entry.key) == entry
