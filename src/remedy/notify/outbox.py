"""Slack messages still owed after a failed post: retried by a later invocation.

When Slack is down or refuses a message, the remediation goes on; the entry is marked
``attrs.slack_pending`` and its key goes into one outbox item in the ledger table
(``pk = slack#outbox``, a string set, so adding and removing are atomic and idempotent).
The next Slack notification in the findings or remediator function first re-sends what
the outbox holds, from the ledger's current state, and the scheduled Slack outbox
function (`remedy.handlers.slack_outbox`) does so every few minutes even when no finding
arrives; a change to the entry itself re-sends it too, since every message renders the
entry's current state. An item holds about 10,000 keys (400 KB); past that, adding fails, is
logged, and the entry still carries ``slack_pending`` for its next change.
"""

from __future__ import annotations

from typing import Any

OUTBOX_PK = "slack#outbox"
#: The tickets owed (`remedy.tickets.lifecycle`): the same item shape, its own key.
TICKET_OUTBOX_PK = "ticket#outbox"


class SlackOutbox:
    def __init__(
        self, dynamodb: Any, table: str, *, key_attribute: str = "pk", pk: str = OUTBOX_PK
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.key_attribute = key_attribute
        #: The item's key: tickets owed keep their own outbox (`remedy.tickets.lifecycle`).
        self.pk = pk

    def _update(self, expression: str, key: str) -> None:
        self.db.update_item(
            TableName=self.table,
            Key={self.key_attribute: {"S": self.pk}},
            UpdateExpression=expression,
            ExpressionAttributeValues={":k": {"SS": [key]}},
        )

    def add(self, key: str) -> None:
        self._update("ADD pending :k", key)

    def remove(self, key: str) -> None:
        self._update("DELETE pending :k", key)

    def _item(self, projection: str) -> dict[str, Any]:
        return (
            self.db.get_item(
                TableName=self.table,
                Key={self.key_attribute: {"S": self.pk}},
                ConsistentRead=True,
                ProjectionExpression=projection,
            ).get("Item")
            or {}
        )

    def _keys(self) -> list[str]:
        return sorted(self._item("pending").get("pending", {}).get("SS", []))

    def pending(self, limit: int) -> list[str]:
        return self._keys()[:limit]

    def rotate(self, limit: int) -> list[str]:
        """Up to `limit` keys from just after the last key `rotate` gave (kept on the
        item), round to the start: keys that fail on every try never keep the others
        waiting behind them."""
        item = self._item("pending, rotated")
        keys = sorted(item.get("pending", {}).get("SS", []))
        after = item.get("rotated", {}).get("S", "")
        chosen = ([k for k in keys if k > after] + [k for k in keys if k <= after])[:limit]
        if chosen:
            self.db.update_item(
                TableName=self.table,
                Key={self.key_attribute: {"S": self.pk}},
                UpdateExpression="SET rotated = :k",
                ExpressionAttributeValues={":k": {"S": chosen[-1]}},
            )
        return chosen

    def count(self) -> int:
        return len(self._keys())
