"""Slack interactions: signature first, then authorisation, then exactly one state change."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from fixtures_aws import World, org_fixture, world_fixture
from notify_support import (
    REGION,
    ROOT,
    SIGNING_SECRET,
    Ledger,
    accounts,
    atomic_dynamodb,
    aws,
    click_body,
    finding_from,
    ledger,
    put_entry,
    sign,
    slack,
    slack_client,
)
from remedy.approvals.decide import Decisions
from remedy.approvals.page import EMAIL_DECIDER
from remedy.approvals.slack import Interactions, UsergroupMembers, lambda_hand_over
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.notify.composite import CompositeNotifier
from remedy.notify.outbox import SlackOutbox
from remedy.notify.securityhub import SecurityHubFeedback
from remedy.notify.slack import SlackNotifier
from remedy.notify.slack_message import DISMISS_ACTION, QUARANTINE_ACTION
from remedy.policy.accounts import Accounts

__all__ = ["accounts", "atomic_dynamodb", "aws", "ledger", "org_fixture", "slack", "world_fixture"]

LEAD_1, LEAD_2 = "U0PAYLEAD1", "U0PAYLEAD2"  # approvers of 111111111111 by user id
GROUP_MEMBER = "U0GROUPMEM1"  # in S0PAYAPPROV, the account's approver group
STRANGER = "U0STRANGER1"


class HandOver:
    """Records what was handed to the remediator (the Lambda invoke is tested apart)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, key: str) -> None:
        with self._lock:
            self.keys.append(key)


def make_app(
    store: DynamoDBLedgerStore,
    client: Any,
    accounts: Accounts,
    slack: SlackServer,
    hand_over: Any,
    **kwargs: Any,
) -> tuple[Interactions, CompositeNotifier]:
    web = slack_client(slack)
    notifier = CompositeNotifier(
        [
            (
                "slack",
                SlackNotifier(
                    store, accounts, web, outbox=SlackOutbox(client, store.table), outbox_interval=0
                ),
            )
        ]
    )
    app = Interactions(
        signing_secret=lambda: SIGNING_SECRET,
        store=store,
        accounts=accounts,
        slack=lambda: web,
        notifier=notifier,
        hand_over=hand_over,
        **kwargs,
    )
    return app, notifier


@pytest.fixture
def pending(ledger: Ledger, accounts: Accounts, slack: SlackServer) -> Entry:
    """An approval waiting in 111111111111, its message already in Slack."""
    slack.usergroups["S0PAYAPPROV"] = [GROUP_MEMBER]
    entry = put_entry(ledger.store, finding_from("macie-classification-personal.json"))
    SlackNotifier(ledger.store, accounts, slack_client(slack)).on_change(entry)
    stored = ledger.store.get(entry.key)
    assert stored is not None and stored.attrs["slack"]["ts"]
    slack.clear_requests()
    return stored


def untouched(ledger: Ledger, entry: Entry, slack: SlackServer, hand_over: HandOver) -> None:
    now = ledger.store.get(entry.key)
    assert now is not None
    assert (now.state, now.version, now.history) == (entry.state, entry.version, entry.history)
    assert hand_over.keys == []
    assert slack.requests == []


def test_approval_changes_state_once_hands_over_and_updates_the_message(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1, "pat")

    response = app.handle(body, sign(body))

    assert (response.status, response.body) == (200, "")
    approved = ledger.store.get(pending.key)
    assert approved is not None and approved.state is State.APPROVED
    assert approved.history[-1].by == f"slack:{LEAD_1}"
    assert approved.attrs["decided_by"]["id"] == LEAD_1
    assert approved.attrs["decided_by"]["name"] == "pat"
    assert hand_over.keys == [pending.key]
    message = slack.message(pending.attrs["slack"]["channel"], pending.attrs["slack"]["ts"])
    shown = json.dumps(message.blocks)
    assert f"<@{LEAD_1}>" in shown and "Approved" in shown
    assert QUARANTINE_ACTION not in shown


def test_dismiss_records_the_user_and_starts_nothing(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(pending.key, DISMISS_ACTION, LEAD_2, "sam")
    assert app.handle(body, sign(body)).status == 200
    dismissed = ledger.store.get(pending.key)
    assert dismissed is not None and dismissed.state is State.DISMISSED
    assert dismissed.attrs["decided_by"] == {
        "id": LEAD_2,
        "name": "sam",
        "action": "dismissed",
        "at": dismissed.attrs["decided_by"]["at"],
    }
    assert hand_over.keys == []


def test_usergroup_member_may_approve_and_membership_is_cached(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    other = put_entry(ledger.store, finding_from("macie-classification-customidentifier.json"))
    # 333333333333 falls back to the default approvers: group S0SECAPPROVE.
    slack.usergroups["S0SECAPPROVE"] = [GROUP_MEMBER]
    for entry in (pending, other, pending):
        body = click_body(entry.key, QUARANTINE_ACTION, GROUP_MEMBER)
        assert app.handle(body, sign(body)).status == 200
    assert hand_over.keys == [pending.key, other.key]
    groups = [c["usergroup"] for c in slack.calls("usergroups.users.list")]
    assert groups == ["S0PAYAPPROV", "S0SECAPPROVE"]


def test_unauthorised_user_is_told_and_nothing_changes(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(pending.key, QUARANTINE_ACTION, STRANGER, "mallory")
    assert app.handle(body, sign(body)).status == 200
    now = ledger.store.get(pending.key)
    assert now is not None and (now.state, now.version) == (pending.state, pending.version)
    assert hand_over.keys == []
    (told,) = slack.ephemeral
    assert told["user"] == STRANGER
    assert told["text"].startswith("You are not an approver for prod-payments (111111111111)")
    assert f"<@{LEAD_1}>" in told["text"] and "<!subteam^S0PAYAPPROV>" in told["text"]
    assert slack.calls("chat.update") == []


@pytest.mark.parametrize(
    ("case", "expected_log"),
    [
        ("forged", "signature does not match"),
        ("altered", "signature does not match"),
        ("stale", "too old"),
        ("future", "in the future"),
        ("unsigned", "missing"),
        ("junk-timestamp", "malformed timestamp"),
    ],
)
def test_unsigned_forged_stale_or_future_requests_are_refused_before_parsing(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    pending: Entry,
    caplog: pytest.LogCaptureFixture,
    case: str,
    expected_log: str,
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
    now = int(time.time())
    headers = {
        "forged": sign(body, secret="not-the-signing-secret"),
        "altered": sign(body),
        "stale": sign(body, timestamp=now - 301),
        "future": sign(body, timestamp=now + 301),
        "unsigned": {},
        "junk-timestamp": {**sign(body), "x-slack-request-timestamp": "12e9"},
    }[case]
    if case == "altered":
        body = click_body(pending.key, QUARANTINE_ACTION, STRANGER)
    response = app.handle(body, headers)
    assert (response.status, response.body) == (401, "invalid Slack signature")
    assert expected_log in caplog.text
    untouched(ledger, pending, slack, hand_over)


def test_inside_the_window_is_accepted_both_ways(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    now = 1_800_000_000
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over, clock=lambda: now)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
    assert app.handle(body, sign(body, timestamp=now + 299)).status == 200
    assert app.handle(body, sign(body, timestamp=now - 300)).status == 200
    assert hand_over.keys == [pending.key]


def test_a_replayed_request_changes_nothing_and_is_answered_the_same(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
    headers = sign(body)
    first = app.handle(body, headers)
    after_first = ledger.store.get(pending.key)
    replay = app.handle(body, headers)
    assert first == replay
    after_replay = ledger.store.get(pending.key)
    assert after_first is not None and after_replay is not None
    assert after_replay.history == after_first.history
    assert [h.target for h in after_replay.history].count("APPROVED") == 1
    assert hand_over.keys == [pending.key]
    assert slack.ephemeral[-1]["text"].startswith("Already approved by you at ")


def test_double_click_gives_one_remediation(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    for _ in range(2):
        body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
        assert app.handle(body, sign(body)).status == 200
    assert hand_over.keys == [pending.key]


def _click_in_a_container(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    hand_over: HandOver,
    key: str,
    user: str,
    action: str,
    start: threading.Barrier,
    answers: list[int],
) -> None:
    client = boto3.session.Session(region_name=REGION).client("dynamodb")
    store = DynamoDBLedgerStore(ledger.table, client)
    app, _ = make_app(store, client, accounts, slack, hand_over)
    body = click_body(key, action, user)
    headers = sign(body)
    start.wait()
    answers.append(app.handle(body, headers).status)


def test_two_approvers_at_once_give_one_decision(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    pending: Entry,
    atomic_dynamodb: None,
) -> None:
    """Two Lambda containers (own clients) receive two approvers' clicks at the same time:
    one wins the conditional write, the other is told who decided."""
    hand_over = HandOver()
    base = finding_from("macie-classification-personal.json")
    rounds = [pending] + [put_entry(ledger.store, base, key=f"m-race{i:028d}") for i in range(1, 6)]
    for entry in rounds:
        start = threading.Barrier(2)
        answers: list[int] = []

        threads = [
            threading.Thread(
                target=_click_in_a_container,
                args=(ledger, accounts, slack, hand_over, entry.key, user, action, start, answers),
            )
            for user, action in ((LEAD_1, QUARANTINE_ACTION), (LEAD_2, DISMISS_ACTION))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200, 200]
        final = ledger.store.get(entry.key)
        assert final is not None and final.state in (State.APPROVED, State.DISMISSED)
        decisions = [h for h in final.history if h.source == "PENDING_APPROVAL"]
        assert len(decisions) == 1
        assert hand_over.keys.count(entry.key) == (1 if final.state is State.APPROVED else 0)
        loser = LEAD_2 if final.state is State.APPROVED else LEAD_1
        told = [e for e in slack.ephemeral if e["user"] == loser]
        assert told and told[-1]["text"].startswith("Already ")


def test_other_interactions_and_unknown_findings_change_nothing(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, pending: Entry
) -> None:
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    shortcut = b"payload=" + json.dumps({"type": "shortcut", "callback_id": "x"}).encode()
    assert app.handle(shortcut, sign(shortcut)).status == 200
    garbage = b"not a form"
    response = app.handle(garbage, sign(garbage))
    assert (response.status, response.body) == (
        400,
        "expected a form body with a JSON 'payload' field",
    )
    unknown = click_body("m-" + "0" * 32, QUARANTINE_ACTION, LEAD_1)
    assert app.handle(unknown, sign(unknown)).status == 200
    assert slack.ephemeral[-1]["text"] == (
        "remedy has no finding m-00000000000000000000000000000000: nothing was changed."
    )
    now = ledger.store.get(pending.key)
    assert now is not None and now.version == pending.version
    assert hand_over.keys == []


def test_hand_over_is_an_asynchronous_lambda_invoke() -> None:
    client = boto3.client("lambda", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "remedy-remediator",
                "InvocationType": "Event",
                "Payload": b'{"key": "m-123"}',
            },
        )
        lambda_hand_over(client, "remedy-remediator")("m-123")
        stub.assert_no_pending_responses()


def test_handler_reads_base64_bodies_and_any_header_case(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    pending: Entry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from remedy.handlers import interactions as entry_point

    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    monkeypatch.setattr(entry_point, "_app", app)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
    headers = {k.title(): v for k, v in sign(body).items()}
    event = {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "headers": headers,
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    assert entry_point.handler(event, None)["statusCode"] == 200
    assert hand_over.keys == [pending.key]
    bad = {**event, "body": "%%%not-base64", "isBase64Encoded": True}
    assert entry_point.handler(bad, None) == {
        "statusCode": 400,
        "body": "body is not valid base64",
    }


def test_dismiss_suppresses_the_finding_in_security_hub(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    finding = finding_from("securityhub-macie-personal-copy.json")
    entry = put_entry(ledger.store, finding)
    securityhub = boto3.client("securityhub", region_name=REGION)
    notifier = CompositeNotifier(
        [
            ("slack", SlackNotifier(ledger.store, accounts, slack_client(slack))),
            ("securityhub", SecurityHubFeedback(lambda region: securityhub)),
        ]
    )
    app = Interactions(
        signing_secret=lambda: SIGNING_SECRET,
        store=ledger.store,
        accounts=accounts,
        slack=lambda: slack_client(slack),
        notifier=notifier,
        hand_over=HandOver(),
    )
    body = click_body(entry.key, DISMISS_ACTION, LEAD_2, "sam")
    with Stubber(securityhub) as stub:
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": [], "UnprocessedFindings": []},
            {
                "FindingIdentifiers": [{"Id": finding.id, "ProductArn": finding.product_arn}],
                "Workflow": {"Status": "SUPPRESSED"},
                "Note": {
                    "Text": f"remedy: dismissed by sam (Slack {LEAD_2})",
                    "UpdatedBy": "remedy",
                },
            },
        )
        assert app.handle(body, sign(body)).status == 200
        stub.assert_no_pending_responses()
    assert notifier.failures == {}


def test_a_decision_from_the_email_link_is_named_plainly(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    """The email link is no Slack user: no ``<@email-link>`` mention, no "Slack email-link"."""
    finding = finding_from("securityhub-macie-personal-copy.json")
    entry = put_entry(ledger.store, finding)
    securityhub = boto3.client("securityhub", region_name=REGION)
    feedback = SecurityHubFeedback(lambda region: securityhub)
    with Stubber(securityhub) as stub:
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": [], "UnprocessedFindings": []},
            {
                "FindingIdentifiers": [{"Id": finding.id, "ProductArn": finding.product_arn}],
                "Workflow": {"Status": "SUPPRESSED"},
                "Note": {
                    "Text": "remedy: dismissed by an account owner (email link)",
                    "UpdatedBy": "remedy",
                },
            },
        )
        Decisions(ledger.store, feedback, HandOver()).decide(
            entry.key, State.DISMISSED, EMAIL_DECIDER
        )
        stub.assert_no_pending_responses()
    hand_over = HandOver()
    app, _ = make_app(ledger.store, ledger.client, accounts, slack, hand_over)
    body = click_body(entry.key, QUARANTINE_ACTION, LEAD_1, "pat")

    assert app.handle(body, sign(body)).status == 200

    (told,) = slack.ephemeral
    decided_at = ledger.store.get(entry.key).attrs["decided_by"]["at"]  # type: ignore[union-attr]
    assert told["text"] == (
        f"Already dismissed by an account owner (email link) at {decided_at}; it is now DISMISSED."
    )
    assert hand_over.keys == []


def test_handler_builds_from_the_environment_and_reports_a_failed_hand_over(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    pending: Entry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entry point as deployed: secret from Secrets Manager, ledger, Slack from the
    environment. No remediator function exists here, so the invoke fails: the approval
    stands, the approver is told, and nothing is handed over twice."""
    from remedy.handlers import interactions as entry_point

    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": SIGNING_SECRET}),
    )["ARN"]
    for name, value in {
        "REMEDY_LEDGER_TABLE": ledger.table,
        "REMEDY_SLACK_SECRET_ARN": secret,
        "REMEDY_REMEDIATOR_FUNCTION": "remedy-remediator",
        "REMEDY_SLACK_API_URL": slack.url,
        "REMEDY_POLICY_DIR": str(ROOT / "policies"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(entry_point, "_app", None)
    body = click_body(pending.key, QUARANTINE_ACTION, LEAD_1)
    event = {"headers": sign(body), "body": body.decode(), "isBase64Encoded": False}

    assert entry_point.handler(event, None)["statusCode"] == 200

    approved = ledger.store.get(pending.key)
    assert approved is not None and approved.state is State.APPROVED
    (told,) = slack.ephemeral
    assert told["text"].startswith(f"Approved, but starting the quarantine of {pending.key}")
    message = slack.message(pending.attrs["slack"]["channel"], pending.attrs["slack"]["ts"])
    assert "Approved" in message.blocks[0]["text"]["text"]
    forged = {**event, "headers": sign(body, secret="forged")}
    assert entry_point.handler(forged, None)["statusCode"] == 401


# Last in this module: `world` shares one moto organisation per module (fixtures_aws.org),
# which the function-scoped `ledger` fixtures above must not run inside.
@pytest.mark.parametrize("outage", ["refused", "5xx"])
def test_slack_down_delays_the_message_but_not_the_remediation(
    world: World, accounts: Accounts, slack: SlackServer, outage: str
) -> None:
    """Approve while Slack is unreachable: the object is still quarantined; the message
    catches up once Slack is back."""
    bucket = world.bucket("111111111111", "payments-hr-uploads")
    stored = world.put("111111111111", bucket, "people/ana.txt", b"Name: Ana Example")
    finding = world.finding(stored, finding_type="SensitiveData:S3Object/Personal")
    client = world.store.client
    notifier = CompositeNotifier(
        [
            (
                "slack",
                SlackNotifier(
                    world.store,
                    accounts,
                    slack_client(slack, connection_retries=0),
                    outbox=SlackOutbox(client, world.store.table),
                    outbox_interval=0,
                ),
            )
        ]
    )
    pipeline = world.pipeline(notifiers=[notifier])
    entry = pipeline.handle(finding)
    assert entry.state is State.PENDING_APPROVAL
    (message,) = slack.messages()

    if outage == "refused":
        slack.stop()
    else:
        slack.fail(status=503, times=None)

    def remediate_now(key: str) -> None:
        # Stands in for the asynchronous invoke: the remediator runs the same pipeline.
        pipeline.remediate(key)

    app = Interactions(
        signing_secret=lambda: SIGNING_SECRET,
        store=world.store,
        accounts=accounts,
        slack=lambda: slack_client(slack, connection_retries=0),
        notifier=notifier,
        hand_over=remediate_now,
        usergroups=UsergroupMembers(lambda: slack_client(slack, connection_retries=0)),
    )
    body = click_body(entry.key, QUARANTINE_ACTION, LEAD_1, "pat")
    assert app.handle(body, sign(body)).status == 200

    done = world.store.get(entry.key)
    assert done is not None and done.state is State.QUARANTINED
    assert not world.still_at_source(stored)
    assert world.quarantined(stored) == [stored.body]
    assert notifier.failures["slack"] >= 1
    assert done.attrs["slack_pending"] is True
    assert slack.message(message.channel, message.ts).updates == 0

    slack.start()
    slack.clear_faults()
    notifier.flush()
    caught_up = slack.message(message.channel, message.ts)
    assert "Quarantined" in caught_up.blocks[0]["text"]["text"]
    assert f"<@{LEAD_1}>" in json.dumps(caught_up.blocks)
    final = world.store.get(entry.key)
    assert final is not None and final.attrs["slack_pending"] is False
