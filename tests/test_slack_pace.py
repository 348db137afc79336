"""Slack's pace per channel, shared by concurrent invocations through the ledger table."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from slack_sdk.errors import SlackApiError

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
from remedy.ledger.base import State
from remedy.notify.composite import SLACK_API_ENV, SlackOptions, build_notifier
from remedy.notify.pace import PREFIX, ChannelPace, PaceConfig
from remedy.notify.slack import SlackNotifier
from remedy.policy.accounts import Accounts
from remedy.settings import Settings

__all__ = ["accounts", "atomic_dynamodb", "aws", "ledger", "slack"]

CHANNEL = "#sec-findings"


class Clock:
    """A clock the test moves on; sleeps are recorded, not slept."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def pace(ledger: Ledger, clock: Clock, **config: float) -> ChannelPace:
    return ChannelPace(
        ledger.client, ledger.table, PaceConfig(**config), clock=clock, sleep=clock.sleep
    )


def next_at(ledger: Ledger, channel: str = CHANNEL) -> float | None:
    item = ledger.client.get_item(TableName=ledger.table, Key={"pk": {"S": PREFIX + channel}})
    found = item.get("Item")
    return None if found is None else float(found["next_at"]["N"])


def writes(client: Any) -> Counter[str]:
    """UpdateItem calls made through `client` from now on, by outcome."""
    seen: Counter[str] = Counter()

    def count(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        seen[parsed.get("Error", {}).get("Code", "ok")] += 1

    client.meta.events.register("after-call.dynamodb.UpdateItem", count)
    return seen


def test_an_idle_channel_posts_at_once_and_books_the_next_second(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    assert pace(ledger, clock).wait(CHANNEL) == 0
    assert clock.slept == []
    assert next_at(ledger) == pytest.approx(clock.now + 1.0)
    item = ledger.client.get_item(TableName=ledger.table, Key={"pk": {"S": PREFIX + CHANNEL}})
    assert int(item["Item"]["expires_at"]["N"]) == int(clock.now) + 24 * 3600
    assert not caplog.records


def test_posts_at_one_instant_from_several_invocations_are_spread_a_second_apart(
    ledger: Ledger,
) -> None:
    clock = Clock()
    containers = [pace(ledger, clock) for _ in range(3)]
    waits = [containers[n % 3].wait(CHANNEL) for n in range(6)]
    assert waits == [0, 1, 2, 3, 4, 5]
    assert clock.slept == [1, 2, 3, 4, 5]
    assert next_at(ledger) == pytest.approx(clock.now + 6)
    # Other channels keep their own pace.
    assert containers[0].wait("#other") == 0


def test_a_channel_whose_time_has_passed_is_idle_again(ledger: Ledger) -> None:
    clock = Clock()
    first = pace(ledger, clock)
    assert [first.wait(CHANNEL) for _ in range(3)] == [0, 1, 2]
    clock.now += 10
    assert first.wait(CHANNEL) == 0
    assert next_at(ledger) == pytest.approx(clock.now + 1)


def test_a_burst_costs_one_write_per_post_once_the_channel_is_known_busy(
    ledger: Ledger,
) -> None:
    clock = Clock()
    counted = writes(ledger.client)
    paced = pace(ledger, clock, max_wait=100)
    for _ in range(10):
        paced.wait(CHANNEL)
    assert counted == Counter(ok=10)
    # Another invocation, which has not seen the channel busy, loses one race first.
    other = pace(ledger, clock, max_wait=100)
    counted.clear()
    assert other.wait(CHANNEL) == 10
    assert counted == Counter(ok=1, ConditionalCheckFailedException=1)
    counted.clear()
    assert other.wait(CHANNEL) == 11
    assert counted == Counter(ok=1)


def test_a_channel_booked_past_max_wait_posts_unpaced_and_books_no_further(
    ledger: Ledger,
) -> None:
    clock = Clock()
    paced = pace(ledger, clock, max_wait=3)
    assert [paced.wait(CHANNEL) for _ in range(5)] == [0, 1, 2, 3, 0]
    assert next_at(ledger) == pytest.approx(clock.now + 4)
    assert clock.slept == [1, 2, 3]


def test_an_overbooked_channel_costs_one_failed_write_per_post(ledger: Ledger) -> None:
    clock = Clock()
    paced = pace(ledger, clock, max_wait=2)
    for _ in range(3):
        paced.wait(CHANNEL)
    counted = writes(ledger.client)
    assert [paced.wait(CHANNEL) for _ in range(3)] == [0, 0, 0]
    assert counted == Counter(ConditionalCheckFailedException=3)
    assert next_at(ledger) == pytest.approx(clock.now + 3)


def test_a_process_that_lost_the_idle_race_takes_the_next_slot(ledger: Ledger) -> None:
    clock = Clock()
    first, second = pace(ledger, clock), pace(ledger, clock)
    assert first.wait(CHANNEL) == 0
    clock.now += 1.5  # the channel is idle again; the other process posts first
    assert second.wait(CHANNEL) == 0
    counted = writes(ledger.client)
    assert first.wait(CHANNEL) == pytest.approx(1.0)
    assert counted == Counter(ConditionalCheckFailedException=1, ok=1)
    assert next_at(ledger) == pytest.approx(clock.now + 2)


@pytest.mark.parametrize(
    ("gap", "max_wait"), [(0, 10), (-1, 10), (1, -1), (1, math.inf), (math.nan, 10)]
)
def test_a_pace_that_cannot_work_is_refused(gap: float, max_wait: float) -> None:
    with pytest.raises(ValueError) as refused:
        PaceConfig(gap=gap, max_wait=max_wait)
    assert str(refused.value) == (
        "Slack pace: gap must be a positive number of seconds and max_wait a finite one, "
        f"not gap={gap!r}, max_wait={max_wait!r}"
    )


def test_the_findings_notifier_paces_and_the_ones_a_person_waits_on_do_not(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "s3cr3t-signing"}),
    )["ARN"]
    monkeypatch.setenv(SLACK_API_ENV, slack.url)
    settings = dataclasses.replace(
        Settings.from_env(), slack_secret_arn=arn, ledger_table=ledger.table
    )
    base = finding_from("macie-classification-credentials.json")
    for n, options in enumerate([SlackOptions(pace_max_wait=None), SlackOptions()]):
        notifier = build_notifier(
            settings,
            accounts,
            ledger.store,
            session=boto3.session.Session(region_name=REGION),
            slack=options,
        )
        notifier.on_change(put_entry(ledger.store, dataclasses.replace(base, key=f"m-{n:032x}")))
        assert notifier.failures == {}
        booked = [
            item["pk"]["S"]
            for item in ledger.client.scan(TableName=ledger.table)["Items"]
            if item["pk"]["S"].startswith(PREFIX)
        ]
        assert len(slack.messages()) == n + 1
        assert booked == ([] if options.pace_max_wait is None else [PREFIX + "#payments-oncall"])


def test_a_failed_write_posts_unpaced_with_a_warning(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    missing = ChannelPace(ledger.client, "no-such-table", clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING, logger="remedy.notify.pace"):
        assert missing.wait(CHANNEL) == 0
    assert clock.slept == []
    assert [r.getMessage() for r in caplog.records] == [
        "Slack pace for #sec-findings not claimed (An error occurred "
        "(ResourceNotFoundException) when calling the UpdateItem operation: Requested "
        "resource not found); posting unpaced"
    ]
    assert next_at(ledger) is None


def test_the_local_slack_answers_posts_beyond_its_pace_with_429(slack: SlackServer) -> None:
    slack.limit_posts(per_second=1.0, burst=2)
    client = slack_client(slack, rate_limit_retries=0)
    for _ in range(2):
        client.chat_postMessage(channel=CHANNEL, text="in the burst")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=CHANNEL, text="one too many")
    assert refused.value.response.status_code == 429
    assert refused.value.response["error"] == "ratelimited"
    headers = {k.lower(): v for k, v in refused.value.response.headers.items()}
    assert headers["retry-after"] == "1"
    # Another channel has its own room; updates are not limited per channel.
    client.chat_postMessage(channel="#other", text="elsewhere")
    first = slack.messages(CHANNEL)[0]
    client.chat_update(channel=first.channel, ts=first.ts, text="edited")
    assert slack.rate_limited == 1
    assert len(slack.messages()) == 3


def _burst(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, *, paced: bool, gap: float
) -> list[BaseException]:
    """Four invocations at once, each posting five approvals to one channel."""
    base = finding_from("macie-classification-credentials.json")
    entries = [
        put_entry(
            ledger.store, dataclasses.replace(base, key=f"m-{n:032x}"), State.PENDING_APPROVAL
        )
        for n in range(20)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def invocation(index: int) -> None:
        notifier = SlackNotifier(
            ledger.store,
            accounts,
            slack_client(slack, rate_limit_retries=0),
            pace=(
                ChannelPace(
                    boto3.client("dynamodb", region_name=REGION), ledger.table, PaceConfig(gap=gap)
                )
                if paced
                else None
            ),
        )
        start.wait()
        for entry in entries[index::4]:
            try:
                notifier.on_change(entry)
            except Exception as exc:  # the outbox would keep it; the test counts it
                errors.append(exc)

    threads = [threading.Thread(target=invocation, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_invocations_keep_the_channel_pace(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, atomic_dynamodb: None
) -> None:
    # Slack's pace sped up 5x (5 a second) so the test takes seconds, not twenty; a burst
    # of 3 leaves room for a post the machine's load delayed onto the next one.
    slack.limit_posts(per_second=5.0, burst=3)
    assert _burst(ledger, accounts, slack, paced=True, gap=0.2) == []
    assert slack.rate_limited == 0
    assert len(slack.messages()) == 20
    times = sorted(r.at for r in slack.requests if r.method == "chat.postMessage")
    assert times[-1] - times[0] >= 19 * 0.2 - 0.5


def test_without_the_pace_the_same_burst_is_refused(
    ledger: Ledger, accounts: Accounts, slack: SlackServer, atomic_dynamodb: None
) -> None:
    slack.limit_posts(per_second=5.0, burst=3)
    errors = _burst(ledger, accounts, slack, paced=False, gap=0.2)
    assert slack.rate_limited > 0
    assert len(errors) == slack.rate_limited
    assert len(slack.messages()) == 20 - len(errors)


def test_a_throttled_pace_write_is_not_a_lost_post(
    ledger: Ledger, accounts: Accounts, slack: SlackServer
) -> None:
    clock = Clock()
    client = boto3.client("dynamodb", region_name=REGION)

    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "UpdateItem",
        )

    client.meta.events.register("before-call.dynamodb.UpdateItem", throttled)
    notifier = SlackNotifier(
        ledger.store,
        accounts,
        slack_client(slack),
        pace=ChannelPace(client, ledger.table, clock=clock, sleep=clock.sleep),
    )
    entry = put_entry(ledger.store, finding_from("macie-classification-credentials.json"))
    notifier.on_change(entry)
    assert len(slack.messages()) == 1
    assert next_at(ledger) is None
