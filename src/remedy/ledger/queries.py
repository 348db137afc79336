"""Reading the ledger for the operators' views, through its indexes (never a scan).

Every method queries one index partition at a time (`remedy.ledger.indexes`) and pages
through it, so what it reads is the answer, however large the table. `Reads` counts the
items DynamoDB examined (``ScannedCount``) and the requests, which the benchmark
(``bench/ledger_views.py``) compares across table sizes.
"""

from __future__ import annotations

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
        while True:
            page = self.client.query(**kwargs)
            self.reads.requests += 1
            self.reads.items += int(page.get("ScannedCount", len(page.get("Items", ()))))
            for item in page.get("Items", ()):
                yield DynamoDBLedgerStore._entry(item)
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
        day = since.astimezone(UTC).date()
        while day <= self.clock().date():
            for shard in range(ACTIVITY_SHARDS):
                yield from self._query(ACTIVITY_INDEX, f"{day.isoformat()}#{shard}", since)
            day += timedelta(days=1)


_KEYS = {
    ATTENTION_INDEX: ("attention", "attention_at"),
    ACCOUNT_INDEX: ("account", "updated_at"),
    ACTIVITY_INDEX: ("activity_day", "updated_at"),
}
