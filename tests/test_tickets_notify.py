"""Tickets through the notifier the functions build: the ticket is opened, told and
resolved as the entry changes, and Slack, the owners' email, ``remedy history`` and
``remedy status`` show it. Real boto3 on moto (ledger, Secrets Manager, SNS, SQS), the
local Slack and Jira servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from notify_support import (
    REGION,
    Ledger,
    accounts,
    aws,
    finding_from,
    ledger,
    owners_mailbox,
    slack,
)
from remedy.devtools.jira_server import JiraServer, adf_text
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, State
from remedy.ledger.queries import LedgerQueries
from remedy.model import Action, Decision, TicketWant
from remedy.notify.composite import SLACK_API_ENV, CompositeNotifier, build_notifier
from remedy.notify.outbox import TICKET_OUTBOX_PK, SlackOutbox
from remedy.policy.accounts import Accounts
from remedy.settings import Settings
from remedy.tickets.lifecycle import OWED, SLOT
from remedy.tickets.notifier import DEFERRED, HELD, build_tickets
from remedy.views.history import Filters, steps
from remedy.views.status import status

__all__ = ["accounts", "aws", "ledger", "slack"]

OWNER = "111111111111"


@pytest.fixture
def jira() -> Iterator[JiraServer]:
    with JiraServer(projects={"PAY"}) as server:
        yield server


def ticketed(accounts: Accounts) -> Accounts:
    info = accounts.get(OWNER)
    by_id = {**accounts.by_id, OWNER: replace(info, tickets={"jira": {"project": "PAY"}})}
    return replace(accounts, by_id=by_id)


def deploy(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    jira: JiraServer,
    monkeypatch: pytest.MonkeyPatch,
    **kwargs: Any,
) -> tuple[CompositeNotifier, Settings, Any]:
    """The notifier as a function builds it from its settings: secrets by ARN only."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    slack_arn = secrets.create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s"}),
    )["ARN"]
    jira_arn = secrets.create_secret(
        Name="remedy/jira",
        SecretString=json.dumps({"email": jira.email, "api_token": jira.api_token}),
    )["ARN"]
    topic, queue = owners_mailbox(
        boto3.session.Session(region_name=REGION), "remedy-owners", "owners-mail"
    )
    monkeypatch.setenv(SLACK_API_ENV, slack.url)
    settings = replace(
        Settings.from_env(),
        ledger_table=ledger.table,
        slack_secret_arn=slack_arn,
        owner_topic_arn=topic,
        jira_site=jira.url,
        jira_secret_arn=jira_arn,
    )
    session = boto3.session.Session(region_name=REGION)
    notifier = build_notifier(settings, accounts, ledger.store, session=session, **kwargs)
    return notifier, settings, queue


def pending(
    ledger: Ledger,
    state: State = State.PENDING_APPROVAL,
    sample: str = "macie-classification-credentials.json",
) -> Entry:
    finding = finding_from(sample)
    created, entry = ledger.store.create(
        Entry(
            key=finding.key,
            state=state,
            account=finding.account,
            region=finding.region,
            finding=finding.to_dict(),
            decision=Decision(
                Action.APPROVE, "secrets", "rule secrets: test", ticket=TicketWant("jira")
            ).to_dict(),
            created_at="",
            updated_at="",
        )
    )
    assert created
    return entry


def mails(queue: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in got]


def test_the_ticket_follows_the_entry_and_every_message_links_to_it(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    jira: JiraServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = ticketed(accounts)
    notifier, _, queue = deploy(ledger, accounts, slack, jira, monkeypatch)
    entry = pending(ledger)

    notifier.on_change(entry)
    assert notifier.failures == {}
    url = f"{jira.url}/browse/PAY-1"
    recorded = ledger.store.get(entry.key)
    assert recorded is not None
    assert recorded.attrs[SLOT]["url"] == url
    (message,) = slack.messages()
    assert url in json.dumps(message.blocks)
    (mail,) = mails(queue)
    assert f"Ticket PAY-1: {url}" in mail

    approved = ledger.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U0PAYLEAD1", note="ok"
    )
    notifier.on_change(approved)
    working = ledger.store.transition(entry.key, [State.APPROVED], State.QUARANTINING, by="remedy")
    done = ledger.store.transition(
        entry.key, [State.QUARANTINING], State.QUARANTINED, by="remedy", note="moved"
    )
    notifier.on_change(working)
    notifier.on_change(done)

    issue = jira.issue("PAY-1")
    assert [c.split(": ", 1)[1] for c in issue.text_of_comments()[:3]] == [
        "PENDING_APPROVAL -> APPROVED by slack:U0PAYLEAD1: ok",
        "APPROVED -> QUARANTINING by remedy",
        "QUARANTINING -> QUARANTINED by remedy: moved",
    ]
    assert issue.status == "Done"
    assert url in json.dumps(slack.messages()[0].blocks)

    final = ledger.store.get(entry.key)
    assert final is not None
    assert {step.ticket for step in steps([final], accounts, Filters())} == {url}


def test_where_a_person_waits_the_ticket_is_owed_then_sent_by_the_outbox(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    jira: JiraServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = ticketed(accounts)
    notifier, settings, _ = deploy(ledger, accounts, slack, jira, monkeypatch, defer_tickets=True)
    entry = pending(ledger)
    notifier.on_change(entry)

    assert jira.requests == []
    owed = ledger.store.get(entry.key)
    assert owed is not None
    assert owed.attrs[OWED] == DEFERRED
    outbox = SlackOutbox(ledger.client, ledger.table, pk=TICKET_OUTBOX_PK)
    seen = status(
        LedgerQueries(ledger.table, ledger.client),
        SlackOutbox(ledger.client, ledger.table),
        None,
        accounts,
        [],
        datetime.now(UTC),
        outbox,
    )
    assert seen.tickets_owed == 1
    assert seen.to_dict()["tickets_owed"] == 1

    # The scheduled outbox function, as it builds its tickets.
    session = boto3.session.Session(region_name=REGION)
    tickets = build_tickets(settings, accounts, ledger.store, session)
    assert tickets.retry_owed() == 1
    assert list(jira.issues) == ["PAY-1"]
    assert tickets.owed() == 0


def test_a_remediation_that_starts_waits_for_no_ticket_call(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    jira: JiraServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = ticketed(accounts)
    notifier, _, _ = deploy(ledger, accounts, slack, jira, monkeypatch)
    outbox = SlackOutbox(ledger.client, ledger.table, pk=TICKET_OUTBOX_PK)
    working = pending(ledger, State.QUARANTINING)

    notifier.on_change(working)  # the remediation runs next, in this function
    assert jira.requests == []
    held = ledger.store.get(working.key)
    assert held is not None
    assert held.attrs[OWED] == HELD
    assert outbox.count() == 1  # owed: were the function to die now, the outbox sends it

    done = ledger.store.transition(
        working.key, [State.QUARANTINING], State.QUARANTINED, by="remedy", note="moved"
    )
    notifier.on_change(done)
    issue = jira.issue("PAY-1")
    # Opened after the remediation: the description already says how it ended.
    assert adf_text(issue.fields["description"]).splitlines()[0] == (
        f"remedy ledger entry {working.key}: QUARANTINED"
    )
    assert issue.status == "Done"
    final = ledger.store.get(working.key)
    assert final is not None
    assert final.attrs.get(OWED) is None
    assert outbox.count() == 0

    # A remediation that raised (no next change): the ticket goes at the invocation's end.
    stuck = pending(ledger, State.QUARANTINING, "macie-classification-personal.json")
    notifier.on_change(stuck)
    assert list(jira.issues) == ["PAY-1"]
    notifier.flush()
    assert list(jira.issues) == ["PAY-1", "PAY-2"]
    assert adf_text(jira.issue("PAY-2").fields["description"]).splitlines()[0] == (
        f"remedy ledger entry {stuck.key}: QUARANTINING"
    )
