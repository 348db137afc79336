"""A ledger on moto, the Jira secret in moto's Secrets Manager, and a local Jira server."""

from __future__ import annotations

import json
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
from remedy.ledger.base import Entry, HistoryItem, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.notify.outbox import SlackOutbox
from remedy.policy.accounts import build
from remedy.settings import Settings
from remedy.tickets import build as build_backends
from remedy.tickets.lifecycle import OUTBOX_PK, Tickets

OWNER = "111111111111"
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
        OWNER: {"name": "payments", "environment": "prod", "tickets": {"jira": {"project": "SEC"}}},
        UNTARGETED: {"name": "sandbox", "environment": "prod"},
    },
}


@dataclass
class World:
    aws: dict[str, Any]
    store: DynamoDBLedgerStore
    jira: JiraServer
    settings: Settings
    clock: Clock
    secret_arn: str

    def tickets(self, **changes: Any) -> Tickets:
        accounts = build(json.loads(json.dumps(ACCOUNTS)) | changes.pop("accounts", {}))
        settings = replace(self.settings, **changes)
        return Tickets(
            self.store,
            build_backends(settings, secrets_client=self.aws["secretsmanager"]),
            accounts.get,
            SlackOutbox(self.aws["dynamodb"], LEDGER_TABLE, pk=OUTBOX_PK),
            clock=self.clock,
        )

    def entry(
        self,
        state: State = State.PENDING_APPROVAL,
        *,
        account: str = OWNER,
        ticket: Any = "jira",
        severity: str = "HIGH",
        **attrs: Any,
    ) -> Entry:
        key = "m-" + uuid.uuid4().hex[:12]
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
                    "title": "Credentials in s3://payments-exports/cards.csv",
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

    def issue_posts(self) -> int:
        return sum(
            1 for r in self.jira.requests if (r.method, r.path) == ("POST", "/rest/api/3/issue")
        )


@contextmanager
def jira_world() -> Iterator[World]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_credentials(monkeypatch, REGION)
        with mock_aws(), JiraServer(projects={"SEC"}) as jira:
            aws = {name: boto3.client(name) for name in ("dynamodb", "secretsmanager")}
            create_ledger_table(aws["dynamodb"])
            arn = aws["secretsmanager"].create_secret(
                Name="remedy/jira",
                SecretString=json.dumps({"email": jira.email, "api_token": jira.api_token}),
            )["ARN"]
            clock = Clock()
            store = DynamoDBLedgerStore(LEDGER_TABLE, aws["dynamodb"], ttl_days=30, clock=clock)
            yield World(
                aws,
                store,
                jira,
                replace(settings(), jira_site=jira.url, jira_secret_arn=arn),
                clock,
                arn,
            )
