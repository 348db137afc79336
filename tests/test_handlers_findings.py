"""The findings Lambda entry point on an SQS batch: partial batch responses, built from
the environment as in Lambda, against moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from fixtures_aws import (
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    REGION,
    LambdaContext,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    securityhub_copy,
    world_fixture,  # noqa: F401 - the fixture
)
from ocsf_support import CAPTURED, ocsf_copy
from remedy.handlers import findings
from remedy.handlers.runtime import Runtime
from remedy.ledger.base import State
from template_support import dashboard_metric, seen_by

A, B, C = MEMBERS


def record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1732327200000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1732327200001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:remedy-findings",
        "awsRegion": REGION,
    }


@pytest.fixture
def handler_env(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The function's environment, a fresh container, and the AssumeRole calls it makes."""
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(world.policy_dir))
    monkeypatch.setattr(findings, "runtime", Runtime(findings.metrics))
    calls: list[dict[str, Any]] = []
    sts = findings.runtime.pipeline.actions["s3-quarantine"].sessions.sts
    sts.meta.events.register(
        "before-call.sts.AssumeRole",
        lambda params, **_: calls.append(dict(params.get("body") or {})),
    )
    yield calls
    assert calls and {c["ExternalId"] for c in calls} == {EXTERNAL_ID}


def keys(world: World) -> set[str]:
    items = world.core.client("dynamodb").scan(TableName=LEDGER_TABLE, ProjectionExpression="pk")
    # The circuit breaker counts in the same table (remedy.rails.breaker): not entries.
    return {i["pk"]["S"] for i in items["Items"] if not i["pk"]["S"].startswith("breaker#")}


def test_good_malformed_and_duplicate_records(
    world: World, handler_env: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = world.bucket(A, "sqs", versioned=True)
    stored = world.put(A, bucket, "secrets/.env", b"DB_PASSWORD=hunter2")
    good = json.dumps(
        macie_event(A, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    )
    malformed = json.dumps({"source": "aws.macie", "detail-type": "Macie Finding"})
    before = keys(world)
    batch = {"Records": [record(good), record(malformed), record(good)]}

    response = findings.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    (added,) = keys(world) - before
    entry = world.store.get(added)
    assert entry is not None and entry.state is State.QUARANTINED
    assert world.quarantined(stored) == [stored.body]
    assert not world.still_at_source(stored)
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any(m.get("InvalidEvents") == [1.0] for m in metrics), out
    assert any(m.get("DuplicateFindings") == [1.0] for m in metrics), out
    assert all(m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "remedy" for m in metrics)
    assert seen_by("RemediationFailedAlarm", out) == []
    # The dashboard's time to remediate: one quarantine, from the finding's creation.
    (seconds,) = dashboard_metric("TimeToRemediate", out)
    created, done = (
        datetime.fromisoformat(at.replace("Z", "+00:00"))
        for at in (entry.finding["created_at"], entry.updated_at)
    )
    assert seconds == (done - created).total_seconds() > 0


def test_bodies_that_are_not_events_fail_alone(
    world: World, handler_env: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    bucket = world.bucket(B, "sqs-b", versioned=True)
    stored = world.put(B, bucket, "k", b"secret")
    good = json.dumps(
        macie_event(B, bucket, stored.key, version_id=stored.version_id, etag=stored.etag)
    )
    unknown = json.dumps(
        {
            "source": "aws.inspector2",
            "detail-type": "Inspector2 Finding",
            "account": B,
            "region": REGION,
            "detail": {},
        }
    )
    batch = {"Records": [record("{not json"), record(unknown), record(good)]}
    before = keys(world)

    response = findings.handler(batch, LambdaContext())

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [batch["Records"][0]["messageId"], batch["Records"][1]["messageId"]]
    assert len(keys(world) - before) == 1
    assert world.quarantined(stored) == [stored.body]
    rejected = [r.getMessage() for r in caplog.records if "rejected message" in r.getMessage()]
    assert len(rejected) == 2 and all("\n" not in line for line in rejected)
    assert "body is not JSON" in rejected[0]
    assert "unknown source 'aws.inspector2'" in rejected[1]


def test_a_failed_remediation_is_retried_by_sqs_and_alarmed(
    world: World, handler_env: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    # A region with no member stack: no quarantine bucket, the copy fails (retryable).
    s3 = world.admin(C).client("s3", region_name="eu-central-1")
    bucket = f"frankfurt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    stored = world.put(C, bucket, "k", b"secret")
    event = macie_event(
        C, bucket, "k", version_id=stored.version_id, etag=stored.etag, region="eu-central-1"
    )
    batch = {"Records": [record(json.dumps(event))]}

    response = findings.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert world.still_at_source(stored)
    # Exactly what the template's alarm selects: namespace, metric name and dimensions.
    assert seen_by("RemediationFailedAlarm", capsys.readouterr().out) == [1.0]


def test_one_bad_finding_in_an_aggregated_event_is_rejected_alone(
    world: World, handler_env: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9.4: the administrator's event carries good findings for A and B and a
    partner's finding whose AwsS3Object Id is not an ARN."""
    stored = []
    for account in (A, B):
        bucket = world.bucket(account, "aggregated", versioned=True)
        stored.append(world.put(account, bucket, "creds/.env", b"AWS_SECRET_ACCESS_KEY=x"))
    event = securityhub_copy(
        A, stored[0].bucket, stored[0].key, version_id=stored[0].version_id, etag=stored[0].etag
    )
    for_b = securityhub_copy(
        B, stored[1].bucket, stored[1].key, version_id=stored[1].version_id, etag=stored[1].etag
    )
    bad = json.loads(json.dumps(for_b["detail"]["findings"][0]))
    bad["AwsAccountId"] = C
    bad["Resources"][1]["Id"] = "partner-exports/2024/q3.csv"
    event["detail"]["findings"] += [bad, for_b["detail"]["findings"][0]]
    before = keys(world)
    batch = {"Records": [record(json.dumps(event))]}

    response = findings.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": []}
    assert all(world.quarantined(s) == [s.body] for s in stored)
    added = {key: world.store.get(key) for key in keys(world) - before}
    assert sorted(e.state for e in added.values() if e is not None) == [
        State.QUARANTINED,
        State.QUARANTINED,
        State.REJECTED,
    ]
    (rejected,) = [e for e in added.values() if e is not None and e.state is State.REJECTED]
    path = "detail.findings[1].Resources[1].Id"
    assert rejected.finding["unreadable"] == bad
    assert (rejected.finding["index"], rejected.finding["path"]) == (1, path)
    assert rejected.decision["rule"] == "builtin:invalid"
    assert rejected.decision["reason"] == (
        f"finding 1 of event {event['id']} cannot be read: {path}: expected an S3 object ARN "
        "such as arn:aws:s3:::bucket/key, got 'partner-exports/2024/q3.csv'"
    )
    assert not any(c["RoleArn"].split(":")[4] == C for c in handler_env)
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any(m.get("InvalidFindings") == [1.0] for m in metrics), out
    assert not any("InvalidEvents" in m for m in metrics), out

    # SQS delivers it again: nothing is remediated twice, nothing is added or counted.
    again = findings.handler({"Records": [record(json.dumps(event))]}, LambdaContext())

    assert again == {"batchItemFailures": []}
    # One copy each in the (versioned) quarantine buckets: a second would be a version more.
    assert all(world.quarantined(s) == [s.body] for s in stored)
    assert keys(world) - before == set(added)
    out = capsys.readouterr().out
    assert "InvalidFindings" not in out, out


@pytest.mark.parametrize(
    ("key_of", "versioned"),
    [
        ("{decoy}/2026/contract.pdf", True),
        # Unversioned: no version id in the finding pins the object that is moved.
        ("arn:aws:s3:::{decoy}/2026/contract.pdf", False),
    ],
    ids=["slashes", "looks-like-an-arn"],
)
def test_ocsf_copies_in_the_captured_layout_quarantine_exactly_their_objects(
    world: World, handler_env: list[dict[str, Any]], key_of: str, versioned: bool
) -> None:
    """Issue 17.1: the new Security Hub names an S3 object by its key alone (``uid``) beside
    its bucket's resource. In A and B, the key names another object of the same account:
    its first segment is a bucket holding the rest of the key, or (an attack: a member
    chooses its keys) the key is that object's ARN. Reading ``uid`` as ``bucket/key`` or
    as an ARN would move that other object and leave the one Macie found in place. The
    administrator's one event carries both findings."""
    stored, decoys = [], []
    for account in (A, B):
        decoy_bucket = world.bucket(account, "people")
        decoys.append(world.put(account, decoy_bucket, "2026/contract.pdf", b"someone else's"))
        bucket = world.bucket(account, "hr", versioned=versioned)
        key = key_of.format(decoy=decoy_bucket)
        stored.append(world.put(account, bucket, key, b"AWS_SECRET_ACCESS_KEY=x"))
    events = [
        ocsf_copy(
            securityhub_copy(s.account, s.bucket, s.key, version_id=s.version_id, etag=s.etag),
            CAPTURED,
        )
        for s in stored
    ]
    event = events[0]
    event["detail"]["findings"] += events[1]["detail"]["findings"]
    assert all(
        r["uid"] == s.key
        for f, s in zip(event["detail"]["findings"], stored, strict=True)
        for r in f["resources"]
        if r["type"] == "AWS::S3::Object"
    )
    before = keys(world)

    response = findings.handler({"Records": [record(json.dumps(event))]}, LambdaContext())

    assert response == {"batchItemFailures": []}
    assert all(world.quarantined(s) == [s.body] for s in stored)
    assert not any(world.still_at_source(s) for s in stored)
    # The objects the key names are where they were, in no quarantine.
    assert all(world.still_at_source(d) and world.quarantined(d) == [] for d in decoys)
    added = [world.store.get(key) for key in keys(world) - before]
    assert sorted((e.account, e.state) for e in added if e is not None) == [
        (A, State.QUARANTINED),
        (B, State.QUARANTINED),
    ]
