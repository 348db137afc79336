"""Bursts: past a threshold per channel and window, findings go into one digest message.

Why a counter item in DynamoDB and not per SQS batch: the findings function takes batches
of 10 with up to 5 running at once, so a burst of 1,000 findings is ~100 invocations and no
single batch ever sees it. One item per (channel, fixed time window) in the ledger table
(``pk = slack#digest#<channel>#<window start>``, expiring with the table's TTL) is shared
by every invocation:

1. `place` adds 1 to the window's count for every finding that reaches the channel, in
   one conditional ``UpdateItem``. Up to ``threshold`` findings get their own message;
   past it, routine ones (not approvals, not failures) are counted into the digest
   instead, in that same write: counters by account, type and severity, plus (one more
   write) the first few of each severity as the "top items". All atomic ``ADD`` and
   ``list_append``, so concurrent invocations lose nothing. The item is bounded whatever
   the members send (DynamoDB refuses items over 400 KB): at most `MAX_LABELS` accounts
   and as many types are counted by name, each name cut to `MAX_LABEL_CHARS`, the rest
   summed under `OTHER`; a name is registered once per window with one conditional write
   on the count of names, and the top items' texts are cut the same way.
   The entry's ``attrs.slack.digest`` names the window, so every finding is in a message
   or a digest and the ledger says which.
2. The digest message is posted by whoever records the first overflow finding, and kept
   current by `refresh`, which the notifier's ``flush()`` calls at the end of each batch.
   A refresh takes a lease on the item (conditional write), renders, and releases only if
   no finding was added meanwhile (``digested = rendered``); otherwise it renders again,
   at most once per ``min_interval`` seconds. A refresh that finds the lease taken returns
   at once: the holder cannot release without showing its finding. So after the last
   flush of a burst the digest counts every finding, at the cost of one ``chat.update``
   per refresh rather than one message per finding.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from remedy.ledger.base import Entry
from remedy.ledger.dynamodb import condition_failed
from remedy.model import Severity
from remedy.notify.facts import facts_of
from remedy.notify.slack_message import MAX_SECTION_TEXT, SlackMessage, escape, fit
from remedy.policy.accounts import Accounts

log = logging.getLogger(__name__)

PREFIX = "slack#digest#"
#: How long a window item outlives its window (the table's TTL attribute).
KEEP_SECONDS = 7 * 24 * 3600
_ACCOUNT = "a#"
_TYPE = "t#"
_SEVERITY = "s#"
_TOP = "top#"
#: Accounts and types listed in the digest; the rest are summed.
LISTED = 10
#: Distinct accounts, and distinct types, one window counts by name; past it they are
#: counted under `OTHER`. With `MAX_LABEL_CHARS` this keeps the item near 100 KB at most.
MAX_LABELS = 200
MAX_LABEL_CHARS = 200
OTHER = "(others)"
#: Per kind (``names#a#``, ``names#t#``), how many names the window counts.
_NAMES = "names#"


@dataclass(frozen=True, slots=True)
class DigestConfig:
    #: Findings a channel gets as their own messages per window before the digest starts.
    threshold: int = 20
    window_seconds: int = 300
    #: Top items kept per severity, and shown in all.
    top: int = 10
    #: Fewest seconds between two renders of one digest (Slack: ~1 message/s/channel).
    min_interval: float = 1.0
    #: Longest a refresh keeps re-rendering while a burst goes on; the next flush continues.
    max_hold_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Window:
    pk: str
    channel: str
    start: int


class Digests:
    """The per-channel window items and the digest messages they render to.

    `post(channel, message)` returns ``(channel_id, ts)`` and `update(channel_id, ts,
    message)` edits in place; both raise on a Slack failure.
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        accounts: Accounts,
        config: DigestConfig = DigestConfig(),
        *,
        key_attribute: str = "pk",
        ttl_attribute: str = "expires_at",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.accounts = accounts
        self.config = config
        self.key_attribute = key_attribute
        self.ttl_attribute = ttl_attribute
        self.clock = clock
        self.sleep = sleep
        # Windows this process has seen full: their next finding goes straight to the digest.
        self._full: set[str] = set()
        # The current window's names and the attribute each is counted under (its own or
        # OTHER's), so a name costs its registering write once per window and process.
        self._slots: tuple[str, dict[str, str]] = ("", {})

    # -- counting ----------------------------------------------------------------------
    def window(self, channel: str) -> Window:
        size = self.config.window_seconds
        start = int(self.clock() // size * size)
        return Window(f"{PREFIX}{channel}#{start}", channel, start)

    def _key(self, pk: str) -> dict[str, Any]:
        return {self.key_attribute: {"S": pk}}

    def place(self, window: Window, entry: Entry, *, own: bool = False) -> int | None:
        """Count `entry` reaching the channel and say where it goes: None for its own
        message (under the threshold, or `own`), else the number of findings the digest
        now holds, `entry` included.

        One conditional write either way: while the window is under the threshold,
        "count it, if still under"; once this process has seen the window full, "count it
        into the digest, if full" (a window never empties, so that guess stays right).
        """
        limit = {":limit": {"N": str(self.config.threshold)}}
        if own:
            self._update(window, "ADD arrived :one", None, {})
            return None
        if self.config.threshold <= 0:
            # Every routine finding goes to the digest: no count to check first.
            self._full.add(window.pk)
            limit = {}
        elif window.pk not in self._full:
            try:
                self._update(
                    window,
                    "ADD arrived :one",
                    "attribute_not_exists(arrived) OR arrived < :limit",
                    limit,
                )
                return None
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                self._full.add(window.pk)
        finding = entry.finding
        severity = str(finding.get("severity", "INFORMATIONAL"))
        attributes = self._update(
            window,
            "ADD arrived :one, digested :one, #a :one, #t :one, #s :one",
            "arrived >= :limit" if limit else None,
            limit,
            {
                "#a": self._slot(window, _ACCOUNT, entry.account),
                "#t": self._slot(window, _TYPE, str(finding.get("type", ""))),
                "#s": _SEVERITY + severity,
            },
        )
        if int(attributes[_SEVERITY + severity]["N"]) <= self.config.top:
            self._add_top(window, entry, severity)
        return int(attributes["digested"]["N"])

    def _slot(self, window: Window, prefix: str, name: str) -> str:
        """The attribute `name` is counted under in `window`: its own while the window
        counts fewer than `MAX_LABELS` names of its kind, else `OTHER`'s."""
        attribute = prefix + name[:MAX_LABEL_CHARS]
        pk, known = self._slots
        if pk != window.pk:
            known = {}
            self._slots = (window.pk, known)
        if attribute in known:
            return known[attribute]
        try:
            # Registered at 0, counted by the digest write that follows.
            self.db.update_item(
                TableName=self.table,
                Key=self._key(window.pk),
                UpdateExpression="SET #k = :zero ADD #n :one",
                ConditionExpression=(
                    "attribute_not_exists(#k) AND (attribute_not_exists(#n) OR #n < :max)"
                ),
                ExpressionAttributeNames={"#k": attribute, "#n": _NAMES + prefix},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":max": {"N": str(MAX_LABELS)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            slot = attribute
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            # Counted already (by another invocation), or the window counts enough names.
            slot = attribute if attribute in exc.response.get("Item", {}) else prefix + OTHER
        known[attribute] = slot
        return slot

    def _update(
        self,
        window: Window,
        adds: str,
        condition: str | None,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One atomic update of the window item, creating it with its TTL if need be."""
        kwargs: dict[str, Any] = {}
        if condition:
            kwargs["ConditionExpression"] = condition
        response = self.db.update_item(
            TableName=self.table,
            Key=self._key(window.pk),
            UpdateExpression=(
                f"{adds} SET #ttl = if_not_exists(#ttl, :ttl), "
                "channel = if_not_exists(channel, :channel), window_start = :start"
            ),
            ExpressionAttributeNames={"#ttl": self.ttl_attribute, **(names or {})},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":ttl": {"N": str(window.start + self.config.window_seconds + KEEP_SECONDS)},
                ":channel": {"S": window.channel},
                ":start": {"N": str(window.start)},
                **values,
            },
            ReturnValues="UPDATED_NEW",
            **kwargs,
        )
        attributes: dict[str, Any] = response["Attributes"]
        return attributes

    def _add_top(self, window: Window, entry: Entry, severity: str) -> None:
        facts = facts_of(entry, self.accounts.get(entry.account).name)
        item = {
            "M": {
                "key": {"S": entry.key},
                "account": {"S": f"{facts.account_name} ({facts.account_id})"[:MAX_LABEL_CHARS]},
                "type": {"S": facts.finding_type[:MAX_LABEL_CHARS]},
                "resource": {
                    "S": (facts.resources[0] if facts.resources else "")[:MAX_LABEL_CHARS]
                },
                "status": {"S": facts.status[:MAX_LABEL_CHARS]},
            }
        }
        self.db.update_item(
            TableName=self.table,
            Key=self._key(window.pk),
            UpdateExpression="SET #top = list_append(if_not_exists(#top, :empty), :item)",
            ExpressionAttributeNames={"#top": _TOP + severity},
            ExpressionAttributeValues={":empty": {"L": []}, ":item": {"L": [item]}},
        )

    # -- rendering ---------------------------------------------------------------------
    def _read(self, pk: str) -> dict[str, Any]:
        item = self.db.get_item(TableName=self.table, Key=self._key(pk), ConsistentRead=True)
        return dict(item.get("Item") or {})

    def render(self, item: Mapping[str, Any]) -> SlackMessage:
        counts = {
            k: int(v["N"])
            for k, v in item.items()
            if k == "digested" or k.startswith((_ACCOUNT, _TYPE, _SEVERITY))
        }
        digested = counts.get("digested", 0)
        channel = item["channel"]["S"]
        start = datetime.fromtimestamp(int(item["window_start"]["N"]), UTC)
        minutes = max(1, self.config.window_seconds // 60)
        pk = item[self.key_attribute]["S"]
        by_account = self._top_counts(counts, _ACCOUNT, self._account_label)
        by_type = self._top_counts(counts, _TYPE, escape)
        by_severity = ", ".join(
            f"{counts[_SEVERITY + s.name]} {s.name}"
            for s in reversed(Severity)
            if counts.get(_SEVERITY + s.name)
        )
        top_lines: list[str] = []
        for severity in reversed(Severity):
            for value in item.get(_TOP + severity.name, {}).get("L", []):
                if len(top_lines) < self.config.top:
                    top = {k: v["S"] for k, v in value["M"].items()}
                    top_lines.append(
                        f"• *{severity.name}* {escape(top['type'])} on {escape(top['resource'])} "
                        f"in {escape(top['account'])}: {escape(top['status'])}"
                    )
        header = f":package: Digest: {digested} more findings in {channel}"
        blocks: list[Block] = [
            HeaderBlock(text=PlainTextObject(text=header[:150], emoji=True)),
            SectionBlock(
                text=MarkdownTextObject(
                    text=(
                        f"More than {self.config.threshold} findings reached this channel in the "
                        f"{minutes}-minute window from {start:%Y-%m-%d %H:%M} UTC, so the "
                        f"rest are summed up here instead of one message each. Approvals "
                        f"and failures still get their own messages.\n*By severity:* "
                        f"{by_severity}"
                    )
                )
            ),
            SectionBlock(
                fields=[
                    MarkdownTextObject(text=fit(f"*By account*\n{by_account}", 2000)),
                    MarkdownTextObject(text=fit(f"*By type*\n{by_type}", 2000)),
                ]
            ),
        ]
        if top_lines:
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=fit("*Top items*\n" + "\n".join(top_lines), MAX_SECTION_TEXT)
                    )
                )
            )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=(
                            "Where to see the rest: every finding is in the ledger table, each "
                            f"digested one with `attrs.slack.digest` = `{escape(pk)}`; "
                            "the account owners got their own email for each; and the Macie "
                            "and Security Hub consoles list them by account."
                        )
                    )
                ]
            )
        )
        for block in blocks:
            block.validate_json()
        return SlackMessage(text=header, blocks=tuple(blocks))

    def _account_label(self, account_id: str) -> str:
        return f"{escape(self.accounts.get(account_id).name)} ({account_id})"

    @staticmethod
    def _top_counts(counts: Mapping[str, int], prefix: str, label: Callable[[str], str]) -> str:
        ranked = sorted(
            # A name registered at 0 whose count did not follow (an error between) is left out.
            ((k.removeprefix(prefix), n) for k, n in counts.items() if k.startswith(prefix) and n),
            key=lambda kv: (-kv[1], kv[0]),
        )
        lines = [f"{label(name)}: {n}" for name, n in ranked[:LISTED]]
        rest = ranked[LISTED:]
        if rest:
            lines.append(f"{len(rest)} more: {sum(n for _, n in rest)}")
        return "\n".join(lines)

    # -- posting and refreshing ----------------------------------------------------------
    def refresh(
        self,
        window_pk: str,
        post: Callable[[str, SlackMessage], tuple[str, str]],
        update: Callable[[str, str, SlackMessage], None],
    ) -> bool:
        """Bring the digest message up to date (see the module doc). False if another
        invocation holds the lease or there is nothing new to show."""
        owner = uuid.uuid4().hex
        now = self.clock()
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._key(window_pk),
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(digested) "
                    "AND (attribute_not_exists(lease_until) OR lease_until < :now) "
                    "AND (attribute_not_exists(rendered) OR rendered < digested)"
                ),
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":until": {"N": str(now + self.config.max_hold_seconds + 30)},
                    ":now": {"N": str(now)},
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        deadline = now + self.config.max_hold_seconds
        released: bool | None = None
        try:
            while released is None and self.clock() <= deadline:
                item = self._read(window_pk)
                wait = float(item.get("refreshed_at", {}).get("N", 0)) + self.config.min_interval
                if wait > self.clock():
                    self.sleep(wait - self.clock())
                    item = self._read(window_pk)
                self._show(item, post, update)
                released = self._release(window_pk, owner, int(item["digested"]["N"]))
        finally:
            if not released:
                self._drop_lease(window_pk, owner)
        return released is not False

    def _show(
        self,
        item: Mapping[str, Any],
        post: Callable[[str, SlackMessage], tuple[str, str]],
        update: Callable[[str, str, SlackMessage], None],
    ) -> None:
        message = self.render(item)
        if "digest_ts" in item:
            update(item["digest_channel"]["S"], item["digest_ts"]["S"], message)
            return
        channel_id, ts = post(item["channel"]["S"], message)
        self.db.update_item(
            TableName=self.table,
            Key=self._key(item[self.key_attribute]["S"]),
            UpdateExpression="SET digest_channel = :c, digest_ts = :ts",
            ExpressionAttributeValues={":c": {"S": channel_id}, ":ts": {"S": ts}},
        )

    def _release(self, window_pk: str, owner: str, digested: int) -> bool | None:
        """Record what was shown and free the lease: True; None if findings arrived
        meanwhile (render again); False if the lease ran out and another took it."""
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._key(window_pk),
                UpdateExpression=(
                    "SET rendered = :n, refreshed_at = :now REMOVE lease_owner, lease_until"
                ),
                ConditionExpression="lease_owner = :me AND digested = :n",
                ExpressionAttributeValues={
                    ":n": {"N": str(digested)},
                    ":now": {"N": str(self.clock())},
                    ":me": {"S": owner},
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        else:
            return True
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._key(window_pk),
                UpdateExpression="SET refreshed_at = :now",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":now": {"N": str(self.clock())}, ":me": {"S": owner}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return None

    def _drop_lease(self, window_pk: str, owner: str) -> None:
        """Free the lease if still ours (after an error, or when the hold time ran out):
        `rendered` stays behind `digested`, so the next flush takes over."""
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._key(window_pk),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                log.warning("digest %s: could not free the lease: %s", window_pk, exc)
