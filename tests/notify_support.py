"""Fixtures for the notification and interaction tests: a ledger on moto, the shipped
accounts, entries built from the project's sample events, a local Slack server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from conftest import fake_aws_credentials
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, HistoryItem, LedgerStore, State, stamp
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.model import Decision, Finding
from remedy.normalise import normalise
from remedy.notify.slack import web_client
from remedy.policy import load_policy
from remedy.policy.accounts import Accounts

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REGION = "eu-west-1"
TABLE = "remedy-ledger"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        yield


@dataclass
class Ledger:
    store: DynamoDBLedgerStore
    client: Any
    table: str


def create_table(client: Any, table: str = TABLE) -> None:
    """The ledger table as template.yaml declares it: ``pk`` hash key, the operators'
    views' indexes, TTL ``expires_at``."""
    client.create_table(TableName=table, **TABLE_SCHEMA)
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


@pytest.fixture
def ledger(aws: None) -> Ledger:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return Ledger(DynamoDBLedgerStore(TABLE, client), client, TABLE)


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    return load_policy(ROOT / "policies").accounts


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def slack_client(server: SlackServer, **kwargs: Any) -> Any:
    return web_client(server.token, base_url=server.url, **kwargs)


def finding_from(event_file: str) -> Finding:
    return normalise(json.loads((EVENTS / event_file).read_text(encoding="utf-8")))[0]


def decision(action: str = "approve", rule: str = "test-rule") -> Decision:
    from remedy.model import Action

    return Decision(Action(action), rule, f"rule {rule}: test")


def put_entry(
    store: LedgerStore,
    finding: Finding,
    state: State = State.PENDING_APPROVAL,
    action: str = "approve",
    key: str | None = None,
) -> Entry:
    """An entry as the pipeline writes it: created straight in its first decided state."""
    entry = Entry(
        key=key or finding.key,
        state=state,
        account=finding.account,
        region=finding.region,
        finding=finding.to_dict(),
        decision=decision(action).to_dict(),
        created_at="",
        updated_at="",
    )
    created, stored = store.create(entry)
    assert created
    return stored


def store_at(ledger: Ledger, moment: datetime) -> DynamoDBLedgerStore:
    """The ledger store with its clock stopped at `moment`."""
    return DynamoDBLedgerStore(ledger.table, ledger.client, clock=lambda: moment)


def create_at(
    ledger: Ledger, moment: datetime, finding: Finding, key: str, state: State, action: str
) -> None:
    """An entry as the pipeline creates it: in its first state, with that first step."""
    at = stamp(moment)
    entry = Entry(
        key=key,
        state=state,
        account=finding.account,
        region=finding.region,
        finding=finding.to_dict(),
        decision=decision(action).to_dict(),
        created_at=at,
        updated_at=at,
        history=(HistoryItem(at, "remedy", "RECEIVED", state.value, f"rule says {action}"),),
    )
    assert store_at(ledger, moment).create(entry)[0]


def entry_for(
    finding: Finding,
    state: State = State.PENDING_APPROVAL,
    action: str = "approve",
    *,
    rule: str = "test-rule",
    attrs: dict[str, Any] | None = None,
    history: tuple[HistoryItem, ...] = (),
) -> Entry:
    """An entry as the ledger holds it, stored nowhere: for what is built from one."""
    return Entry(
        key=finding.key,
        state=state,
        account=finding.account,
        region=finding.region,
        finding=finding.to_dict(),
        decision=decision(action, rule).to_dict(),
        created_at="2024-10-02T10:20:00Z",
        updated_at="2024-10-02T10:20:00Z",
        attrs=attrs or {},
        history=history,
    )


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Headers Slack would send with `body`, as API Gateway passes them (lower-cased)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


def click_body(
    key: str,
    action_id: str,
    user_id: str,
    user_name: str = "approver",
    channel: str = "C0PAYMENTS1",
) -> bytes:
    """The form body of a ``block_actions`` request for one of remedy's buttons."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0LOCAL0001", "domain": "remedy-local"},
        "user": {"id": user_id, "username": user_name, "name": user_name},
        "api_app_id": "A0REMEDY001",
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.000001"},
        "channel": {"id": channel, "name": "payments-security"},
        "message": {"ts": "1.000001", "type": "message"},
        "response_url": "https://hooks.slack.invalid/actions/T0/1/x",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "remedy_decision",
                "value": key,
                "action_ts": "1.000002",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each write to an item atomically; moto in-process does not lock,
    so threads racing on one item could both pass a condition. This adds the lock real
    DynamoDB has, so concurrency tests test remedy and not moto."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "get_item", "update_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def owners_mailbox(session: Any, topic: str, queue: str) -> tuple[str, str]:
    """The owners' SNS topic `topic`, delivered raw to SQS queue `queue` standing in for
    their mailboxes: the topic's ARN and the queue's URL."""
    sns, sqs = session.client("sns"), session.client("sqs")
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return topic_arn, queue_url
