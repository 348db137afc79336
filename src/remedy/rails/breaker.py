"""The circuit breaker: how many automatic remediations remedy makes before it asks.

Three scopes are counted for each automatic remediation: its rule in its account
(``rule:<rule>:<account>``), its account (``account:<account>``) and all of them
(``all``), each against its limit per window (`remedy.policy.rails.BreakerLimits`).

The limit holds over any span of one window's length, not only within clock-aligned
windows (where a burst at a window's end and the next one's start could run twice the
limit in minutes). The window is counted in `SUBWINDOWS` clock-aligned sub-windows, and
an admission counts its own sub-window and the `SUBWINDOWS` before it: a span of
between one window and one window plus a sub-window that always covers the window length
before now. So no span of one window's length ever holds more than the limit, and the
breaker may open up to one sub-window's length early (it counts an hour to 70 minutes
back, for an hour window).

The counts live in the breaker item (``pk = breaker#state``), beside what is open and
what a person closed: one number per scope and sub-window (``n#<sub-window>#<scope>``),
the entry keys admitted in each sub-window (``k#<sub-window>``) and the newest
sub-window (``latest``). Counts are only added to the newest, so the earlier ones are
final: a process that knows the item as it was when its sub-window became the newest
knows exactly how much room is left. An admission is one conditional ``UpdateItem``:
"add one to each scope's count in this sub-window and this key to its set, if this is
still the newest sub-window, the key is in no set of the span, no scope is open, and each
scope's count here is below the room the earlier ones leave". Adding is commutative, so
concurrent invocations do not make each other retry, and DynamoDB applies the write to
the one item atomically: no scope passes its limit, and a redelivery of an admitted
finding is admitted again without counting twice (the Slack pace, `remedy.notify.pace`,
claims its slots the same way). A write whose condition fails returns the item as it
is, which decides: admitted already, open, at its limit (open it), or retry on what it
now knows. A process's first admission in a sub-window first makes it the newest (one
conditional write, returning the item), and drops the sub-windows the span has left.

The write that fails on a limit opens that scope's breaker: one conditional write on the
same item, so exactly one invocation wins, and only it sends the Slack message, the
owners' email and the ``BreakerOpen`` metric. While a scope is open, every automatic
remediation under it becomes an approval and nothing is counted. It closes when a person
says so (`close`, ``remedy breaker close``) or, with a cool-down in the policy, by itself
once that has passed. Either way everything counted until then under that scope is
forgiven (its base: the sub-window and the count there), so a closed breaker allows a
full limit again rather than tripping at the next finding.
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
#: Sub-windows a window is counted in: the breaker opens at most this fraction early.
SUBWINDOWS = 6
#: The newest sub-window: counts are only added to it, so the earlier ones are final.
LATEST = "latest"
OVERALL = "all"
#: Admissions tried before a finding waits for a person because writes kept racing it.
ATTEMPTS = 3
_ACCOUNT = re.compile(r"[0-9]{12}\Z")


def scopes(rule: str, account: str) -> tuple[str, str, str]:
    """The scopes one automatic remediation counts in, narrowest first."""
    return f"rule:{rule}:{account}", f"account:{account}", OVERALL


def _count_name(subwindow: int, scope: str) -> str:
    return f"n#{subwindow}#{scope}"


def _keys_name(subwindow: int) -> str:
    return f"k#{subwindow}"


def _subwindow_of(name: str) -> int | None:
    """The sub-window a count or key-set attribute belongs to (None: another attribute)."""
    kind, _, rest = name.partition("#")
    if kind not in ("n", "k"):
        return None
    return int(rest.partition("#")[0])


def _number(item: Mapping[str, Any], name: str) -> int:
    return int(item.get(name, {}).get("N", "0"))


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
    """A scope's breaker, open: when, at which count, and until when (None: a person).
    ``subwindow`` and ``base``: its sub-window and the scope's count there when it opened,
    what an ended cool-down forgives."""

    scope: str
    opened_at: float
    subwindow: int
    count: int
    limit: int
    reason: str
    until: float | None
    base: int = 0

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "opened_at": {"N": f"{self.opened_at:.3f}"},
            "subwindow": {"N": str(self.subwindow)},
            "base": {"N": str(self.base)},
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
            # Opened before sub-windows (fixed windows): its end forgives nothing.
            subwindow=int(item.get("subwindow", {"N": "0"})["N"]),
            count=int(item["n"]["N"]),
            limit=int(item["limit"]["N"]),
            reason=item["reason"]["S"],
            until=float(item["until"]["N"]) if "until" in item else None,
            base=int(item.get("base", {"N": "0"})["N"]),
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
    #: scope -> automatic remediations counting against its limit now (the span).
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.limits = limits
        self.key_attribute = key_attribute
        self.clock = clock
        # The breaker item as this process last saw it. An admission is one write trusting
        # it: the write's condition checks on the item all this copy assumed, so a stale
        # copy only fails the write, which returns the item as it is.
        self._known: dict[str, Any] = {}

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
        for _ in range(ATTEMPTS):
            now = self.clock()
            known = self._known
            # A clock behind another's counts in the newest sub-window (which it learned
            # from the item): never in one the others have left.
            subwindow = max(self._subwindow(now), _number(known, LATEST))
            if LATEST not in known or _number(known, LATEST) < subwindow:
                known = self._known = self._begin(subwindow)
                subwindow = max(subwindow, _number(known, LATEST))
            item = self._count(limits, key, subwindow, known, now)
            if item is None:
                self._known = _after_count(known, limits, subwindow)
                return ADMITTED
            self._known = item
            subwindow = max(subwindow, _number(item, LATEST))
            span = range(subwindow - SUBWINDOWS, subwindow + 1)
            if any(key in item.get(_keys_name(s), {}).get("SS", ()) for s in span):
                return ADMITTED
            for scope in limits:
                opening = _opening(item, scope)
                if opening is not None and opening.is_open(now):
                    return Verdict(opening.reason, scope)
            for scope, limit in limits.items():
                counted = _counted(item, scope, subwindow, now)
                if counted >= limit:
                    base = _number(item, _count_name(subwindow, scope))
                    return self._open(scope, subwindow, counted, limit, base, now, what)
            # Room everywhere: what this process knew was stale, or a sub-window began.
        return Verdict(
            f"the breaker could not count this remediation ({ATTEMPTS} attempts raced "
            "other writes), so it waits for a person",
            OVERALL,
        )

    def _subwindow(self, now: float) -> int:
        return math.floor(now * SUBWINDOWS / self.limits.window.total_seconds())

    def _begin(self, subwindow: int) -> dict[str, Any]:
        """Make `subwindow` the newest if it is not yet (one conditional write, which only
        the first of concurrent invocations passes); the breaker item as it is then.
        Nothing is counted in an earlier sub-window after it, so the item returned holds
        their final counts, and every attribute a later write has to drop."""
        try:
            response = self.db.update_item(
                TableName=self.table,
                Key=self._state_key(),
                UpdateExpression="SET #latest = :sub",
                ConditionExpression="attribute_not_exists(#latest) OR #latest < :sub",
                ExpressionAttributeNames={"#latest": LATEST},
                ExpressionAttributeValues={":sub": {"N": str(subwindow)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old: dict[str, Any] = exc.response.get("Item", {})
            return old
        new: dict[str, Any] = response["Attributes"]
        return new

    def _count(
        self,
        limits: Mapping[str, int],
        key: str,
        subwindow: int,
        known: Mapping[str, Any],
        now: float,
    ) -> dict[str, Any] | None:
        """None if counted; else the breaker item as it was (the condition failed)."""
        span = range(subwindow - SUBWINDOWS, subwindow + 1)
        names = {
            "#latest": LATEST,
            "#open": "open",
            "#base": "base",
            "#closed": "closed",
            "#until": "until",
        }
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":key": {"S": key},
            ":keyset": {"SS": [key]},
            ":sub": {"N": str(subwindow)},
            ":empty": {"M": {}},
            ":now": {"N": str(now)},
        }
        conditions = ["#latest = :sub"]
        for i, s in enumerate(span):
            names[f"#k{i}"] = _keys_name(s)
            conditions.append(f"NOT contains(#k{i}, :key)")
        adds = [f"#k{SUBWINDOWS} :keyset"]
        for i, (scope, limit) in enumerate(limits.items()):
            names[f"#s{i}"] = scope
            conditions.append(f"(attribute_not_exists(#open.#s{i}) OR #open.#s{i}.#until < :now)")
            first, forgiven = _base(known, scope, now)
            room = limit + (forgiven if first == subwindow else 0)
            for s in span[:-1]:
                if s >= first:
                    seen = _number(known, _count_name(s, scope))
                    room -= seen - forgiven if s == first else seen
            names[f"#n{i}"] = _count_name(subwindow, scope)
            values[f":room{i}"] = {"N": str(room)}
            adds.append(f"#n{i} :one")
            # A missing count is 0: below a room of 1 or more, never below 0 or less.
            conditions.append(
                f"(attribute_not_exists(#n{i}) OR #n{i} < :room{i})"
                if room > 0
                else f"#n{i} < :room{i}"
            )
        update = (
            f"ADD {', '.join(adds)} SET #open = if_not_exists(#open, :empty), "
            "#base = if_not_exists(#base, :empty), #closed = if_not_exists(#closed, :empty)"
        )
        # Sub-windows older than any span drop out of the item as it is written.
        old = [n for n in known if (w := _subwindow_of(n)) is not None and w < span[0]]
        if old:
            names.update({f"#o{i}": name for i, name in enumerate(old)})
            update += " REMOVE " + ", ".join(f"#o{i}" for i in range(len(old)))
        try:
            self.db.update_item(
                TableName=self.table,
                Key=self._state_key(),
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            item: dict[str, Any] = exc.response.get("Item", {})
            return item
        return None

    def _open(
        self, scope: str, subwindow: int, count: int, limit: int, base: int, now: float, what: str
    ) -> Verdict:
        """Open `scope` (one conditional write: one winner); the verdict either way."""
        cooldown = self.limits.cooldown
        span = _window_words(self.limits.window.total_seconds())
        target = scope.split(":")[1] if scope != OVERALL else OVERALL
        opening = Opening(
            scope=scope,
            opened_at=now,
            subwindow=subwindow,
            base=base,
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

    def _opened(self, state: Mapping[str, Any], now: float) -> tuple[Opening, ...]:
        """The open breakers; cool-downs that have passed left out."""
        return tuple(
            opening
            for scope, value in sorted(state.get("open", {}).get("M", {}).items())
            if (opening := Opening.from_item(scope, value)).is_open(now)
        )

    def status(self) -> BreakerState:
        """The open breakers, the last closings, and what counts against each scope's
        limit now."""
        now = self.clock()
        state = self._state()
        subwindow = self._subwindow(now)
        closed = {
            scope: {k: next(iter(v.values())) for k, v in value["M"].items()}
            for scope, value in state.get("closed", {}).get("M", {}).items()
        }
        named = sorted({n.split("#", 2)[2] for n in state if n.startswith("n#")})
        counts = {s: n for s in named if (n := _counted(state, s, subwindow, now))}
        return BreakerState(self._opened(state, now), closed, counts)

    def close(self, target: str, *, by: str, reason: str) -> list[str]:
        """Close every open scope `target` names (see `matches`); the scopes closed.
        `NotOpen` if none is open."""
        now = self.clock()
        state = self._state()
        opened = self._opened(state, now)
        chosen = [o for o in opened if matches(target, o.scope)]
        if not chosen:
            raise NotOpen(target, (o.scope for o in opened))
        subwindow = self._subwindow(now)
        done = []
        for opening in chosen:
            # Nothing is counted under an open scope: its count here is final until now.
            counted = _number(state, _count_name(subwindow, opening.scope))
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
                                "subwindow": {"N": str(subwindow)},
                                "n": {"N": str(counted)},
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


def _opening(item: Mapping[str, Any], scope: str) -> Opening | None:
    value = item.get("open", {}).get("M", {}).get(scope)
    return None if value is None else Opening.from_item(scope, value)


def _base(item: Mapping[str, Any], scope: str, now: float) -> tuple[int, int]:
    """What the last closing of `scope` forgave: everything counted before a sub-window,
    and the first so many in it ((0, 0): nothing). Bases only grow, so a stale item only
    forgives less."""
    base = (0, 0)
    closed = item.get("base", {}).get("M", {}).get(scope)
    # A closing before sub-windows (a fixed window's base) forgives nothing.
    if closed is not None and "subwindow" in closed["M"]:
        base = (int(closed["M"]["subwindow"]["N"]), int(closed["M"]["n"]["N"]))
    opening = _opening(item, scope)
    if opening is not None and not opening.is_open(now):
        base = max(base, (opening.subwindow, opening.base))
    return base


def _counted(item: Mapping[str, Any], scope: str, subwindow: int, now: float) -> int:
    """What counts against `scope`'s limit in `subwindow`: the span, less its base."""
    first, forgiven = _base(item, scope, now)
    total = 0
    for s in range(max(first, subwindow - SUBWINDOWS), subwindow + 1):
        counted = _number(item, _count_name(s, scope))
        total += max(counted - forgiven, 0) if s == first else counted
    return total


def _after_count(
    known: Mapping[str, Any], limits: Mapping[str, int], subwindow: int
) -> dict[str, Any]:
    """The breaker item as this process knows it after counting once in `subwindow`: a
    lower bound of this sub-window's counts (others may have counted too; the write's
    condition checks them)."""
    after = {
        name: value
        for name, value in known.items()
        if (w := _subwindow_of(name)) is None or w >= subwindow - SUBWINDOWS
    }
    for scope in limits:
        name = _count_name(subwindow, scope)
        after[name] = {"N": str(_number(known, name) + 1)}
    after[LATEST] = {"N": str(subwindow)}
    return after
