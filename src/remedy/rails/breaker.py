"""The circuit breaker: how many automatic remediations remedy makes before it asks.

Three scopes are counted for each automatic remediation: its rule in its account
(``rule:<rule>:<account>``), its account (``account:<account>``) and all of them
(``all``), each against its limit per window (`remedy.policy.rails.BreakerLimits`). The
counts of one window live in one ledger-table item (``pk = breaker#count#<window>``), one
number attribute per scope plus the set of entry keys admitted, and an admission is one
conditional ``UpdateItem`` on it: "add one to each scope and this key to the set, if the
key is not in the set and every scope is below its limit". DynamoDB applies it to the one
item atomically, so under any number of concurrent invocations no scope passes its limit,
and a redelivery of an admitted finding is admitted again without counting twice (the
Slack pace, `remedy.notify.pace`, claims its slots the same way).

The write that fails on a limit opens that scope's breaker: one conditional write on the
breaker item (``pk = breaker#state``), so exactly one invocation wins, and only it sends
the Slack message, the owners' email and the ``BreakerOpen`` metric. While a scope is
open, every automatic remediation under it becomes an approval and nothing is counted.
It closes when a person says so (`close`, ``remedy breaker close``) or, with a cool-down
in the policy, by itself once that has passed. Either way the count it was opened or
closed at becomes the scope's base for the rest of the window, so a closed breaker allows
a full limit again rather than tripping at the next finding.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from remedy.errors import RemedyError
from remedy.ledger.dynamodb import condition_failed
from remedy.policy.rails import BreakerLimits

log = logging.getLogger(__name__)

STATE_KEY = "breaker#state"
COUNT_PREFIX = "breaker#count#"
#: How long a window's counts outlive it (the table's TTL attribute): a day, for status.
KEEP_SECONDS = 24 * 3600
OVERALL = "all"
#: Admissions tried before a finding waits for a person because writes kept racing it.
ATTEMPTS = 3
_ACCOUNT = re.compile(r"[0-9]{12}\Z")


def scopes(rule: str, account: str) -> tuple[str, str, str]:
    """The scopes one automatic remediation counts in, narrowest first."""
    return f"rule:{rule}:{account}", f"account:{account}", OVERALL


def describe(scope: str) -> str:
    if scope == OVERALL:
        return "in all accounts"
    kind, _, rest = scope.partition(":")
    if kind == "account":
        return f"in {rest}"
    rule, _, account = rest.rpartition(":")
    return f"by rule {rule} in {account}"


def _window_words(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes == 60:
        return "the last hour"
    if minutes % 60 == 0:
        return f"the last {minutes // 60} hours"
    return f"the last {minutes} minutes"


@dataclass(frozen=True, slots=True)
class Opening:
    """A scope's breaker, open: when, at which count, and until when (None: a person)."""

    scope: str
    opened_at: float
    window: int
    count: int
    limit: int
    reason: str
    until: float | None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "opened_at": {"N": f"{self.opened_at:.3f}"},
            "window": {"N": str(self.window)},
            "n": {"N": str(self.count)},
            "limit": {"N": str(self.limit)},
            "reason": {"S": self.reason},
        }
        if self.until is not None:
            item["until"] = {"N": f"{self.until:.3f}"}
        return {"M": item}

    @classmethod
    def from_item(cls, scope: str, value: Mapping[str, Any]) -> Opening:
        item = value["M"]
        return cls(
            scope=scope,
            opened_at=float(item["opened_at"]["N"]),
            window=int(item["window"]["N"]),
            count=int(item["n"]["N"]),
            limit=int(item["limit"]["N"]),
            reason=item["reason"]["S"],
            until=float(item["until"]["N"]) if "until" in item else None,
        )

    def is_open(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "opened_at": self.opened_at,
            "count": self.count,
            "limit": self.limit,
            "reason": self.reason,
            "until": self.until,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """An admission: act (``refused`` None), or why not; ``opened`` if this call opened it."""

    refused: str | None = None
    scope: str | None = None
    opened: Opening | None = None


ADMITTED = Verdict()


@dataclass(frozen=True, slots=True)
class BreakerState:
    opened: tuple[Opening, ...]
    #: scope -> {at, by, reason} of its last closing by a person.
    closed: Mapping[str, Mapping[str, Any]]
    #: scope -> automatic remediations counted in the current window.
    counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": [o.to_dict() for o in self.opened],
            "closed": {k: dict(v) for k, v in self.closed.items()},
            "counts": dict(self.counts),
        }


class NotOpen(RemedyError):
    def __init__(self, target: str, open_scopes: Iterable[str]) -> None:
        names = ", ".join(sorted(open_scopes)) or "none"
        super().__init__(
            f"no open breaker matches {target!r} (open: {names}); name a rule id, a "
            "12-digit account id or 'all' (remedy breaker status lists them)"
        )


def matches(target: str, scope: str) -> bool:
    """`remedy breaker close TARGET`: ``all``, an account (its scope and its rules' scopes
    there) or a rule (its scopes in every account)."""
    if target == OVERALL:
        return scope == OVERALL
    if _ACCOUNT.match(target):
        return scope == f"account:{target}" or (
            scope.startswith("rule:") and scope.endswith(f":{target}")
        )
    return scope.startswith(f"rule:{target}:")


class Breaker:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        limits: BreakerLimits,
        *,
        key_attribute: str = "pk",
        ttl_attribute: str = "expires_at",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.limits = limits
        self.key_attribute = key_attribute
        self.ttl_attribute = ttl_attribute
        self.clock = clock
        # The breaker item as this process last read it. Counting trusts it, so an
        # admission is one write: a stale copy can only make the count's condition
        # stricter (bases only grow in a window; an open scope's count is at its limit),
        # and a failed condition or an open scope reads the item again before deciding.
        self._known: dict[str, Any] | None = None

    # -- admitting -------------------------------------------------------------------------

    def admit(self, rule: str, account: str, key: str, what: str = "remediation") -> Verdict:
        """Count one automatic `what` for ledger entry `key`, or say why it must wait."""
        limits = dict(
            zip(
                scopes(rule, account),
                (self.limits.for_rule(rule), self.limits.per_account, self.limits.overall),
                strict=True,
            )
        )
        state, fresh = self._known, False
        for _ in range(ATTEMPTS):
            if state is None:
                state, fresh = self._state(), True
            verdict = self._attempt(limits, key, what, state, fresh)
            if verdict is not None:
                return verdict
            state = None
        # Every scope had room each time it was read back: writes kept racing this one.
        return Verdict(
            f"the breaker could not count this remediation ({ATTEMPTS} attempts raced "
            "other writes), so it waits for a person",
            OVERALL,
        )

    def _attempt(
        self, limits: Mapping[str, int], key: str, what: str, state: Mapping[str, Any], fresh: bool
    ) -> Verdict | None:
        """The verdict, or None to read the breaker item again and retry: what this process
        knew of it may be stale (a closing raised a base), or a write raced this one."""
        now = self.clock()
        window = self._window(now)
        opened = state.get("open", {}).get("M", {})
        allowed: dict[str, int] = {}
        for scope, limit in limits.items():
            opening = Opening.from_item(scope, opened[scope]) if scope in opened else None
            if opening is not None and opening.is_open(now):
                return Verdict(opening.reason, scope) if fresh else None
            allowed[scope] = limit + self._base(state, scope, opening, window)
        old = self._count(window, key, allowed, now)
        if old is None or key in old.get("keys", {}).get("SS", ()):
            return ADMITTED
        if not fresh:
            return None
        for scope, limit in limits.items():
            if int(old.get(scope, {}).get("N", "0")) >= allowed[scope]:
                return self._open(scope, window, allowed[scope], limit, now, what)
        return None

    def _window(self, now: float) -> int:
        return math.floor(now / self.limits.window.total_seconds())

    @staticmethod
    def _base(state: Mapping[str, Any], scope: str, opening: Opening | None, window: int) -> int:
        """The count a closing left in this window (0: none): the limit counts from it."""
        base = 0
        if opening is not None and opening.window == window:
            base = opening.count
        closed = state.get("base", {}).get("M", {}).get(scope)
        if closed is not None and int(closed["M"]["window"]["N"]) == window:
            base = max(base, int(closed["M"]["n"]["N"]))
        return base

    def _count(
        self, window: int, key: str, allowed: Mapping[str, int], now: float
    ) -> dict[str, Any] | None:
        """None if counted; else the counts item as it was (the condition failed)."""
        names = {"#keys": "keys", "#ttl": self.ttl_attribute}
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":key": {"S": key},
            ":keyset": {"SS": [key]},
            ":ttl": {"N": str(int(now) + int(self.limits.window.total_seconds()) + KEEP_SECONDS)},
        }
        adds, conditions = ["#keys :keyset"], ["NOT contains(#keys, :key)"]
        for i, (scope, limit) in enumerate(allowed.items()):
            names[f"#s{i}"] = scope
            values[f":l{i}"] = {"N": str(limit)}
            adds.append(f"#s{i} :one")
            conditions.append(f"(attribute_not_exists(#s{i}) OR #s{i} < :l{i})")
        try:
            self.db.update_item(
                TableName=self.table,
                Key={self.key_attribute: {"S": f"{COUNT_PREFIX}{window}"}},
                UpdateExpression=f"ADD {', '.join(adds)} SET #ttl = :ttl",
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old: dict[str, Any] = exc.response.get("Item", {})
            return old
        return None

    def _open(
        self, scope: str, window: int, count: int, limit: int, now: float, what: str
    ) -> Verdict:
        """Open `scope` (one conditional write: one winner); the verdict either way."""
        cooldown = self.limits.cooldown
        span = _window_words(self.limits.window.total_seconds())
        target = scope.split(":")[1] if scope != OVERALL else OVERALL
        opening = Opening(
            scope=scope,
            opened_at=now,
            window=window,
            count=count,
            limit=limit,
            reason=(
                f"the breaker is open: {count} automatic {what}s in {span} {describe(scope)} "
                f"(limit {limit}); "
                + (
                    f"it closes by itself after {round(cooldown.total_seconds() / 60)} minutes"
                    if cooldown
                    else "it stays open until a person closes it"
                )
                + f" (remedy breaker close {target} --reason ...)"
            ),
            until=now + cooldown.total_seconds() if cooldown else None,
        )
        self._ensure_state()
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._state_key(),
                UpdateExpression="SET #open.#s = :opening",
                ConditionExpression="attribute_not_exists(#open.#s) OR #open.#s.#until < :now",
                ExpressionAttributeNames={"#open": "open", "#s": scope, "#until": "until"},
                ExpressionAttributeValues={":opening": opening.to_item(), ":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            current = self._state().get("open", {}).get("M", {}).get(scope)
            reason = Opening.from_item(scope, current).reason if current else opening.reason
            return Verdict(reason, scope)
        log.warning("breaker %s opened: %s", scope, opening.reason)
        return Verdict(opening.reason, scope, opening)

    # -- state -----------------------------------------------------------------------------

    def _state_key(self) -> dict[str, Any]:
        return {self.key_attribute: {"S": STATE_KEY}}

    def _state(self) -> dict[str, Any]:
        response = self.db.get_item(
            TableName=self.table, Key=self._state_key(), ConsistentRead=True
        )
        item: dict[str, Any] = response.get("Item", {})
        self._known = item
        return item

    def _ensure_state(self) -> None:
        """The breaker item with its maps (a nested SET needs the map to exist)."""
        try:
            self.db.put_item(
                TableName=self.table,
                Item={
                    **self._state_key(),
                    "open": {"M": {}},
                    "base": {"M": {}},
                    "closed": {"M": {}},
                },
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": self.key_attribute},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def status(self) -> BreakerState:
        """The open breakers (cool-downs that have passed left out), the last closings, and
        the counts of the current window."""
        now = self.clock()
        state = self._state()
        opened = tuple(
            opening
            for scope, value in sorted(state.get("open", {}).get("M", {}).items())
            if (opening := Opening.from_item(scope, value)).is_open(now)
        )
        closed = {
            scope: {k: next(iter(v.values())) for k, v in value["M"].items()}
            for scope, value in state.get("closed", {}).get("M", {}).items()
        }
        counts = self.db.get_item(
            TableName=self.table,
            Key={self.key_attribute: {"S": f"{COUNT_PREFIX}{self._window(now)}"}},
            ConsistentRead=True,
        ).get("Item", {})
        return BreakerState(
            opened,
            closed,
            {
                name: int(value["N"])
                for name, value in sorted(counts.items())
                if name == OVERALL or name.startswith(("rule:", "account:"))
            },
        )

    def close(self, target: str, *, by: str, reason: str) -> list[str]:
        """Close every open scope `target` names (see `matches`); the scopes closed.
        `NotOpen` if none is open."""
        current = self.status()
        chosen = [o for o in current.opened if matches(target, o.scope)]
        if not chosen:
            raise NotOpen(target, (o.scope for o in current.opened))
        now = self.clock()
        window = self._window(now)
        done = []
        for opening in chosen:
            try:
                self.db.update_item(
                    TableName=self.table,
                    Key=self._state_key(),
                    UpdateExpression=("REMOVE #open.#s SET #base.#s = :base, #closed.#s = :closed"),
                    ConditionExpression="attribute_exists(#open.#s)",
                    ExpressionAttributeNames={
                        "#open": "open",
                        "#base": "base",
                        "#closed": "closed",
                        "#s": opening.scope,
                    },
                    ExpressionAttributeValues={
                        ":base": {
                            "M": {
                                "window": {"N": str(window)},
                                "n": {"N": str(current.counts.get(opening.scope, 0))},
                            }
                        },
                        ":closed": {
                            "M": {
                                "at": {"N": f"{now:.3f}"},
                                "by": {"S": by},
                                "reason": {"S": reason},
                            }
                        },
                    },
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                continue  # closed by someone else meanwhile
            log.info("breaker %s closed by %s: %s", opening.scope, by, reason)
            done.append(opening.scope)
        return done
