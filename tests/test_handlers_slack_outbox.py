"""The scheduled Slack outbox function: what a Slack outage left owed goes out on the next
run once Slack is back, with no new finding needed; what is still owed is reported where
SlackOwedAlarm looks. Built from the environment as in Lambda, ledger and secret on moto,
Slack the local server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conftest import fake_aws_credentials
from email_support import _zip as function_code
from fixtures_aws import LambdaContext
from notify_support import (
    REGION,
    ROOT,
    Ledger,
    accounts,
    finding_from,
    ledger,
    put_entry,
    slack,
    slack_client,
)
from remedy.devtools.slack_server import SlackServer
from remedy.handlers import slack_outbox
from remedy.ledger.base import Entry, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.model import Action, ApprovalDeadline, Decision, OnTimeout
from remedy.notify.composite import SLACK_API_ENV
from remedy.notify.outbox import SlackOutbox
from remedy.notify.slack import SlackNotifier, SlackUnavailable
from remedy.policy.accounts import Accounts
from template_support import dashboard_metric, granted, properties, seen_by

__all__ = ["accounts", "ledger", "slack"]

EVENTS = ("macie-classification-credentials.json", "macie-classification-personal.json")
REMEDIATOR = "remedy-remediator"
#: The API operations whose IAM action has another name than the operation.
IAM_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


def iam_action(model: Any) -> str:
    """The IAM action that authorises a call of the operation `model` (botocore's)."""
    operation = f"{model.service_model.signing_name}:{model.name}"
    return IAM_ACTIONS.get(operation, operation)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_aws_credentials(monkeypatch, REGION)
    # moto runs no function code without docker: the remediator is only invoked.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def calls(
    ledger: Ledger, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The function's environment, a fresh container, and the AWS calls it makes."""
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cr3t-signing"}),
    )["ARN"]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="remedy-owners")
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="remedy-remediator", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=REMEDIATOR,
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": function_code()},
    )
    for name, value in {
        "REMEDY_LEDGER_TABLE": ledger.table,
        "REMEDY_SLACK_SECRET_ARN": secret,
        "REMEDY_OWNER_TOPIC_ARN": topic["TopicArn"],
        "REMEDY_REMEDIATOR_FUNCTION": REMEDIATOR,
        SLACK_API_ENV: slack.url,
        "REMEDY_POLICY_DIR": str(ROOT / "policies"),
    }.items():
        monkeypatch.setenv(name, value)
    made: list[str] = []
    session = boto3.session.Session(region_name=REGION)
    session.events.register(
        "before-call",
        lambda model, **_: made.append(iam_action(model)),
    )
    monkeypatch.setattr(slack_outbox, "_scheduled", slack_outbox.build(session))
    yield made


@pytest.fixture
def owed(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
) -> list[Entry]:
    """Two findings notified while Slack was unreachable: both messages are owed, and
    Slack is still down."""
    entries = [put_entry(ledger.store, finding_from(event)) for event in EVENTS]
    findings_function = SlackNotifier(
        ledger.store,
        accounts,
        slack_client(slack, connection_retries=0),
        outbox=SlackOutbox(ledger.client, ledger.table),
    )
    slack.stop()
    for entry in entries:
        with pytest.raises(SlackUnavailable):
            findings_function.on_change(entry)
    assert SlackOutbox(ledger.client, ledger.table).count() == 2
    capsys.readouterr()
    return sorted(entries, key=lambda e: e.key)


def run(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, int], list[float]]:
    """The run's answer but for the pending approvals (the test below), and the owed
    count exactly as SlackOwedAlarm selects it."""
    answer = slack_outbox.handler({}, LambdaContext(function_name="remedy-slack-outbox"))
    for deadlines in ("pending_approvals", "reminded", "timed_out", "escalated", "failed"):
        answer.pop(deadlines)
    return answer, seen_by("SlackOwedAlarm", capsys.readouterr().out)


def test_a_run_reports_the_pending_approvals_for_the_dashboard(
    owed: list[Entry], ledger: Ledger, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.store.transition(owed[0].key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1")

    answer = slack_outbox.handler({}, LambdaContext(function_name="remedy-slack-outbox"))

    assert answer["pending_approvals"] == 1
    assert dashboard_metric("PendingApprovals", capsys.readouterr().out) == [1.0]
    assert "dynamodb:Query" in calls


def test_a_scheduled_run_sends_what_an_outage_left_owed(
    owed: list[Entry],
    ledger: Ledger,
    slack: SlackServer,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    slack.start()

    assert run(capsys) == ({"owed": 0}, [0.0])

    assert len(slack.messages()) == 2
    for entry in owed:
        paid = ledger.store.get(entry.key)
        assert paid is not None and paid.attrs["slack_pending"] is False
        message = slack.message(paid.attrs["slack"]["channel"], paid.attrs["slack"]["ts"])
        assert "Waiting for approval" in message.text
    # Least privilege: every call it made is one template.yaml grants it (the run with
    # overdue approvals below makes every call granted).
    assert set(calls) <= granted("SlackOutboxFunction")
    # A second run finds nothing owed and sends nothing.
    assert run(capsys) == ({"owed": 0}, [0.0])
    assert len(slack.messages()) == 2


def test_while_slack_is_still_down_the_messages_stay_owed_and_are_reported(
    owed: list[Entry],
    ledger: Ledger,
    slack: SlackServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run(capsys) == ({"owed": 2}, [2.0])

    for entry in owed:
        still = ledger.store.get(entry.key)
        assert still is not None and still.attrs["slack_pending"] is True
    assert any("Slack still unavailable" in r.getMessage() for r in caplog.records)
    assert "2 Slack message(s) still owed" in caplog.text
    slack.start()
    assert run(capsys) == ({"owed": 0}, [0.0])
    assert len(slack.messages()) == 2


def test_a_message_slack_refuses_stays_owed_without_holding_up_the_other(
    owed: list[Entry],
    ledger: Ledger,
    slack: SlackServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = owed
    slack.start()
    slack.fail("chat.postMessage", error="channel_not_found")  # the first one re-sent

    assert run(capsys) == ({"owed": 1}, [1.0])

    assert SlackOutbox(ledger.client, ledger.table).pending(10) == [first.key]
    (sent,) = slack.messages()
    paid = ledger.store.get(second.key)
    assert paid is not None and paid.attrs["slack"]["ts"] == sent.ts
    assert f"Slack refused {first.key}, kept in the outbox" in caplog.text


def test_the_schedule_runs_it_less_often_than_a_run_can_last() -> None:
    function = properties("SlackOutboxFunction")
    assert function["Handler"] == f"{slack_outbox.__name__}.handler"
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(5 minutes)"
    # A run lasts less than the interval, and an event Lambda could not start within a
    # minute is dropped rather than queued (by default for up to 6 hours), so two runs do
    # not normally re-send the same message at once.
    assert function["Timeout"] + 60 <= 5 * 60
    assert function["EventInvokeConfig"] == {
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
    }


def test_overdue_approvals_are_reminded_or_decided_with_exactly_the_grant(
    ledger: Ledger,
    slack: SlackServer,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One waits past the default deadline (reminded), one past a rule's deadline with
    on_timeout: quarantine (approved by remedy and handed to the remediator)."""
    day_ago = DynamoDBLedgerStore(
        ledger.table, ledger.client, clock=lambda: datetime.now(UTC) - timedelta(hours=25)
    )
    waiting = put_entry(day_ago, finding_from(EVENTS[0]))
    timing_out = finding_from(EVENTS[1])
    day_ago.create(
        Entry(
            key=timing_out.key,
            state=State.PENDING_APPROVAL,
            account=timing_out.account,
            region=timing_out.region,
            finding=timing_out.to_dict(),
            decision=Decision(
                Action.APPROVE,
                "approve-then-quarantine",
                "rule approve-then-quarantine: test",
                deadline=ApprovalDeadline(24, OnTimeout.QUARANTINE),
            ).to_dict(),
            created_at="",
            updated_at="",
        )
    )
    answer = slack_outbox.handler({}, LambdaContext(function_name="remedy-slack-outbox"))

    assert answer == {
        "owed": 0,
        "pending_approvals": 2,
        "reminded": 1,
        "timed_out": 1,
        "escalated": 0,
        "failed": 0,
    }
    assert dashboard_metric("PendingApprovals", capsys.readouterr().out) == [2.0]
    reminded = ledger.store.get(waiting.key)
    assert reminded is not None and reminded.attrs["reminders"] == 1
    # The reminder (no message to thread on: in the account's top channel), and the
    # approval's own message, which says remedy approved it.
    reminder, decided = (json.dumps(p["blocks"]) for p in slack.calls("chat.postMessage"))
    assert "reminder 1: still waiting for approval after 1d 1h" in reminder
    assert "the approval deadline of 24 h passed with no decision" in decided
    approved = ledger.store.get(timing_out.key)
    assert approved is not None and approved.state is State.APPROVED
    assert approved.history[-1].by == "remedy"
    assert calls.count("lambda:InvokeFunction") == 1  # handed to the remediator
    # Least privilege: exactly what template.yaml grants, and no more.
    assert set(calls) <= granted("SlackOutboxFunction")
    assert granted("SlackOutboxFunction") - {"kms:Decrypt", "kms:GenerateDataKey"} == set(calls)
