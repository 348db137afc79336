"""Slack's pace: about one new message a second per channel, shared by every invocation.

Slack lets an app post about one message a second to a channel and answers short bursts
beyond that with 429. The findings function runs up to five invocations at once, each
posting as its findings arrive, so at a burst's start one channel took five posts in one
second (`bench/burst.py`); a limit inside one process cannot see the other four. So each
channel has one item in the ledger table (``pk = slack#pace#<channel>``) holding the time
its next post may go out (the "theoretical arrival time" of a generic cell-rate limiter),
and a post first claims the next slot with one conditional ``UpdateItem``:

- the channel is idle (no item, or its time has passed): "set it to now + gap, if still
  idle", and post at once;
- the channel is busy (its time is ahead, but by at most ``max_wait``): "add gap, if
  still ahead", and sleep until the slot claimed.

A channel booked further ahead than ``max_wait`` is oversubscribed: the post goes out at
once rather than holding the invocation, and Slack's own 429 (waited out by the client's
retry handler) paces it. A failed write does the same: pacing must never cost a message.
Each process remembers the last time it saw per channel, so a burst costs one write per
post.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remedy.ledger.dynamodb import condition_failed

log = logging.getLogger(__name__)

PREFIX = "slack#pace#"
#: How long a pace item outlives its last slot (the table's TTL attribute).
KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class PaceConfig:
    #: Seconds between two posts to one channel (Slack: about one a second).
    gap: float = 1.0
    #: Longest an invocation waits for its slot; further ahead, Slack's 429 paces.
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        if not (0 < self.gap < math.inf and 0 <= self.max_wait < math.inf):
            raise ValueError(
                f"Slack pace: gap must be a positive number of seconds and max_wait a "
                f"finite one, not gap={self.gap!r}, max_wait={self.max_wait!r}"
            )


class ChannelPace:
    """`wait(channel)` before each ``chat.postMessage``; returns the seconds it slept."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        config: PaceConfig = PaceConfig(),
        *,
        key_attribute: str = "pk",
        ttl_attribute: str = "expires_at",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.config = config
        self.key_attribute = key_attribute
        self.ttl_attribute = ttl_attribute
        self.clock = clock
        self.sleep = sleep
        # The next_at this process last saw per channel: ahead of now, the channel is
        # likely still busy, so the busy write goes first.
        self._ahead: dict[str, float] = {}

    def wait(self, channel: str) -> float:
        try:
            slot = self._claim(channel, self.clock())
        except (ClientError, BotoCoreError) as exc:
            log.warning("Slack pace for %s not claimed (%s); posting unpaced", channel, exc)
            return 0.0
        delay = 0.0 if slot is None else slot - self.clock()
        if delay <= 0:
            return 0.0
        self.sleep(delay)
        return delay

    def _claim(self, channel: str, now: float) -> float | None:
        """The time of the slot claimed, or None when the channel is booked past
        ``max_wait`` (or another poster won the second race too).

        A failed condition returns the item as it was, so the second write, if any, is
        the one that fits: at most two writes, one when this process guessed right."""
        horizon = now + self.config.max_wait
        if self._ahead.get(channel, -math.inf) > now:
            slot, seen = self._when_busy(channel, now)
            if slot is None and (seen is None or seen <= now):
                slot, seen = self._when_idle(channel, now)
        else:
            slot, seen = self._when_idle(channel, now)
            if slot is None and seen is not None and now < seen <= horizon:
                slot, seen = self._when_busy(channel, now)
        self._ahead[channel] = -math.inf if seen is None else seen
        return slot

    def _when_idle(self, channel: str, now: float) -> tuple[float | None, float | None]:
        new, seen = self._write(
            channel,
            now,
            "SET next_at = :next",
            "attribute_not_exists(next_at) OR next_at <= :now",
            {":now": now, ":next": now + self.config.gap},
        )
        return (None, seen) if new is None else (now, new)

    def _when_busy(self, channel: str, now: float) -> tuple[float | None, float | None]:
        new, seen = self._write(
            channel,
            now,
            "SET next_at = next_at + :gap",
            "next_at > :now AND next_at <= :horizon",
            {":now": now, ":gap": self.config.gap, ":horizon": now + self.config.max_wait},
        )
        return (None, seen) if new is None else (new - self.config.gap, new)

    def _write(
        self, channel: str, now: float, update: str, condition: str, values: dict[str, float]
    ) -> tuple[float | None, float | None]:
        """``(new next_at, None)`` after the conditional update, or ``(None, next_at as
        it is)`` when the condition did not hold (None for no item)."""
        try:
            response = self.db.update_item(
                TableName=self.table,
                Key={self.key_attribute: {"S": PREFIX + channel}},
                UpdateExpression=f"{update}, #ttl = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": self.ttl_attribute},
                ExpressionAttributeValues={
                    **{name: {"N": f"{value:.6f}"} for name, value in values.items()},
                    ":ttl": {"N": str(int(now) + KEEP_SECONDS)},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old = exc.response.get("Item", {}).get("next_at", {}).get("N")
            return None, None if old is None else float(old)
        return float(response["Attributes"]["next_at"]["N"]), None
