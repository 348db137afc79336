"""A ledger on moto, the Jira secret in moto's Secrets Manager, and a local Jira server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conftest import fake_aws_credentials
from fixtures_aws import LEDGER_TABLE, REGION, Clock, create_ledger_table, settings
from remedy.devtools.jira_server import JiraServer
from remedy.devtools.servicenow_server import ServiceNowServer
from remedy.ledger.base import Entry, HistoryItem, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.notify.outbox import SlackOutbox
from remedy.policy.accounts import build
from remedy.settings import Settings
from remedy.tickets import build as build_backends
from remedy.tickets.lifecycle import OUTBOX_PK, OWED, SLOT, SLOW, Tickets

OWNER = "111111111111"
CONNECTOR = "2f1e0cd4-7f44-4a65-9d44-3f3c1d2e5a10"
#: An account accounts.yaml gives no ticket target (nor its default).
UNTARGETED = "222222222222"
ACCOUNTS = {
    "version": 1,
    "default": {
        "name": "unlisted",
        "environment": "prod",
        "owners": ["sec@example.com"],
        "slack": {"channel": "#sec"},
        "approvers": {"usergroup": "S0SECAPPROVE"},
    },
    "accounts": {
        OWNER: {
            "name": "payments",
            "environment": "prod",
            "tickets": {
                "jira": {"project": "SEC"},
                "servicenow": {"assignment_group": "Cloud Security"},
                "securityhub": {"connector": CONNECTOR},
            },
        },
        UNTARGETED: {"name": "sandbox", "environment": "prod"},
    },
}


@dataclass
class World:
    aws: dict[str, Any]
    store: DynamoDBLedgerStore
    #: The ticket system's local server.
    server: Any
    settings: Settings
    clock: Clock
    secret_arn: str

    @property
    def jira(self) -> JiraServer:
        assert isinstance(self.server, JiraServer)
        return self.server

    def tickets(self, **changes: Any) -> Tickets:
        accounts = build(json.loads(json.dumps(ACCOUNTS)) | changes.pop("accounts", {}))
        session = changes.pop("session", None)
        aws = changes.pop("aws", True)
        slow = changes.pop("slow", SLOW)
        settings = replace(self.settings, **changes)
        return Tickets(
            self.store,
            build_backends(
                settings, secrets_client=self.aws["secretsmanager"], session=session, aws=aws
            ),
            accounts.get,
            SlackOutbox(self.aws["dynamodb"], LEDGER_TABLE, pk=OUTBOX_PK),
            clock=self.clock,
            slow=slow,
        )

    def entry(
        self,
        state: State = State.PENDING_APPROVAL,
        *,
        account: str = OWNER,
        ticket: Any = "jira",
        severity: str = "HIGH",
        parameters: dict[str, Any] | None = None,
        key: str = "",
        title: str = "Credentials in s3://payments-exports/cards.csv",
        **attrs: Any,
    ) -> Entry:
        key = key or "m-" + uuid.uuid4().hex[:12]
        decision: dict[str, Any] = {"action": "approve", "rule": "secrets", "reason": "why"}
        if ticket is not None:
            decision["ticket"] = {"backend": ticket} if isinstance(ticket, str) else ticket
        created, entry = self.store.create(
            Entry(
                key=key,
                state=state,
                account=account,
                region=REGION,
                finding={
                    "key": key,
                    "severity": severity,
                    "product": "Macie",
                    "type": "SensitiveData:S3Object/Credentials",
                    "title": title,
                    "source": "macie",
                    "parameters": parameters or {},
                },
                decision=decision,
                created_at="",
                updated_at="",
                attrs=dict(attrs),
                history=(
                    HistoryItem("2026-01-01T00:00:00Z", "remedy", "RECEIVED", state.value, "why"),
                ),
            )
        )
        assert created
        return entry

    def dismiss(self, tickets: Tickets, entry: Entry) -> Entry:
        """`entry` dismissed from Slack, and its ticket told."""
        changed = self.store.transition(
            entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
        )
        return tickets.follow(changed)

    def issue_posts(self) -> int:
        return sum(
            1 for r in self.jira.requests if (r.method, r.path) == ("POST", "/rest/api/3/issue")
        )


@contextmanager
def _world(server: Any, secret: dict[str, str], **configured: str) -> Iterator[World]:
    """The ledger and the secret on moto, `server` running; `configured` names the
    settings that point at it (the secret's ARN setting gets the ARN)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_credentials(monkeypatch, REGION)
        with mock_aws(), server:
            aws = {name: boto3.client(name) for name in ("dynamodb", "secretsmanager")}
            create_ledger_table(aws["dynamodb"])
            arn = aws["secretsmanager"].create_secret(
                Name=f"remedy/{server.name}", SecretString=json.dumps(secret)
            )["ARN"]
            clock = Clock()
            store = DynamoDBLedgerStore(LEDGER_TABLE, aws["dynamodb"], ttl_days=30, clock=clock)
            changes = {k: (arn if v == "<arn>" else server.url) for k, v in configured.items()}
            yield World(aws, store, server, replace(settings(), **changes), clock, arn)


def jira_world() -> Any:
    jira = JiraServer(projects={"SEC"})
    secret = {"email": jira.email, "api_token": jira.api_token}
    return _world(jira, secret, jira_site="<url>", jira_secret_arn="<arn>")


def servicenow_world(*, oauth: bool = False, **server: Any) -> Any:
    """The API key's secret, or with `oauth` the OAuth client's."""
    servicenow = ServiceNowServer(**server)
    secret = (
        {"client_id": servicenow.client_id, "client_secret": servicenow.client_secret}
        if oauth
        else {"api_key": servicenow.api_key}
    )
    return _world(
        servicenow,
        secret,
        servicenow_instance="<url>",
        servicenow_secret_arn="<arn>",
    )


def eight_workers_follow(world: World, entry: Entry) -> None:
    """Eight workers, each with its own `Tickets`, follow `entry` at the same moment."""
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            world.tickets().follow(entry)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def assert_gone(entry: Entry, answer: str) -> None:
    """The entry's ticket is no longer followed, for the system's `answer`; nothing owed."""
    assert OWED not in entry.attrs
    assert (entry.attrs[SLOT]["status"], entry.attrs[SLOT]["gone"]) == ("gone", answer)
