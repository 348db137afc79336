"""The s3-quarantine action on moto: member accounts with the member template deployed, the
role assumed with the ExternalId, every kind of object a bucket can hold."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from fixtures_aws import (
    CORE_POLICY,
    CORE_USER,
    MEMBERS,
    REGION,
    Stored,
    World,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.actions.registry import member_permissions
from remedy.actions.s3_quarantine import (
    META_FINDING,
    TAG_FINDING,
    TAG_SOURCE_KEY,
    S3Quarantine,
    quarantine_key,
    tag_value,
)
from remedy.actions.session import AccountSessions, role_session_name
from remedy.errors import RemedyError
from remedy.ledger.base import State

A, B, C = MEMBERS
MIB = 1024**2


def head_copy(world: World, account: str, bucket: str, key: str, version: str) -> dict[str, Any]:
    response: dict[str, Any] = world.s3(account).head_object(
        Bucket=world.quarantine_bucket(account),
        Key=quarantine_key(bucket, key),
        VersionId=version,
    )
    return response


def tags_of_copy(world: World, account: str, bucket: str, key: str) -> dict[str, str]:
    tag_set = world.s3(account).get_object_tagging(
        Bucket=world.quarantine_bucket(account), Key=quarantine_key(bucket, key)
    )["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def test_versioned_object_moves_with_its_metadata_tags_and_origin(world: World) -> None:
    bucket = world.bucket(A, "hr-a", versioned=True)
    older = world.put(A, bucket, "people/list.csv", b"old, different content")
    stored = world.put(
        A,
        bucket,
        "people/list.csv",
        b"name,ssn\nZoe,078-05-1120\n",
        ContentType="text/csv",
        ContentDisposition="attachment",
        Metadata={"owner": "hr"},
        Tagging="team=hr&class=internal",
    )
    finding = world.finding(stored)

    outcome = world.action().run(finding, {}, resume=False)

    assert outcome.state is State.QUARANTINED, outcome.reason
    dest = outcome.attrs["destination"]
    assert dest["bucket"] == f"remedy-quarantine-{A}-{REGION}"
    assert dest["key"] == f"{bucket}/people/list.csv"
    assert dest["kms_key"] == "alias/remedy-quarantine"
    head = head_copy(world, A, bucket, stored.key, dest["version_id"])
    assert head["ContentType"] == "text/csv"
    assert head["ContentDisposition"] == "attachment"
    assert head["Metadata"]["owner"] == "hr"
    assert head["Metadata"][META_FINDING] == finding.key
    assert head["ServerSideEncryption"] == "aws:kms"
    tags = tags_of_copy(world, A, bucket, stored.key)
    assert tags["team"] == "hr" and tags["class"] == "internal"
    assert tags[TAG_FINDING] == finding.key
    assert tags["remedy:source-bucket"] == bucket
    assert tags[TAG_SOURCE_KEY] == stored.key
    assert tags["remedy:source-version"] == stored.version_id
    assert "remedy:quarantined-at" in tags
    # The source version is gone; the older one, with other content, stays and is named.
    assert world.read(A, bucket, stored.key, stored.version_id) is None
    assert world.still_at_source(older)
    assert [v["version_id"] for v in outcome.attrs["versions_remaining"]] == [older.version_id]
    assert older.version_id is not None and older.version_id in outcome.reason
    assert world.quarantined(stored) == [stored.body]
    assert outcome.attrs["checksum"]["algorithm"] == "CRC32"
    # Only the finding's own account was acted in.
    assert {c["RoleArn"].split(":")[4] for c in world.assume_calls} == {A}


def test_unversioned_object_moves(world: World) -> None:
    bucket = world.bucket(B, "plain-b")
    stored = world.put(B, bucket, "dump.sql", b"INSERT INTO cards VALUES ('4111111111111111');")
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert world.read(B, bucket, stored.key) is None
    assert world.quarantined(stored) == [stored.body]
    assert "versions_remaining" not in outcome.attrs
    assert outcome.attrs["source"]["version_id"] is None


def test_unversioned_object_changed_since_the_finding_is_left_alone(world: World) -> None:
    bucket = world.bucket(B, "plain-b2")
    seen = world.put(B, bucket, "notes.txt", b"what Macie read")
    now = world.put(B, bucket, "notes.txt", b"rewritten since")
    outcome = world.action().run(world.finding(seen), {}, resume=False)
    assert outcome.state is State.CHANGED
    assert seen.etag.strip('"') in outcome.reason and now.etag.strip('"') in outcome.reason
    assert world.read(B, bucket, "notes.txt") == b"rewritten since"
    assert world.quarantined(seen) == []


def test_sse_kms_source_is_reencrypted_with_the_quarantine_key(world: World) -> None:
    kms = world.admin(C).client("kms")
    own_key = kms.create_key(Description="team key")["KeyMetadata"]["Arn"]
    quarantine_key_arn = kms.describe_key(KeyId="alias/remedy-quarantine")["KeyMetadata"]["Arn"]
    bucket = world.bucket(C, "kms-c", versioned=True)
    stored = world.put(
        C,
        bucket,
        "keys.pem",
        b"-----BEGIN KEY-----",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=own_key,
    )
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    head = head_copy(world, C, bucket, stored.key, outcome.attrs["destination"]["version_id"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] in (quarantine_key_arn, "alias/remedy-quarantine")
    # The original encryption is remembered for a release.
    assert outcome.attrs["source"]["encryption"]["SSEKMSKeyId"] == own_key
    assert world.quarantined(stored) == [stored.body]


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        (
            {
                "ObjectLockMode": "GOVERNANCE",
                "ObjectLockRetainUntilDate": datetime.now(UTC) + timedelta(days=30),
            },
            "GOVERNANCE retention until",
        ),
        ({"ObjectLockLegalHoldStatus": "ON"}, "legal hold"),
    ],
)
def test_object_lock_keeps_the_source_and_the_copy(
    world: World, lock: dict[str, Any], expected: str
) -> None:
    bucket = world.bucket(A, "locked-a", object_lock=True)
    stored = world.put(A, bucket, "evidence.bin", b"held", **lock)
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.LOCKED
    assert expected in outcome.reason and "copy kept at" in outcome.reason
    assert world.still_at_source(stored)
    assert world.quarantined(stored) == [stored.body]
    assert outcome.attrs["destination"]["version_id"]


def test_missing_object_is_gone_and_nothing_is_copied(world: World) -> None:
    bucket = world.bucket(A, "gone-a", versioned=True)
    stored = world.put(A, bucket, "deleted.txt", b"x")
    world.s3(A).delete_object(Bucket=bucket, Key=stored.key, VersionId=stored.version_id)
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.GONE
    assert "no longer exists" in outcome.reason
    assert world.quarantined(stored) == []


def test_delete_marker_is_gone(world: World) -> None:
    bucket = world.bucket(A, "marker-a", versioned=True)
    stored = world.put(A, bucket, "k.txt", b"x")
    world.s3(A).delete_object(Bucket=bucket, Key=stored.key)
    unversioned_finding = world.finding(Stored(A, bucket, stored.key, None, stored.etag, b"x"))
    outcome = world.action().run(unversioned_finding, {}, resume=False)
    assert outcome.state is State.GONE
    assert world.still_at_source(stored)


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_archived_object_needs_a_restore_first(world: World, storage_class: str) -> None:
    bucket = world.bucket(B, "cold-b")
    stored = world.put(B, bucket, "2019/archive.tar", b"old", StorageClass=storage_class)
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.ARCHIVED
    assert storage_class in outcome.reason and "restore-object" in outcome.reason
    head = world.head(stored)
    assert head is not None and head["ETag"] == stored.etag
    assert world.quarantined(stored) == []


def test_glacier_instant_retrieval_is_read_at_once(world: World) -> None:
    bucket = world.bucket(B, "ir-b")
    stored = world.put(B, bucket, "ir.bin", b"instant", StorageClass="GLACIER_IR")
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["source"]["storage_class"] == "GLACIER_IR"


def test_zero_byte_object(world: World) -> None:
    bucket = world.bucket(C, "empty-c", versioned=True)
    stored = world.put(C, bucket, "empty", b"")
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert world.quarantined(stored) == [b""]
    assert world.read(C, bucket, "empty", stored.version_id) is None


def test_large_object_goes_through_multipart_copy_and_verifies(world: World) -> None:
    bucket = world.bucket(A, "big-a", versioned=True)
    body = bytes(range(256)) * (11 * MIB // 256) + b"tail"
    stored = world.put(A, bucket, "images/disk.img", body, Tagging="kind=image")
    calls: list[str] = []
    world.member_s3(A).meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )
    small = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)

    outcome = world.action(transfer=small).run(world.finding(stored), {}, resume=False)

    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["copy"] == "multipart"
    assert calls.count("UploadPartCopy") == 3
    assert "CopyObject" not in calls
    # The composite checksum S3 reported equals the one computed over the source's parts.
    parts = [body[i : i + 5 * MIB] for i in range(0, len(body), 5 * MIB)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert outcome.attrs["checksum"]["value"] == base64.b64encode(composite).decode()
    assert world.quarantined(stored) == [body]
    assert tags_of_copy(world, A, bucket, stored.key)["kind"] == "image"
    assert world.read(A, bucket, stored.key, stored.version_id) is None


def test_source_without_a_stored_checksum_is_hashed_while_streamed(world: World) -> None:
    bucket = world.bucket(B, "legacy-b")
    legacy = world.s3(B, request_checksum_calculation="when_required")
    body = b"uploaded before S3 kept checksums"
    response = legacy.put_object(Bucket=bucket, Key="old.txt", Body=body)
    assert not any(
        k.startswith("Checksum")
        for k in legacy.head_object(Bucket=bucket, Key="old.txt", ChecksumMode="ENABLED")
    )
    finding = world.finding(Stored(B, bucket, "old.txt", None, response["ETag"], body))
    outcome = world.action().run(finding, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["checksum"] == {
        "algorithm": "SHA256",
        "value": base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }


KEYS = [
    "données/Zoë Müller ✓.txt",
    "with spaces/and  two.txt",
    "plus+sign+.txt",
    "encoded%2Fslash.txt",
    "question?mark.txt",
    "hash#tag.txt",
    "../escape/../attempt.txt",
    "a/./b//c.txt",
    "mixed ?#+%2F ü ../x",
]


@pytest.mark.parametrize("key", KEYS)
def test_awkward_keys_land_at_bucket_slash_key(world: World, key: str) -> None:
    bucket = world.bucket(C, "keys-c", versioned=True)
    stored = world.put(C, bucket, key, key.encode())
    finding = world.finding(stored)
    assert finding.s3_objects[0].key == key
    outcome = world.action().run(finding, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["destination"]["key"] == f"{bucket}/{key}"
    assert world.quarantined(stored) == [key.encode()]
    assert world.read(C, bucket, key, stored.version_id) is None
    assert tags_of_copy(world, C, bucket, key)[TAG_SOURCE_KEY] == tag_value(key)


def test_tag_values_keep_what_s3_accepts_and_encode_the_rest() -> None:
    assert tag_value("données/Zoë Müller.txt") == "données/Zoë Müller.txt"
    encoded = tag_value("question?mark#.txt")
    assert encoded.startswith("b64:")
    assert base64.b64decode(encoded[4:]).decode() == "question?mark#.txt"
    long = tag_value("é?" * 200)
    assert long.startswith("sha256:") and len(long) <= 256


def test_keys_too_long_for_bucket_slash_key_get_a_digest() -> None:
    key = "k" * 1020
    assert quarantine_key("bucket", key).startswith("bucket/.remedy-long-keys/")
    assert quarantine_key("bucket", "short") == "bucket/short"


@pytest.mark.parametrize(
    ("own_tags", "dropped"),
    [
        (5, []),
        (8, ["remedy:source-key", "remedy:quarantined-at", "remedy:source-bucket"]),
        (
            10,
            [
                "remedy:finding",
                "remedy:source-version",
                "remedy:source-bucket",
                "remedy:source-key",
                "remedy:quarantined-at",
            ],
        ),
    ],
)
def test_the_sources_own_tags_win_the_ten_tag_limit(
    world: World, own_tags: int, dropped: list[str]
) -> None:
    bucket = world.bucket(A, f"tags-{own_tags}", versioned=True)
    tagging = "&".join(f"t{i}=v{i}" for i in range(own_tags))
    stored = world.put(A, bucket, "tagged.txt", b"x", Tagging=tagging)
    finding = world.finding(stored)
    outcome = world.action().run(finding, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    tags = tags_of_copy(world, A, bucket, stored.key)
    assert {f"t{i}" for i in range(own_tags)} <= set(tags)
    assert len(tags) == min(10, own_tags + 5)
    assert sorted(outcome.attrs.get("origin_tags_dropped", [])) == sorted(dropped)
    head = head_copy(world, A, bucket, stored.key, outcome.attrs["destination"]["version_id"])
    assert head["Metadata"][META_FINDING] == finding.key


def test_purge_versions_removes_older_copies_of_the_same_content_only(world: World) -> None:
    bucket = world.bucket(B, "purge-b", versioned=True)
    same_old = world.put(B, bucket, "secret.env", b"AWS_SECRET=abc")
    other = world.put(B, bucket, "secret.env", b"AWS_SECRET=<redacted>")
    stored = world.put(B, bucket, "secret.env", b"AWS_SECRET=abc")
    outcome = world.action().run(world.finding(stored), {"purge_versions": True}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["versions_purged"] == [same_old.version_id]
    assert [v["version_id"] for v in outcome.attrs["versions_remaining"]] == [other.version_id]
    assert world.read(B, bucket, "secret.env", same_old.version_id) is None
    assert world.still_at_source(other)
    assert "purged 1 older version" in outcome.reason


def test_tombstone_says_where_the_object_went(world: World) -> None:
    bucket = world.bucket(C, "tomb-c")
    stored = world.put(C, bucket, "cards.csv", b"4111111111111111")
    finding = world.finding(stored)
    outcome = world.action().run(finding, {"tombstone": True}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    text = world.read(C, bucket, "cards.csv")
    assert text is not None
    assert finding.key in text.decode() and "remedy release" in text.decode()
    assert f"remedy-quarantine-{C}-{REGION}/{bucket}/cards.csv" in text.decode()
    assert outcome.attrs["tombstone"]["etag"]
    assert world.quarantined(stored) == [stored.body]


def test_custom_tombstone_text(world: World) -> None:
    bucket = world.bucket(C, "tomb-c2", versioned=True)
    stored = world.put(C, bucket, "a.txt", b"x")
    options = {"tombstone": True, "tombstone_text": "Moved ($type) to $quarantine {not a field}"}
    outcome = world.action().run(world.finding(stored), options, resume=False)
    assert outcome.state is State.QUARANTINED
    assert (
        world.read(C, bucket, "a.txt")
        == (
            f"Moved (SensitiveData:S3Object/Credentials) to remedy-quarantine-{C}-{REGION}/"
            f"{bucket}/a.txt {{not a field}}"
        ).encode()
    )


def test_missing_quarantine_bucket_fails_and_keeps_the_source(world: World) -> None:
    s3 = world.admin(A).client("s3", region_name="eu-central-1")
    bucket = f"frankfurt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    stored = world.put(A, bucket, "x.txt", b"x")
    finding = world.finding(stored, region="eu-central-1")
    outcome = world.action().run(finding, {}, resume=False)
    assert outcome.state is State.FAILED
    assert f"remedy-quarantine-{A}-eu-central-1 does not exist" in outcome.reason
    assert "deploy the member stack" in outcome.reason
    assert world.still_at_source(stored)


def test_every_call_names_the_finding_account_as_bucket_owner(world: World) -> None:
    bucket = world.bucket(B, "owner-b", versioned=True)
    stored = world.put(B, bucket, "x.txt", b"x")
    headers: list[tuple[str, str | None, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        h = params["headers"]
        headers.append(
            (
                model.name,
                h.get("x-amz-expected-bucket-owner"),
                h.get("x-amz-source-expected-bucket-owner"),
            )
        )

    world.member_s3(B).meta.events.register("before-call.s3.*", record)
    outcome = world.action().run(world.finding(stored), {"tombstone": True}, resume=False)
    assert outcome.state is State.QUARANTINED
    assert headers and all(owner == B for _, owner, _ in headers), headers
    assert [source for name, _, source in headers if name == "CopyObject"] == [B]


# -- least privilege: what the action declares is what it needs ----------------------------


def test_declared_permissions_are_the_member_role_grant() -> None:
    assert S3Quarantine.permissions <= member_permissions()


@pytest.mark.parametrize("versioned", [True, False])
def test_declared_permissions_suffice_under_enforcement(world: World, versioned: bool) -> None:
    world.set_role_policy(A, S3Quarantine.permissions)
    bucket = world.bucket(A, f"enforced-{versioned}".lower(), versioned=versioned)
    world.put(A, bucket, "k.txt", b"same")
    stored = world.put(A, bucket, "k.txt", b"same", Tagging="a=b")
    finding = world.finding(stored)
    with world.enforced():
        outcome = world.action().run(
            finding, {"purge_versions": True, "tombstone": True}, resume=False
        )
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert "not purged" not in outcome.reason and "not written" not in outcome.reason
    assert world.quarantined(stored) == [b"same"]


@pytest.mark.parametrize(
    ("missing", "copied"),
    [("s3:GetObject", False), ("s3:PutObject", False), ("s3:DeleteObject", True)],
)
def test_a_narrower_policy_is_denied_and_loses_nothing(
    world: World, missing: str, copied: bool
) -> None:
    world.set_role_policy(B, S3Quarantine.permissions - {missing})
    bucket = world.bucket(B, "narrow-b")
    stored = world.put(B, bucket, "k.txt", b"data")
    finding = world.finding(stored)
    with world.enforced():
        outcome = world.action().run(finding, {}, resume=False)
    assert outcome.state is State.DENIED, outcome.reason
    assert "AccessDenied" in outcome.reason
    assert world.still_at_source(stored)
    assert world.quarantined(stored) == ([b"data"] if copied else [])


def test_an_object_overwritten_after_the_copy_is_left_in_place(world: World) -> None:
    bucket = world.bucket(A, "race-a")
    stored = world.put(A, bucket, "report.csv", b"what was copied")
    overwritten: list[bool] = []

    def overwrite_first(**_: Any) -> None:
        if not overwritten:
            overwritten.append(True)
            world.put(A, bucket, "report.csv", b"written in between")

    world.member_s3(A).meta.events.register("before-call.s3.DeleteObject", overwrite_first)
    outcome = world.action().run(world.finding(stored), {}, resume=False)
    assert outcome.state is State.CHANGED
    assert "overwritten after it was copied" in outcome.reason and "copy kept at" in outcome.reason
    assert world.read(A, bucket, "report.csv") == b"written in between"
    assert world.quarantined(stored) == [b"what was copied"]


def test_a_core_that_may_not_assume_the_role_is_denied(world: World) -> None:
    iam = world.core.client("iam")
    iam.put_user_policy(
        UserName=CORE_USER,
        PolicyName="core",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
            }
        ),
    )
    bucket = world.bucket(C, "noassume")
    stored = world.put(C, bucket, "k", b"x")
    finding = world.finding(stored)
    try:
        with world.enforced():
            outcome = world.action().run(finding, {}, resume=False)
    finally:
        iam.put_user_policy(UserName=CORE_USER, PolicyName="core", PolicyDocument=CORE_POLICY)
    assert outcome.state is State.DENIED
    assert f"cannot assume arn:aws:iam::{C}:role/remedy-remediation" in outcome.reason
    assert "same ExternalId" in outcome.reason
    assert world.still_at_source(stored)


def test_no_external_id_no_sessions() -> None:
    from fixtures_aws import settings

    with pytest.raises(RemedyError, match="REMEDY_EXTERNAL_ID is empty"):
        AccountSessions(dataclasses.replace(settings(), external_id=""), sts=object())


def test_role_session_names_carry_the_finding_key() -> None:
    assert role_session_name("m-0123abcd") == "remedy-m-0123abcd"
    weird = role_session_name("x" * 80 + " /?#")
    assert len(weird) == 64 and set(weird) <= set("remedy-x")


def test_sessions_are_cached_per_account_until_near_expiry(world: World) -> None:
    now = [time.time()]
    sessions = AccountSessions(world.settings, world.sts, clock=lambda: now[0])
    first = sessions.client("s3", A, REGION, finding_key="m-1")
    assert sessions.client("s3", A, REGION, finding_key="m-2") is first
    assert sessions.client("s3", A, "eu-central-1", finding_key="m-2") is not first
    assert len(world.assume_calls) == 1
    assert world.assume_calls[0]["RoleSessionName"] == "remedy-m-1"
    sessions.client("s3", B, REGION, finding_key="m-3")
    assert len(world.assume_calls) == 2
    now[0] += 3600 - 301  # still more than 5 minutes left
    assert sessions.client("s3", A, REGION, finding_key="m-4") is first
    now[0] += 2
    refreshed = sessions.client("s3", A, REGION, finding_key="m-5")
    assert refreshed is not first
    assert [c["RoleSessionName"] for c in world.assume_calls] == [
        "remedy-m-1",
        "remedy-m-3",
        "remedy-m-5",
    ]
