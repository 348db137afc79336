"""What ``remedy status`` and ``remedy history`` read, as the ledger grows.

For each table size (default 1,000, 10,000 and 30,000 entries, on moto in one run) the
same answer is planted: 30 entries that need a person (20 pending approvals, 10 FAILED)
and 50 entries written in the last day; every other entry is an old, finished one
(NOTIFIED, written 30 to 400 days ago). Every entry is written by the ledger store
itself (`DynamoDBLedgerStore.create` / ``transition``), so the index keys are the ones
production writes. Then, side by side:

  status:  the ``attention`` index (`LedgerQueries.attention`);
  history: ``touched`` since a day ago (the ``activity`` index), all accounts;
  scan:    what a scan for the same status answer examines (the table).

It prints the items DynamoDB examined (``ScannedCount``, what a read is billed by) and
the requests each made. The claim: status and history examine the answer, whatever the
table's size; a scan examines the table.

    .venv/bin/python bench/ledger_views.py [--sizes 1000 10000 30000]
"""

from __future__ import annotations

import argparse
import platform
import time
import zlib
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from remedy.ledger.base import Entry, HistoryItem, State, stamp
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.ledger.queries import LedgerQueries

REGION = "eu-west-1"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PENDING, FAILED, RECENT = 20, 10, 50
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")


def _entry(key: str, state: State, at: datetime) -> Entry:
    when = stamp(at)
    return Entry(
        key=key,
        state=state,
        account=ACCOUNTS[zlib.crc32(key.encode()) % len(ACCOUNTS)],
        region=REGION,
        finding={"type": "SensitiveData:S3Object/Financial", "severity": "HIGH"},
        decision={"action": "notify", "rule": "bench", "reason": "bench"},
        created_at=when,
        updated_at=when,
        history=(HistoryItem(when, "remedy", "RECEIVED", state.value, "bench"),),
    )


def fill(client: object, table: str, size: int) -> None:
    def store(at: datetime) -> DynamoDBLedgerStore:
        return DynamoDBLedgerStore(table, client, clock=lambda: at)

    planted = PENDING + FAILED + RECENT
    for i in range(size - planted):
        at = NOW - timedelta(days=30 + i % 370, seconds=i)
        store(at).create(_entry(f"old-{i}", State.NOTIFIED, at))
    for i in range(PENDING):
        at = NOW - timedelta(hours=30 + i)
        store(at).create(_entry(f"pending-{i}", State.PENDING_APPROVAL, at))
    for i in range(FAILED):
        at = NOW - timedelta(hours=40 + i)
        store(at).create(_entry(f"failed-{i}", State.QUARANTINING, at))
        store(at).transition(f"failed-{i}", [State.QUARANTINING], State.FAILED, by="remedy")
    for i in range(RECENT):
        at = NOW - timedelta(minutes=10 + i)
        store(at).create(_entry(f"recent-{i}", State.NOTIFIED, at))


def scanned(client: object, table: str) -> tuple[int, int]:
    items = requests = 0
    kwargs = {
        "TableName": table,
        "FilterExpression": "#s IN (:p, :f)",
        "ExpressionAttributeNames": {"#s": "state"},
        "ExpressionAttributeValues": {":p": {"S": "PENDING_APPROVAL"}, ":f": {"S": "FAILED"}},
    }
    while True:
        page = client.scan(**kwargs)  # type: ignore[attr-defined]
        items += page["ScannedCount"]
        requests += 1
        if "LastEvaluatedKey" not in page:
            return items, requests
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 30000])
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, moto in-process")
    print("examined = items DynamoDB read (ScannedCount); found = entries in the answer")
    print(
        f"{'entries':>8} | {'status examined':>15} {'requests':>8} {'found':>5} | "
        f"{'history examined':>16} {'requests':>8} {'found':>5} | "
        f"{'scan examined':>13} {'requests':>8}"
    )
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for size in args.sizes:
            table = f"ledger-{size}"
            client.create_table(TableName=table, **TABLE_SCHEMA)
            started = time.perf_counter()
            fill(client, table, size)
            filled = time.perf_counter() - started
            status = LedgerQueries(table, client, clock=lambda: NOW)
            found = sum(1 for _ in status.attention())
            history = LedgerQueries(table, client, clock=lambda: NOW)
            touched = sum(1 for _ in history.touched(NOW - timedelta(days=1)))
            scan_items, scan_requests = scanned(client, table)
            print(
                f"{size:>8} | {status.reads.items:>15} {status.reads.requests:>8} {found:>5} | "
                f"{history.reads.items:>16} {history.reads.requests:>8} {touched:>5} | "
                f"{scan_items:>13} {scan_requests:>8}   (table filled in {filled:.0f} s)"
            )
            client.delete_table(TableName=table)


if __name__ == "__main__":
    main()
