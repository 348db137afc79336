"""The Slack notifier against the local Slack server, with the ledger on moto."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from notify_support import (
    REGION,
    Ledger,
    accounts,
    atomic_dynamodb,
    aws,
    finding_from,
    ledger,
    put_entry,
    slack,
    slack_client,
)
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, State
from remedy.notify.composite import SLACK_API_ENV, CompositeNotifier, build_notifier
from remedy.notify.outbox import SlackOutbox
from remedy.notify.secrets import SecretError, SlackSecrets
from remedy.notify.slack import (
    SlackNotifier,
    SlackUnavailable,
    check_api_url,
    current_client,
)
from remedy.policy.accounts import Accounts
from remedy.settings import Settings

__all__ = ["accounts", "atomic_dynamodb", "aws", "ledger", "slack"]

PAYMENTS_ONCALL = SlackServer.channel_id("#payments-oncall")  # 111111111111, HIGH


def notifier(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    connection_retries: int = 2,
    **kwargs: Any,
) -> SlackNotifier:
    return SlackNotifier(
        ledger.store,
        accounts,
        slack_client(slack, connection_retries=connection_retries),
        outbox=SlackOutbox(ledger.client, ledger.table),
        outbox_interval=0,
        **kwargs,
    )


def shown(slack: SlackServer, channel: str, ts: str) -> str:
    return json.dumps(slack.message(channel, ts).blocks)


def test_posts_once_then_updates_in_place(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    finding = finding_from("macie-classification-credentials.json")  # 111111111111, HIGH
    entry = put_entry(ledger.store, finding)
    slack_notifier = notifier(ledger, accounts, slack)

    slack_notifier.on_change(entry)
    stored = ledger.store.get(entry.key)
    assert stored is not None
    where = stored.attrs["slack"]
    assert where["channel"] == PAYMENTS_ONCALL
    assert "Waiting for approval" in shown(slack, where["channel"], where["ts"])

    approved = ledger.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U0PAYLEAD1"
    )
    slack_notifier.on_change(approved)
    quarantining = ledger.store.transition(
        entry.key, [State.APPROVED], State.QUARANTINING, by="remediator"
    )
    slack_notifier.on_change(quarantining)
    done = ledger.store.transition(
        entry.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remediator",
        attrs={"destination": {"bucket": "remedy-quarantine-111111111111-eu-west-1", "key": "k"}},
    )
    slack_notifier.on_change(done)

    assert len(slack.calls("chat.postMessage")) == 1
    updates = slack.calls("chat.update")
    assert [u["ts"] for u in updates] == [where["ts"]] * 3
    message = slack.message(where["channel"], where["ts"])
    assert message.updates == 3
    assert "Quarantined" in json.dumps(message.blocks)
    assert "remedy-quarantine-111111111111-eu-west-1" in json.dumps(message.blocks)
    assert "remedy_quarantine" not in json.dumps(message.blocks)


def test_transient_and_ignored_states_post_nothing(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    finding = finding_from("macie-classification-credentials.json")
    entry = put_entry(ledger.store, finding, State.QUARANTINING, action="quarantine")
    slack_notifier = notifier(ledger, accounts, slack)
    slack_notifier.on_change(entry)
    assert slack.calls("chat.postMessage") == []
    done = ledger.store.transition(entry.key, [State.QUARANTINING], State.GONE, by="remediator")
    slack_notifier.on_change(done)
    assert len(slack.calls("chat.postMessage")) == 1


def test_channel_per_account_and_severity_and_rejected_to_the_default(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    slack_notifier = notifier(ledger, accounts, slack)
    cases = [
        ("macie-classification-personal.json", State.NOTIFIED, "notify", "#payments-security"),
        ("macie-classification-multiple.json", State.NOTIFIED, "notify", "#analytics-alerts"),
        ("macie-classification-customidentifier.json", State.NOTIFIED, "notify", "#sec-findings"),
        (
            "macie-classification-forged-cross-account.json",
            State.REJECTED,
            "reject",
            "#sec-findings",
        ),
        (
            "securityhub-control-ec2.19-open-security-group.json",
            State.NOTIFIED,
            "notify",
            "#payments-oncall",
        ),
    ]
    for event, state, action, channel in cases:
        entry = put_entry(ledger.store, finding_from(event), state, action=action)
        slack_notifier.on_change(entry)
        assert slack.calls("chat.postMessage")[-1]["channel"] == channel, event


def test_rate_limit_is_waited_out(ledger: Ledger, accounts: Accounts, slack: SlackServer) -> None:
    entry = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    slack.fail("chat.postMessage", status=429, retry_after=1)
    notifier(ledger, accounts, slack).on_change(entry)
    assert len(slack.calls("chat.postMessage")) == 2
    assert len(slack.messages()) == 1
    stored = ledger.store.get(entry.key)
    assert stored is not None and stored.attrs["slack"]["ts"] == slack.messages()[0].ts


@pytest.mark.parametrize(
    "outage",
    ["refused", "5xx", "error"],
)
def test_failed_post_is_owed_and_resent_later(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, outage: str
) -> None:
    first = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    second = put_entry(
        ledger.store, finding_from("macie-classification-personal.json"), State.NOTIFIED, "notify"
    )
    slack_notifier = notifier(ledger, accounts, slack)
    if outage == "refused":
        slack.stop()
    elif outage == "5xx":
        slack.fail(status=503, times=None)
    else:
        slack.fail("chat.postMessage", error="channel_not_found", times=None)

    with pytest.raises(SlackUnavailable, match=first.key):
        slack_notifier.on_change(first)
    owed = ledger.store.get(first.key)
    assert owed is not None and owed.attrs["slack_pending"] is True
    assert "slack" not in owed.attrs
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == [first.key]

    # Slack is back; the next notification, for another finding, pays what is owed first.
    slack.start()
    slack.clear_faults()
    slack_notifier.on_change(second)
    posted = [m.text for m in slack.messages()]
    assert len(posted) == 2
    assert "Waiting for approval" in posted[0]
    paid = ledger.store.get(first.key)
    assert paid is not None and paid.attrs["slack_pending"] is False and paid.attrs["slack"]["ts"]
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == []


def test_deleted_message_is_posted_again(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    entry = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    slack_notifier = notifier(ledger, accounts, slack)
    slack_notifier.on_change(entry)
    slack.fail("chat.update", error="message_not_found")
    approved = ledger.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U0PAYLEAD1"
    )
    slack_notifier.on_change(approved)
    assert len(slack.calls("chat.postMessage")) == 2
    stored = ledger.store.get(entry.key)
    assert stored is not None
    assert stored.attrs["slack"]["ts"] == slack.messages()[-1].ts
    assert "Approved" in slack.messages()[-1].text


def test_a_stale_update_is_followed_by_the_latest_state(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    """The interactions function and the remediator update one message; whichever writes
    last must show the newest state, even if it was called with an older entry."""
    entry = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    slack_notifier = notifier(ledger, accounts, slack)
    slack_notifier.on_change(entry)
    approved = ledger.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U0PAYLEAD1"
    )
    ledger.store.transition(entry.key, [State.APPROVED], State.QUARANTINING, by="remediator")
    ledger.store.transition(entry.key, [State.QUARANTINING], State.QUARANTINED, by="remediator")

    slack_notifier.on_change(approved)  # late: the ledger has moved on

    latest = ledger.store.get(entry.key)
    assert latest is not None
    where = latest.attrs["slack"]
    message = slack.message(where["channel"], where["ts"])
    assert message.updates == 2
    assert "Quarantined" in message.blocks[0]["text"]["text"]


def test_token_comes_from_secrets_manager_once(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cr3t-signing"}),
    )["ARN"]
    calls: list[str] = []
    secrets.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("get")
    )
    session = boto3.session.Session(region_name=REGION)
    monkeypatch.setattr(session, "client", _reuse(session, secrets))
    monkeypatch.setenv(SLACK_API_ENV, slack.url)
    settings = Settings.from_env()
    settings = Settings(
        **{**_fields(settings), "slack_secret_arn": arn, "ledger_table": ledger.table}
    )

    composite = build_notifier(settings, accounts, ledger.store, session=session)
    for event in ("macie-classification-credentials.json", "macie-classification-personal.json"):
        composite.on_change(put_entry(ledger.store, finding_from(event)))
    assert composite.failures == {}
    assert len(slack.messages()) == 2
    assert calls == ["get"]


@dataclass
class Deployed:
    """The Slack secret in Secrets Manager and the notifier built from it as a function
    builds it, with two pending findings to tell Slack about."""

    client: Any
    arn: str
    secrets: SlackSecrets
    notifier: CompositeNotifier
    first: Entry
    second: Entry


def deployed(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    monkeypatch: pytest.MonkeyPatch,
    **kw: Any,
) -> Deployed:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cr3t-signing"}),
    )["ARN"]
    monkeypatch.setenv(SLACK_API_ENV, slack.url)
    settings = Settings(
        **{**_fields(Settings.from_env()), "slack_secret_arn": arn, "ledger_table": ledger.table}
    )
    secrets = SlackSecrets(arn, client=client, **kw)
    notifier = build_notifier(
        settings,
        accounts,
        ledger.store,
        session=boto3.session.Session(region_name=REGION),
        secrets=secrets,
    )
    first, second = (
        put_entry(ledger.store, finding_from(event))
        for event in ("macie-classification-credentials.json", "macie-classification-personal.json")
    )
    return Deployed(client, arn, secrets, notifier, first, second)


def test_a_rotated_bot_token_is_used_once_the_cached_secret_expires(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotation is storing a new value: a warm container must pick it up when its cached
    secret expires, not keep the revoked token until the container is recycled."""
    app = deployed(ledger, accounts, slack, monkeypatch)
    app.notifier.on_change(app.first)

    slack.token = "xoxb-rotated-token"  # Slack now accepts only the new token
    app.client.put_secret_value(
        SecretId=app.arn,
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cr3t-signing"}),
    )
    app.secrets.get(force=True)  # the cached value expired and was read again

    app.notifier.on_change(app.second)
    assert app.notifier.failures == {}
    assert len(slack.messages()) == 2
    paid = ledger.store.get(app.second.key)
    assert paid is not None and paid.attrs["slack"]["ts"]


def test_a_secret_that_cannot_be_read_again_keeps_the_token_read_before(
    ledger: Ledger,
    accounts: Accounts,
    slack: SlackServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Re-reading the secret fails (here it is gone; in life Secrets Manager or KMS
    failing): the token read before still works, so the message still goes out."""
    # Nothing cached: every use reads the secret again, as after each cache expiry.
    app = deployed(ledger, accounts, slack, monkeypatch, max_age=0)
    app.notifier.on_change(app.first)
    app.client.delete_secret(SecretId=app.arn, ForceDeleteWithoutRecovery=True)
    with pytest.raises(SecretError, match="ResourceNotFoundException"):
        app.secrets.get()

    app.notifier.on_change(app.second)

    assert app.notifier.failures == {}
    assert len(slack.messages()) == 2
    assert "sending with the Slack token read before" in caplog.text
    assert slack.token not in caplog.text


def test_one_client_per_token() -> None:
    tokens = iter(["xoxb-a", "xoxb-a", "xoxb-b"])
    client = current_client(lambda: next(tokens), base_url="http://127.0.0.1:9")
    first, again, rotated = client(), client(), client()
    assert first is again and rotated is not first
    assert (first.token, rotated.token) == ("xoxb-a", "xoxb-b")


def test_without_a_token_read_before_a_secret_error_is_raised() -> None:
    def unreadable() -> str:
        raise SecretError("cannot read Slack secret arn:aws:secretsmanager:x (AccessDenied)")

    with pytest.raises(SecretError, match=r"\(AccessDenied\)"):
        current_client(unreadable, base_url="http://127.0.0.1:9")()


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in Settings.__dataclass_fields__}


def _reuse(session: Any, secrets: Any) -> Any:
    original = session.client

    def client(name: str, *args: Any, **kwargs: Any) -> Any:
        return secrets if name == "secretsmanager" else original(name, *args, **kwargs)

    return client


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "is not a JSON object"),
        (json.dumps({"bot_token": "xoxb-1"}), "has no signing_secret"),
        (
            json.dumps({"bot_token": " ", "signing_secret": ""}),
            "has no bot_token or signing_secret",
        ),
    ],
)
def test_secret_problems_are_named_without_the_value(
    aws: None, caplog: pytest.LogCaptureFixture, value: str, message: str
) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name="remedy/slack", SecretString=value)["ARN"]
    with (
        caplog.at_level(logging.DEBUG, logger="remedy"),
        pytest.raises(SecretError, match=message) as raised,
    ):
        SlackSecrets(arn, client=client).get()
    assert arn in str(raised.value)
    assert "xoxb-1" not in str(raised.value) and "xoxb-1" not in caplog.text


def test_missing_secret_and_repr_hide_nothing_secret(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    with pytest.raises(SecretError, match=r"\(ResourceNotFoundException\)"):
        SlackSecrets(
            "arn:aws:secretsmanager:eu-west-1:999999999999:secret:nope", client=client
        ).get()
    arn = client.create_secret(
        Name="ok", SecretString=json.dumps({"bot_token": "xoxb-9", "signing_secret": "zz"})
    )["ARN"]
    secret = SlackSecrets(arn, client=client).get()
    assert secret.bot_token == "xoxb-9"
    assert "xoxb-9" not in repr(secret) and "zz" not in repr(secret)


def test_slack_api_url_must_be_tls_unless_local() -> None:
    assert check_api_url("https://slack.com/api") == "https://slack.com/api/"
    assert check_api_url("http://127.0.0.1:8080/api/") == "http://127.0.0.1:8080/api/"
    with pytest.raises(Exception, match="must be https://"):
        check_api_url("http://slack.example.com/api/")


def test_composite_contains_failures(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    class Broken:
        def on_change(self, entry: Any) -> None:
            raise RuntimeError("boom")

    seen: list[str] = []

    class Recorder:
        def on_change(self, entry: Any) -> None:
            seen.append(entry.key)

    entry = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    composite = CompositeNotifier([("broken", Broken()), ("recorder", Recorder())])
    composite.on_change(entry)
    composite.flush()
    assert seen == [entry.key]
    assert composite.failures == {"broken": 1}


def test_a_refused_message_does_not_hold_up_the_others_owed(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    entries = [
        put_entry(ledger.store, finding_from(event))
        for event in ("macie-classification-credentials.json", "macie-classification-personal.json")
    ]
    slack_notifier = notifier(ledger, accounts, slack, connection_retries=0)
    slack.stop()
    for entry in entries:
        with pytest.raises(SlackUnavailable):
            slack_notifier.on_change(entry)
    outbox = SlackOutbox(ledger.client, ledger.table)
    first, second = outbox.pending(10)
    slack.start()
    slack.fail("chat.postMessage", error="channel_not_found")  # the first one re-sent

    slack_notifier.flush()
    assert outbox.pending(10) == [first]
    assert len(slack.messages()) == 1
    slack_notifier.flush()
    assert outbox.pending(10) == []
    assert len(slack.messages()) == 2
    assert first != second


def test_re_sending_stops_when_its_time_is_up_and_leaves_the_rest_owed(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduled run must end before its Lambda timeout can cut a send short (a message
    posted but not recorded would be posted twice)."""
    events = (
        "macie-classification-credentials.json",
        "macie-classification-personal.json",
        "macie-classification-financial.json",
    )
    entries = [put_entry(ledger.store, finding_from(event)) for event in events]
    down = notifier(ledger, accounts, slack, connection_retries=0)
    slack.stop()
    for entry in entries:
        with pytest.raises(SlackUnavailable):
            down.on_change(entry)
    slack.start()
    seconds = iter(range(0, 1000, 100))  # each look at the clock is 100 s later
    timed = notifier(ledger, accounts, slack, outbox_seconds=150, clock=lambda: next(seconds))
    caplog.set_level(logging.INFO, logger="remedy")

    timed.flush()

    assert len(slack.messages()) == 1
    assert SlackOutbox(ledger.client, ledger.table).count() == 2
    assert "time is up, 2 owed left for the next run" in caplog.text


def test_the_interactions_path_owes_but_leaves_re_sending_to_others(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    """Re-sending a full outbox could outlast Slack's 3 s, so the interactions function's
    notifier (an infinite outbox interval) only records what it owes."""
    owed, other = (
        put_entry(ledger.store, finding_from(event))
        for event in ("macie-classification-credentials.json", "macie-classification-personal.json")
    )
    quick = notifier(ledger, accounts, slack, connection_retries=0)
    quick.outbox_interval = math.inf
    slack.stop()
    with pytest.raises(SlackUnavailable):
        quick.on_change(owed)
    slack.start()
    quick.on_change(other)
    assert [m.text.split(":")[0] for m in slack.messages()] == ["[MEDIUM] Waiting for approval"]
    assert SlackOutbox(ledger.client, ledger.table).pending(10) == [owed.key]
    quick.flush()
    assert len(slack.messages()) == 2
