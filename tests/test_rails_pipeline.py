"""The safety rails in the pipeline, on moto across member accounts: a burst trips the
breaker (the rest wait for approval), a dry run touches nothing on the wire, a freeze
and a CloudFormation-managed bucket turn acting into asking."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import tempfile
import uuid
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import CONFORMANCE, load_json
from fixtures_aws import (
    LEDGER_TABLE,
    MEMBERS,
    REGION,
    TEST_RULES,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from notify_support import slack, slack_client
from remedy.demo.rails import stack_bucket
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import State
from remedy.ledger.queries import LedgerQueries
from remedy.model import Finding
from remedy.notify.composite import CompositeNotifier
from remedy.notify.outbox import SlackOutbox
from remedy.notify.owners import OwnersNotifier
from remedy.notify.slack import SlackNotifier
from remedy.pipeline import Pipeline
from remedy.rails import Rails
from remedy.rails.alerts import BreakerAlerts
from remedy.rails.breaker import Breaker, Opening
from remedy.views import report
from remedy.views import status as views_status
from remedy.views.report import Period

__all__ = ["slack"]

A, B, C = MEMBERS
BLOCK_RULE = """\
  - id: block-public-buckets
    match: {source: [cloudtrail], type: ["s3:PutBucketPolicy"]}
    action: quarantine
    remediation: s3-block-public-access
"""


@pytest.fixture(autouse=True)
def no_breakers(world: World) -> None:
    """The module's tests share one ledger table: start each with no breaker state."""
    client = world.store.client
    for item in client.scan(TableName=LEDGER_TABLE, ProjectionExpression="pk")["Items"]:
        if item["pk"]["S"].startswith("breaker#"):
            client.delete_item(TableName=LEDGER_TABLE, Key={"pk": item["pk"]})


def policy(
    world: World,
    rails: str = "",
    rules: str = "",
    accounts: dict[str, Any] | None = None,
    after: tuple[str, str] | None = None,
) -> Path:
    """The test policy with the block-public rule, `rails`, and `after[1]` added after the
    line `after[0]` of a rule."""
    folder = Path(tempfile.mkdtemp(prefix="policy-", dir=world.policy_dir.parent))
    shutil.copytree(world.policy_dir, folder, dirs_exist_ok=True)
    text = TEST_RULES.replace("rules:\n", "rules:\n" + rules, 1) + BLOCK_RULE + rails
    if after is not None:
        text = text.replace(after[0], after[0] + after[1], 1)
    (folder / "remediation.yaml").write_text(text, encoding="utf-8")
    if accounts:
        path = folder / "accounts.yaml"
        path.write_text(_with_accounts(path.read_text(encoding="utf-8"), accounts), "utf-8")
    return folder


def _with_accounts(text: str, extra: dict[str, Any]) -> str:
    for account, fields in extra.items():
        anchor = f'  "{account}":\n'
        lines = "".join(f"    {k}: {v}\n" for k, v in fields.items())
        assert anchor in text
        text = text.replace(anchor, anchor + lines, 1)
    return text


class Alerts:
    def __init__(self) -> None:
        self.opened: list[tuple[Opening, Finding]] = []

    def __call__(self, opening: Opening, finding: Finding) -> None:
        self.opened.append((opening, finding))


def with_rails(world: World, policy_dir: Path, alerts: Alerts | None = None) -> Pipeline:
    pipeline = world.pipeline(policy_dir=policy_dir)
    return dataclasses.replace(
        pipeline,
        rails=Rails(
            world.store.client,
            LEDGER_TABLE,
            lambda service, account, region, key: world.sessions.client(
                service, account, region, finding_key=key
            ),
            alert=alerts or Alerts(),
            clock=world.clock,
        ),
    )


def credentials(world: World, account: str, bucket: str, n: int) -> tuple[Any, dict[str, Any]]:
    stored = world.put(account, bucket, f"burst/{n}/.aws/credentials", b"aws_secret_access_key=x")
    return stored, macie_event(
        account, bucket, stored.key, version_id=stored.version_id, etag=stored.etag
    )


def test_a_burst_trips_the_breaker_and_the_rest_wait_for_approval(world: World) -> None:
    alerts = Alerts()
    pipeline = with_rails(world, policy(world, "rails:\n  breaker: {per_rule: 3}\n"), alerts)
    bucket = world.bucket(A, "burst", versioned=True)
    stored_events = [credentials(world, A, bucket, n) for n in range(6)]

    entries = [pipeline.process(event)[0] for _, event in stored_events]

    assert [e.state for e in entries] == [State.QUARANTINED] * 3 + [State.PENDING_APPROVAL] * 3
    for entry in entries[3:]:
        assert entry.decision["mode"] == "hold"
        assert entry.decision["action"] == "approve"
        assert entry.decision["remediation"] == "s3-quarantine"
        assert entry.decision["reason"].endswith(
            "waits for approval: the breaker is open: 3 automatic remediations in the last "
            f"hour by rule quarantine-credentials in {A} (limit 3); it stays open until a "
            "person closes it (remedy breaker close quarantine-credentials --reason ...)"
        )
    assert [world.still_at_source(s) for s, _ in stored_events] == [False] * 3 + [True] * 3
    assert len(alerts.opened) == 1
    assert alerts.opened[0][0].scope == f"rule:quarantine-credentials:{A}"

    # A redelivery of a held finding is not counted again and stays held.
    again = pipeline.process(stored_events[4][1])[0]
    assert again.key == entries[4].key and again.state is State.PENDING_APPROVAL

    # A person closes it: the next finding is remediated at once again.
    breaker = Breaker(
        world.store.client,
        LEDGER_TABLE,
        pipeline.policy.rails.breaker,
        clock=lambda: world.clock().timestamp(),
    )
    assert breaker.close("quarantine-credentials", by="alice", reason="bulk import checked") == [
        f"rule:quarantine-credentials:{A}"
    ]
    stored, event = credentials(world, A, bucket, 99)
    assert pipeline.process(event)[0].state is State.QUARANTINED
    assert not world.still_at_source(stored)
    assert len(alerts.opened) == 1


def test_a_held_finding_is_carried_out_when_approved(world: World) -> None:
    pipeline = with_rails(world, policy(world, "rails:\n  breaker: {per_rule: 1}\n"))
    bucket = world.bucket(B, "held", versioned=True)
    _, first = credentials(world, B, bucket, 1)
    stored, second = credentials(world, B, bucket, 2)
    pipeline.process(first)
    held = pipeline.process(second)[0]
    assert held.state is State.PENDING_APPROVAL

    world.store.transition(held.key, [State.PENDING_APPROVAL], State.APPROVED, by="U0APPROVER")
    done = pipeline.remediate(held.key)

    assert done.state is State.QUARANTINED
    assert not world.still_at_source(stored)
    assert "awaiting_approval" not in done.attrs


def test_a_dry_run_rule_records_the_plan_and_touches_nothing_on_the_wire(world: World) -> None:
    folder = policy(world, after=("  - id: quarantine-credentials\n", "    mode: dry-run\n"))
    pipeline = with_rails(world, folder)
    bucket = world.bucket(C, "dry", versioned=True)
    stored, event = credentials(world, C, bucket, 1)
    world.assume_calls.clear()

    (entry,) = pipeline.process(event)

    assert entry.state is State.DRY_RUN
    assert entry.decision["mode"] == "dry-run"
    assert entry.decision["reason"].endswith(
        "; dry run (rule quarantine-credentials): recorded what would be done, nothing done"
    )
    plan = entry.attrs["dry_run"]
    assert plan["action"] == "quarantine" and plan["would"] == "act at once"
    assert plan["remediation"] == "s3-quarantine"
    assert plan["resources"] == [f"arn:aws:s3:::{bucket}/{stored.key}"]
    assert "s3:CopyObject" in plan["calls"] or "s3:PutObject" in plan["calls"]
    assert "s3:DeleteObjectVersion" in plan["calls"]
    # On the wire: no role was assumed in the member account, so no call was made there.
    assert world.assume_calls == []
    assert world.still_at_source(stored) and world.quarantined(stored) == []
    # Not counted by the breaker either.
    counted = Breaker(world.store.client, LEDGER_TABLE, pipeline.policy.rails.breaker).status()
    assert counted.counts == {}

    # remedy status and remedy report show it apart from what was done.
    queries = LedgerQueries(LEDGER_TABLE, world.store.client, clock=world.clock)
    now = world.clock()
    shown = views_status.status(
        queries,
        SlackOutbox(world.store.client, LEDGER_TABLE),
        None,
        pipeline.policy.accounts,
        [],
        now,
    )
    (mine,) = [d for d in shown.dry_runs if d.account == C]
    assert (mine.rule, mine.would, mine.count, mine.latest) == (
        "quarantine-credentials",
        "s3-quarantine: act at once",
        1,
        entry.key,
    )
    assert not shown.needs_person or all(w.key != entry.key for w in shown.pending)
    period = Period(now - timedelta(hours=1), now + timedelta(hours=1))
    per_day = report.compute([entry], pipeline.policy.accounts, period).per_day
    assert sum(per_day.values(), Counter()) == Counter({"quarantine (dry run)": 1})


def test_an_account_in_dry_run_mode_in_accounts_yaml(world: World) -> None:
    pipeline = with_rails(world, policy(world, accounts={B: {"mode": "dry-run"}}))
    bucket = world.bucket(B, "dry-account", versioned=True)
    stored, event = credentials(world, B, bucket, 1)
    world.assume_calls.clear()

    (entry,) = pipeline.process(event)

    assert entry.state is State.DRY_RUN
    assert entry.decision["reason"].endswith(
        f"; dry run (account {B}): recorded what would be done, nothing done"
    )
    assert world.assume_calls == []
    assert world.still_at_source(stored)


def _freeze_now(world: World, where: str = "") -> str:
    local = world.clock().astimezone(UTC)
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[local.weekday()]
    return (
        "rails:\n  freezes:\n"
        "    - name: release-week\n      zone: UTC\n"
        f"      weekly: {{days: [{day}], from: '00:00', to: '23:59'}}\n" + where
    )


def test_a_freeze_turns_a_quarantine_into_an_approval(world: World) -> None:
    pipeline = with_rails(
        world, policy(world, _freeze_now(world, "      where: {environment: [prod]}\n"))
    )
    bucket = world.bucket(A, "frozen", versioned=True)
    stored, event = credentials(world, A, bucket, 1)

    (entry,) = pipeline.process(event)

    assert entry.state is State.PENDING_APPROVAL
    assert "waits for approval: change freeze release-week (" in entry.decision["reason"]
    assert world.still_at_source(stored)
    # Outside the freeze's environments (C is dev) it acts.
    other = world.bucket(C, "not-frozen", versioned=True)
    stored, event = credentials(world, C, other, 1)
    assert pipeline.process(event)[0].state is State.QUARANTINED


def policy_call(account: str, bucket: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(
        load_json(CONFORMANCE / "cloudtrail-s3-putbucketpolicy-public.json")
    )
    event["account"] = event["detail"]["recipientAccountId"] = account
    event["region"] = event["detail"]["awsRegion"] = REGION
    event["detail"]["requestParameters"]["bucketName"] = bucket
    # Each call its own: the finding's key is the call's event id.
    event["id"] = event["detail"]["eventID"] = str(uuid.uuid4())
    return event


def tag_calls(world: World, account: str) -> list[str]:
    calls: list[str] = []
    world.sessions.client("s3", account, REGION, finding_key="t").meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_a_cloudformation_managed_bucket_gets_an_approval_naming_the_stack(world: World) -> None:
    pipeline = with_rails(world, policy(world))
    bucket = stack_bucket(world.admin(A), A, "payments-prod", f"payments-{uuid.uuid4().hex[:8]}")
    s3 = world.s3(A)
    calls = tag_calls(world, A)

    (entry,) = pipeline.process(policy_call(A, bucket))

    assert entry.state is State.PENDING_APPROVAL
    assert entry.decision["reason"].endswith(
        f"waits for approval: {bucket} is managed by stack payments-prod: fix it in code, "
        "or it will come back"
    )
    assert calls == ["GetBucketTagging"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_public_access_block(Bucket=bucket)


def test_an_unmanaged_bucket_is_fixed_after_one_tag_call(world: World) -> None:
    pipeline = with_rails(world, policy(world))
    bucket = world.bucket(B, "unmanaged")
    calls = tag_calls(world, B)

    (entry,) = pipeline.process(policy_call(B, bucket))

    assert entry.state is State.QUARANTINED, entry.history[-1].note
    assert calls.count("GetBucketTagging") == 1
    config = world.s3(B).get_public_access_block(Bucket=bucket)
    assert all(config["PublicAccessBlockConfiguration"].values())


def test_managed_notify_tells_people_and_object_quarantine_reads_no_tags(world: World) -> None:
    folder = policy(
        world,
        "rails:\n  managed: {tags: [terraform:workspace]}\n",
        after=("    remediation: s3-block-public-access\n", "    managed: notify\n"),
    )
    pipeline = with_rails(world, folder)
    bucket = world.bucket(C, "terraformed", versioned=True)
    world.s3(C).put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "terraform:workspace", "Value": "shared"}]}
    )
    calls = tag_calls(world, C)

    (entry,) = pipeline.process(policy_call(C, bucket))
    assert entry.state is State.NOTIFIED
    assert entry.decision["reason"].endswith(
        f"{bucket} is managed by terraform:workspace=shared: fix it in code, or it will come back"
    )
    # An object in the same managed bucket is quarantined without reading any tag.
    calls.clear()
    stored, event = credentials(world, C, bucket, 1)
    assert pipeline.process(event)[0].state is State.QUARANTINED
    assert "GetBucketTagging" not in calls
    assert not world.still_at_source(stored)


def test_the_breaker_opening_sends_one_slack_message_and_one_email(
    world: World, slack: SlackServer
) -> None:
    folder = policy(world, "rails:\n  breaker: {per_rule: 2}\n")
    pipeline = with_rails(world, folder)
    accounts = pipeline.policy.accounts
    sns, sqs = world.core.client("sns"), world.core.client("sqs")
    topic = sns.create_topic(Name=f"owners-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"owners-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    notifier = CompositeNotifier(
        [
            ("slack", SlackNotifier(world.store, accounts, slack_client(slack))),
            ("owners", OwnersNotifier(topic, accounts, sns)),
        ]
    )
    pipeline.rails.alert = BreakerAlerts(accounts, notifier)
    bucket = world.bucket(A, "alerts", versioned=True)

    states = [pipeline.process(credentials(world, A, bucket, n)[1])[0].state for n in range(6)]

    assert states == [State.QUARANTINED] * 2 + [State.PENDING_APPROVAL] * 4
    top = accounts.get(A).channels[-1]
    (message,) = [m for m in slack.messages() if "circuit breaker open" in m.text]
    assert message.channel == slack.channel_id(top)
    assert message.text.startswith(
        f"remedy: circuit breaker open (rule:quarantine-credentials:{A}). Automatic "
        "remediation is paused there: further findings wait for approval, nothing is "
        "dropped. the breaker is open: 2 automatic remediations in the last hour"
    )
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    (email,) = [json.loads(m["Body"]) for m in received]
    assert email["Subject"] == (
        f"remedy: circuit breaker open in {A} (rule:quarantine-credentials:{A})"
    )
    assert email["MessageAttributes"]["account_id"]["Value"] == A


def test_a_storm_of_recurring_findings_trips_the_breaker(world: World) -> None:
    # A member rewriting one object again and again: each rewrite is a new occurrence of
    # the same finding, a new ledger entry, and counts.
    pipeline = with_rails(world, policy(world, "rails:\n  breaker: {per_rule: 2}\n"))
    bucket = world.bucket(C, "recurring")
    entries = []
    for day in range(4):
        stored = world.put(C, bucket, "nightly/users.csv", f"day {day} secrets".encode())
        event = macie_event(C, bucket, stored.key, etag=stored.etag)
        entries.append(pipeline.process(event)[0])

    assert [e.state for e in entries] == [State.QUARANTINED] * 2 + [State.PENDING_APPROVAL] * 2
    assert [e.key for e in entries[1:]] == [f"{entries[0].key}.{n}" for n in (2, 3, 4)]
    assert "the breaker is open: 2 automatic remediations" in entries[3].decision["reason"]
    assert world.read(C, bucket, "nightly/users.csv") == b"day 3 secrets"
