"""The ledger table's global secondary indexes, and the item attributes that feed them.

The operators' views (``remedy status``, ``remedy history``, ``remedy report``) must not
scan the table: with a million entries a scan reads a million items to list the ten that
wait for a person. Each view queries an index whose partition holds only its answer:

``attention`` (sparse)
    ``attention`` (S, hash) = why the entry needs a person: ``PENDING_APPROVAL`` (also a
    contained entry awaiting approval) or the outcome (LOCKED, DENIED, ARCHIVED, CHANGED,
    FAILED); ``attention_at`` (S, range) = when it started to. Written with the state and
    removed when the entry moves on, so the index holds only what a person must look at.
``account-time``
    ``account`` (S, hash), ``updated_at`` (S, range): one account's history.
``activity``
    ``activity_day`` (S, hash) = the UTC day of ``updated_at`` and a shard,
    ``YYYY-MM-DD#n``; ``updated_at`` (S, range): every account's history for a period.
    The shard (the key's CRC-32 modulo `ACTIVITY_SHARDS`) spreads a burst of findings on
    one day over several partitions, so the index never throttles the table's writes.

An entry with an event in ``[since, until]`` was last written at or after ``since``, so the
history views query ``updated_at >= since`` and keep the history items in range.
All indexes project every attribute: a view needs the entry's history, and reading it
back by key would double the reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from remedy.ledger.base import State
from remedy.ledger.vocabulary import AWAITING

ATTENTION_INDEX = "attention"
ACCOUNT_INDEX = "account-time"
ACTIVITY_INDEX = "activity"
ACTIVITY_SHARDS = 8

#: The value of ``attention`` for a question a person has yet to answer.
PENDING = State.PENDING_APPROVAL.value
#: Outcomes nothing will retry on its own, or retries that keep failing: a person decides.
NEEDS_PERSON: frozenset[State] = frozenset(
    {State.LOCKED, State.DENIED, State.ARCHIVED, State.CHANGED, State.FAILED}
)
#: Not a person's task, but listed apart by ``remedy status`` through the same index, so
#: reading them costs what the answer holds: what a dry run would have done.
DRY_RUN = State.DRY_RUN.value
#: Every ``attention`` value of a person's task, in the order ``remedy status`` lists them.
ATTENTION_VALUES: tuple[str, ...] = (PENDING, *sorted(s.value for s in NEEDS_PERSON))


def attention(state: State, attrs: Mapping[str, Any]) -> str | None:
    """Why an entry in `state`, written with `attrs`, needs a person (or, `DRY_RUN`, is
    listed apart); None if neither."""
    if state is State.PENDING_APPROVAL:
        return PENDING
    if state is State.QUARANTINED and attrs.get(AWAITING) is True:
        return PENDING
    if state in NEEDS_PERSON or state is State.DRY_RUN:
        return state.value
    return None


def activity_day(key: str, at: str) -> str:
    """The ``activity`` partition of an entry with `key` written at `at` (a ledger stamp)."""
    return f"{at[:10]}#{zlib.crc32(key.encode()) % ACTIVITY_SHARDS}"


def _index(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


#: ``CreateTable`` arguments for the key and the indexes, as template.yaml declares them
#: (tests/test_templates.py holds the two together); tests and benches create the table
#: from this.
TABLE_SCHEMA: Mapping[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "attention", "attention_at", "account", "updated_at", "activity_day")
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        _index(ATTENTION_INDEX, "attention", "attention_at"),
        _index(ACCOUNT_INDEX, "account", "updated_at"),
        _index(ACTIVITY_INDEX, "activity_day", "updated_at"),
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
