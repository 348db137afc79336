"""``remedy history``: the audit trail of decisions and state changes, who, when, how, why.

Filters: ``--account ID``, ``--since``/``--until`` (ISO 8601 date or time, UTC when no
offset is given; by default the last 7 days, or all of one entry's history with
``--key``), ``--state`` (the state a step went to), ``--by`` (a ``by`` such as
``slack:U123``, ``email-link`` or an ARN, or a way: slack, email, cli, system) and
``--key``. Prints a table, ``--json`` or ``--csv`` (for a spreadsheet). Reads the ledger
through its indexes with the AWS credentials and ``REMEDY_*`` settings of the
environment. Exit 0, or 2 with a message when an argument or the ledger cannot be read, or
``--key`` names no ledger entry.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_PERIOD = timedelta(days=7)


def moment(text: str) -> datetime:
    """An ISO 8601 date or time; UTC unless it says otherwise."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_parser(subparsers: Any) -> None:
    from remedy.cli.parser import account_id
    from remedy.ledger.base import State

    parser = subparsers.add_parser(
        "history", help="the audit trail: who did what, when, how and why", description=__doc__
    )
    parser.add_argument("--account", type=account_id, help="only this account id (12 digits)")
    parser.add_argument("--since", type=moment, help="from this date or time (default: 7 days ago)")
    parser.add_argument("--until", type=moment, help="up to this date or time (default: now)")
    parser.add_argument(
        "--state", choices=[s.value for s in State], help="only steps into this state"
    )
    parser.add_argument("--by", help="only steps by this actor, or made this way")
    parser.add_argument("--key", help="only this ledger entry (remedy explain prints its key)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON list of steps")
    output.add_argument("--csv", action="store_true", help="CSV with a header row")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from remedy.cli.failure import reading_ledger
    from remedy.ledger.dynamodb import DynamoDBLedgerStore, utc_now
    from remedy.ledger.queries import LedgerQueries
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings
    from remedy.views.history import COLUMNS, Filters, as_csv, as_dicts, as_rows, steps
    from remedy.views.table import table

    settings = Settings.from_env()
    now = utc_now()
    since = args.since or (None if args.key else now - DEFAULT_PERIOD)
    filters = Filters(since=since, until=args.until, state=args.state, by=args.by)
    if since is not None and args.until is not None and since > args.until:
        print(f"remedy history: --since {since} is after --until {args.until}", file=sys.stderr)
        return 2
    accounts = load_resolved_policy(settings).accounts
    dynamodb = boto3.client("dynamodb")
    with reading_ledger(settings.ledger_table):
        if args.key:
            entry = DynamoDBLedgerStore(settings.ledger_table, dynamodb).get(args.key)
            if entry is None:
                print(f"remedy history: no ledger entry {args.key!r}", file=sys.stderr)
                return 2
            entries = [entry]
            if args.account and entry.account != args.account:
                entries = []
        else:
            queries = LedgerQueries(settings.ledger_table, dynamodb, clock=lambda: now)
            entries = list(queries.touched(since or now, args.account))
        found = steps(entries, accounts, filters)
    if args.json:
        print(json.dumps(as_dicts(found), indent=2))
    elif args.csv:
        sys.stdout.write(as_csv(found))
    else:
        print(table(COLUMNS, list(as_rows(found))))
    return 0
