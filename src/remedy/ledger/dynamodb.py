"""The ledger in DynamoDB: one item per finding key, every change one conditional write.

Item layout (partition key ``pk``, a string: the finding key)::

    pk          S   finding key
    state       S   a `State` value
    account     S   the finding's account
    region      S   the finding's region
    finding     S   JSON snapshot of the finding (a string: findings carry floats and
                    arbitrary keys that DynamoDB maps would reject or reshape)
    decision    S   JSON snapshot of the decision
    attrs       M   free-form facts (where the object went, Slack message ts, ...)
    history     L   of M {at, by, source, target, note}
    created_at  S   ISO 8601 UTC
    updated_at  S   ISO 8601 UTC
    version     N   bumped by every transition (attrs updates leave it)
    expires_at  N   epoch seconds, set when the entry reaches a state nothing leaves (TTL)
    attention, attention_at, activity_day
                S   what the operators' views query by (`remedy.ledger.indexes`), written
                    with every change that moves them

A transition is one ``UpdateItem`` with ``#state IN (:s0, ...)`` as its condition; a lost
race comes back as `Conflict` built from ``ReturnValuesOnConditionCheckFailure=ALL_OLD``,
so the loser learns the winner's state without a second read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from remedy.ledger.base import (
    Conflict,
    Entry,
    HistoryItem,
    LedgerStore,
    State,
    Taken,
    check_transition,
    is_terminal,
    stamp,
)
from remedy.ledger.indexes import activity_day, attention
from remedy.ledger.vocabulary import AWAITING

if TYPE_CHECKING:
    from remedy.settings import Settings

Clock = Callable[[], datetime]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def condition_failed(error: ClientError) -> bool:
    """Whether `error` is a conditional write whose condition did not hold (the loser of
    a race, or a state that moved on), as opposed to a failure to report."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _plain(value: Any) -> Any:
    """JSON-shaped data as DynamoDB accepts it: floats become Decimals."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def _unplain(value: Any) -> Any:
    """Decimals back to int or float, so attrs read back as the JSON they were written as."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def _ser(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = _SERIALIZER.serialize(_plain(value))
    return out


def _index_update(
    key: str, at: str, why: str | None, *, moves_attention: bool = True
) -> tuple[str, dict[str, Any]]:
    """The update clauses (``SET`` items, then a ``REMOVE`` clause or "") and values
    that keep the indexes' keys in step with a write at `at` (`remedy.ledger.indexes`):
    ``attention`` becomes `why`, or goes when `why` is None, unless the write cannot
    change it (`moves_attention` false)."""
    values: dict[str, Any] = {":day": {"S": activity_day(key, at)}}
    sets = "activity_day = :day"
    if not moves_attention:
        return sets, values
    if why is None:
        return f"{sets} REMOVE attention, attention_at", values
    values[":attention"] = {"S": why}
    values[":attention_at"] = {"S": at}
    return f"{sets}, attention = :attention, attention_at = :attention_at", values


def _history_item(item: HistoryItem) -> dict[str, Any]:
    return {
        "at": item.at,
        "by": item.by,
        "source": item.source,
        "target": item.target,
        "note": item.note,
    }


class DynamoDBLedgerStore(LedgerStore):
    """`LedgerStore` on a DynamoDB table keyed by ``pk`` (see the module docstring)."""

    def __init__(
        self,
        table: str,
        client: Any = None,
        *,
        ttl_days: int = 365,
        clock: Clock = utc_now,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table = table
        self.client = client
        self.ttl = timedelta(days=ttl_days)
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, client: Any = None) -> DynamoDBLedgerStore:
        """The store every Lambda function uses: the configured table and retention."""
        return cls(settings.ledger_table, client, ttl_days=settings.ledger_ttl_days)

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        response = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True
        )
        item = response.get("Item")
        # The table also holds bookkeeping (the Slack outbox, digest windows): no state,
        # no entry.
        return self._entry(item) if item and "state" in item else None

    @staticmethod
    def _entry(item: Mapping[str, Any]) -> Entry:
        data = {name: _unplain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
        return Entry(
            key=data["pk"],
            state=State(data["state"]),
            account=data.get("account", ""),
            region=data.get("region", ""),
            finding=json.loads(data.get("finding") or "{}"),
            decision=json.loads(data.get("decision") or "{}"),
            created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""),
            attrs=data.get("attrs") or {},
            history=tuple(
                HistoryItem(
                    at=h.get("at", ""),
                    by=h.get("by", ""),
                    source=h.get("source", ""),
                    target=h.get("target", ""),
                    note=h.get("note", ""),
                )
                for h in data.get("history") or ()
            ),
            version=int(data.get("version", 0)),
        )

    def _conflict(self, error: ClientError, key: str, expected: Iterable[State]) -> Conflict | None:
        if not condition_failed(error):
            return None
        old = error.response.get("Item") or {}
        return Conflict(key, expected, State(old["state"]["S"]) if "state" in old else None)

    def _expires_at(self, state: State, now: datetime) -> int | None:
        return int((now + self.ttl).timestamp()) if is_terminal(state) else None

    # -- writing ---------------------------------------------------------------------------

    def create(self, entry: Entry) -> tuple[bool, Entry]:
        if entry.state is not State.RECEIVED:
            check_transition([State.RECEIVED], entry.state)
        now = self.clock()
        at = stamp(now)
        stored = Entry(
            key=entry.key,
            state=entry.state,
            account=entry.account,
            region=entry.region,
            finding=entry.finding,
            decision=entry.decision,
            created_at=entry.created_at or at,
            updated_at=at,
            attrs=dict(entry.attrs),
            history=entry.history,
            version=1,
        )
        item: dict[str, Any] = {
            "pk": {"S": stored.key},
            "state": {"S": stored.state.value},
            "account": {"S": stored.account},
            "region": {"S": stored.region},
            "finding": {"S": json.dumps(stored.finding, sort_keys=True, default=str)},
            "decision": {"S": json.dumps(stored.decision, sort_keys=True, default=str)},
            "attrs": _ser(stored.attrs),
            "history": _ser([_history_item(h) for h in stored.history]),
            "created_at": {"S": stored.created_at},
            "updated_at": {"S": stored.updated_at},
            "version": {"N": "1"},
            "activity_day": {"S": activity_day(stored.key, stored.updated_at)},
        }
        why = attention(stored.state, stored.attrs)
        if why is not None:
            item["attention"] = {"S": why}
            item["attention_at"] = {"S": stored.updated_at}
        expires = self._expires_at(stored.state, now)
        if expires is not None:
            item["expires_at"] = {"N": str(expires)}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            old = error.response.get("Item")
            # ALL_OLD is always there on a failed attribute_not_exists; read if a store
            # (or an emulator) ever leaves it out.
            existing = self._entry(old) if old else self.get(entry.key)
            if existing is None:
                raise
            return False, existing
        return True, stored

    def transition(
        self,
        key: str,
        expected: Iterable[State],
        target: State,
        *,
        by: str,
        note: str = "",
        attrs: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Entry:
        expected = frozenset(expected)
        check_transition(expected, target)
        now = self.clock()
        sources = sorted(s.value for s in expected)
        # The history item records the state actually left; with several expected states
        # the condition guarantees it is one of them, and "a|b" says which were allowed.
        step = HistoryItem(stamp(now), by, "|".join(sources), target.value, note)
        names = {"#state": "state"}
        values: dict[str, Any] = {
            ":target": {"S": target.value},
            ":now": {"S": step.at},
            ":step": _ser([_history_item(step)]),
            ":one": {"N": "1"},
        }
        sets = [
            "#state = :target",
            "updated_at = :now",
            "history = list_append(history, :step)",
            "version = version + :one",
        ]
        for i, (name, value) in enumerate((attrs or {}).items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = _ser(value)
            sets.append(f"attrs.#a{i} = :a{i}")
        expires = self._expires_at(target, now)
        if expires is not None:
            values[":expires"] = {"N": str(expires)}
            sets.append("expires_at = :expires")
        placeholders = []
        for i, source in enumerate(sources):
            values[f":s{i}"] = {"S": source}
            placeholders.append(f":s{i}")
        indexed, index_values = _index_update(key, step.at, attention(target, attrs or {}))
        values.update(index_values)
        condition = f"#state IN ({', '.join(placeholders)})"
        if expected_version is not None:
            values[":version"] = {"N": str(expected_version)}
            condition += " AND version = :version"
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET " + ", ".join([*sets, indexed]),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            conflict = self._conflict(error, key, expected)
            if conflict is None:
                raise
            raise conflict from None
        return self._entry(response["Attributes"])

    def update_attrs(self, key: str, attrs: Mapping[str, Any]) -> Entry:
        names = {}
        # No version bump: attrs are bookkeeping (the Slack message ts, a notification owed)
        # and must not void a worker's `expected_version` claim on the entry.
        at = stamp(self.clock())
        indexed, values = _index_update(key, at, None, moves_attention=False)
        values[":now"] = {"S": at}
        sets = ["updated_at = :now", indexed]
        for i, (name, value) in enumerate(attrs.items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = _ser(value)
            sets.append(f"attrs.#a{i} = :a{i}")
        kwargs: dict[str, Any] = {}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ClientError as error:
            conflict = self._conflict(error, key, ())
            if conflict is None:
                raise
            raise conflict from None
        return self._entry(response["Attributes"])

    def claim_attr(self, key: str, name: str, value: Any, *, expected: Any = None) -> Entry | None:
        values: dict[str, Any] = {":v": _ser(value), ":now": {"S": stamp(self.clock())}}
        if expected is None:
            held = "attribute_not_exists(attrs.#n)"
        else:
            held = "attrs.#n = :old"
            values[":old"] = _ser(expected)
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET attrs.#n = :v, updated_at = :now",
                ConditionExpression=f"attribute_exists(pk) AND {held}",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            if not error.response.get("Item"):
                raise Conflict(key, (), None) from None
            return None
        return self._entry(response["Attributes"])

    def annotate(
        self,
        key: str,
        state: State,
        when: tuple[str, Any],
        attrs: Mapping[str, Any],
        *,
        by: str,
        note: str | None,
        also: Iterable[tuple[str, Any]] = (),
    ) -> Entry:
        step = HistoryItem(stamp(self.clock()), by, state.value, state.value, note or "")
        names = {"#state": "state"}
        values: dict[str, Any] = {":state": {"S": state.value}, ":now": {"S": step.at}}
        sets = ["updated_at = :now"]
        if note is not None:
            values[":step"] = _ser([_history_item(step)])
            sets.append("history = list_append(history, :step)")
        held = ["#state = :state"]
        for i, (name, value) in enumerate((when, *also)):
            names[f"#w{i}"] = name
            if value is None:
                held.append(f"attribute_not_exists(attrs.#w{i})")
            else:
                held.append(f"attrs.#w{i} = :w{i}")
                values[f":w{i}"] = _ser(value)
        indexed, index_values = _index_update(
            key, step.at, attention(state, attrs), moves_attention=AWAITING in attrs
        )
        values.update(index_values)
        for i, (name, value) in enumerate(attrs.items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = _ser(value)
            sets.append(f"attrs.#a{i} = :a{i}")
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET " + ", ".join([*sets, indexed]),
                ConditionExpression=" AND ".join(held),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            conflict = self._conflict(error, key, [state])
            if conflict is None:
                raise
            if conflict.actual is state:
                raise Taken(key, state, state, when[0]) from None
            raise conflict from None
        return self._entry(response["Attributes"])
