"""``remedy status [--json] [--prefix NAME]``: what waits for a person right now.

Pending approvals (oldest first), entries in an outcome a person must look at, the Slack
messages owed and the dead-letter queues' depths, read with the AWS credentials and
``REMEDY_*`` settings of the environment (the core account: the ledger table and the
queues). Exit 0 when nothing needs a person, 1 when something does (for a cron job or a
CI check), 2 when the ledger or the policy cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

LEDGER_SUFFIX = "-ledger"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="what waits for a person: approvals, failures, owed messages, DLQs",
        description=__doc__,
    )
    parser.add_argument("--json", action="store_true", help="one JSON document for scripts")
    parser.add_argument(
        "--prefix",
        help="the stack's Prefix parameter, naming the queues (default: the ledger table's "
        f"name without {LEDGER_SUFFIX!r})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from remedy.cli.failure import reading_ledger
    from remedy.ledger.dynamodb import utc_now
    from remedy.ledger.queries import LedgerQueries
    from remedy.notify.outbox import TICKET_OUTBOX_PK, SlackOutbox
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings
    from remedy.views.status import DEAD_LETTER_QUEUES, render, status
    from remedy.views.table import table

    settings = Settings.from_env()
    prefix = args.prefix or settings.ledger_table.removesuffix(LEDGER_SUFFIX)
    if prefix == settings.ledger_table:
        print(
            f"remedy status: the ledger table {settings.ledger_table!r} does not end in "
            f"{LEDGER_SUFFIX!r}, so the queues' names are unknown: pass --prefix (the stack's "
            "Prefix parameter)",
            file=sys.stderr,
        )
        return 2
    accounts = load_resolved_policy(settings).accounts
    dynamodb = boto3.client("dynamodb")
    with reading_ledger(settings.ledger_table):
        result = status(
            LedgerQueries(settings.ledger_table, dynamodb),
            SlackOutbox(dynamodb, settings.ledger_table),
            boto3.client("sqs"),
            accounts,
            [f"{prefix}-{name}" for name in DEAD_LETTER_QUEUES],
            utc_now(),
            SlackOutbox(dynamodb, settings.ledger_table, pk=TICKET_OUTBOX_PK),
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result, table))
    return 1 if result.needs_person else 0
