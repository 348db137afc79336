"""The ledger: one entry per finding key, moved through its states by conditional writes.

``base`` is the state machine and the store interface; ``dynamodb`` the store the Lambda
functions use. Import what you need from here. The DynamoDB store is loaded on first use,
so code that only reads entries (the notifiers' rendering) does not pay for boto3.
"""

from typing import Any

from remedy.ledger.base import (
    OUTCOMES,
    RETRYABLE,
    TRANSITIONS,
    Conflict,
    Entry,
    HistoryItem,
    IllegalTransition,
    LedgerStore,
    State,
    is_terminal,
)

__all__ = [
    "OUTCOMES",
    "RETRYABLE",
    "TRANSITIONS",
    "Conflict",
    "DynamoDBLedgerStore",
    "Entry",
    "HistoryItem",
    "IllegalTransition",
    "LedgerStore",
    "State",
    "is_terminal",
]


def __getattr__(name: str) -> Any:
    if name == "DynamoDBLedgerStore":
        from remedy.ledger.dynamodb import DynamoDBLedgerStore

        return DynamoDBLedgerStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
