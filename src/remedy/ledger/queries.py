"""Reading the ledger for the operators' views, through its indexes (never a scan).

Every method queries one index partition at a time (`remedy.ledger.indexes`) and pages
through it, so what it reads is the answer, however large the table. `Reads` counts the
items DynamoDB examined (``ScannedCount``) and the requests, which the benchmark
(``bench/ledger_views.py``) compares across table sizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from remedy.ledger.base import Entry, stamp
from remedy.ledger.dynamodb import Clock, DynamoDBLedgerStore, utc_now
from remedy.ledger.indexes import (
    ACCOUNT_INDEX,
    ACTIVITY_INDEX,
    ACTIVITY_SHARDS,
    ATTENTION_INDEX,
    ATTENTION_VALUES,
)


@dataclass
class Reads:
    """What the queries cost: items DynamoDB examined and requests made."""

    items: int = 0
    requests: int = 0


class LedgerQueries:
    def __init__(self, table: str, client: Any, *, clock: Clock = utc_now) -> None:
        self.table = table
        self.client = client
        self.clock = clock
        self.reads = Reads()

    def _query(self, index: str, partition: str, since: datetime | None = None) -> Iterator[Entry]:
        """One partition of `index`, its items written at or after `since` if given."""
        for item in self._items(index, partition, since):
            yield DynamoDBLedgerStore._entry(item)

    def _items(
        self,
        index: str,
        partition: str,
        since: datetime | None = None,
        projection: tuple[str, ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """The raw items of `_query`, only the `projection` attributes if named."""
        hash_key, range_key = _KEYS[index]
        condition = "#h = :h"
        names = {"#h": hash_key}
        values: dict[str, Any] = {":h": {"S": partition}}
        if since is not None:
            condition += " AND #r >= :since"
            names["#r"] = range_key
            values[":since"] = {"S": stamp(since)}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if projection:
            names.update((f"#p{i}", name) for i, name in enumerate(projection))
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(projection)))
        while True:
            page = self.client.query(**kwargs)
            self.reads.requests += 1
            self.reads.items += int(page.get("ScannedCount", len(page.get("Items", ()))))
            yield from page.get("Items", ())
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def attention(self) -> Iterator[Entry]:
        """Every entry that needs a person, by reason (`ATTENTION_VALUES`), oldest first."""
        for why in ATTENTION_VALUES:
            yield from self.waiting(why)

    def waiting(self, why: str, since: datetime | None = None) -> Iterator[Entry]:
        """The entries that need a person for `why` (an `ATTENTION_VALUES` value, or
        `DRY_RUN`), oldest first; those since `since` if given."""
        return self._query(ATTENTION_INDEX, why, since)

    def count(self, why: str) -> int:
        """How many entries need a person for `why` (an `ATTENTION_VALUES` value), counted
        by DynamoDB (``Select=COUNT``: nothing but the count comes back)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": ATTENTION_INDEX,
            "KeyConditionExpression": "attention = :h",
            "ExpressionAttributeValues": {":h": {"S": why}},
            "Select": "COUNT",
        }
        total = 0
        while True:
            page = self.client.query(**kwargs)
            self.reads.requests += 1
            self.reads.items += int(page.get("ScannedCount", 0))
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def touched(self, since: datetime, account: str | None = None) -> Iterator[Entry]:
        """Every entry written at or after `since`, so every entry with history since
        then, of one `account` or of all (an entry written since carries its older history
        too: the caller keeps the items in its period)."""
        if account is not None:
            yield from self._query(ACCOUNT_INDEX, account, since)
            return
        for partition in self._days(since):
            yield from self._query(ACTIVITY_INDEX, partition, since)

    def _days(self, since: datetime) -> Iterator[str]:
        """The activity index's partitions from `since`'s day to today."""
        day = since.astimezone(UTC).date()
        while day <= self.clock().date():
            for shard in range(ACTIVITY_SHARDS):
                yield f"{day.isoformat()}#{shard}"
            day += timedelta(days=1)

    def snapshots(self, since: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, finding snapshot)`` of every entry created at or after `since`, what
        ``remedy policy diff`` decides again: only those attributes are read and parsed
        (a whole entry costs more to deserialise than deciding its finding twice)."""
        first = stamp(since)
        for partition in self._days(since):
            for item in self._items(ACTIVITY_INDEX, partition, since, SNAPSHOT_ATTRIBUTES):
                if item["created_at"]["S"] >= first:
                    yield snapshot(item)


#: What `LedgerQueries.snapshots` reads of an entry.
SNAPSHOT_ATTRIBUTES = ("pk", "created_at", "finding")


def snapshot(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An item's key and finding snapshot (stored as JSON text, `remedy.ledger.dynamodb`)."""
    finding = item.get("finding")
    return item["pk"]["S"], json.loads(finding["S"]) if finding else {}


_KEYS = {
    ATTENTION_INDEX: ("attention", "attention_at"),
    ACCOUNT_INDEX: ("account", "updated_at"),
    ACTIVITY_INDEX: ("activity_day", "updated_at"),
}
