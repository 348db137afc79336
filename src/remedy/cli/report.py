"""``remedy report --html FILE [--since T] [--until T]``: a period at a glance, as one page.

Findings per day by decision, outcomes by account and by finding type, time to remediate
and time approvals waited (p50, p90), the top accounts and resources: one self-contained
HTML file (charts inline, nothing fetched) to open in any browser or attach to a mail.
``--since``/``--until`` take an ISO 8601 date or time (UTC unless it says otherwise);
default: the last 30 days. Reads the ledger through its ``activity`` index with the AWS
credentials and ``REMEDY_*`` settings of the environment (the core account). Exit 0, or
2 with a one-line message when an argument, the ledger or FILE cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PROG = "remedy report"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="a period's findings, outcomes and times as one HTML page with charts",
        description=__doc__,
    )
    parser.add_argument(
        "--html", type=Path, required=True, metavar="FILE", help="write the page to FILE"
    )
    # Parsed in `run`, so a bad one is one line of error rather than argparse's usage.
    parser.add_argument("--since", help="from this date or time (default: 30 days ago)")
    parser.add_argument("--until", help="up to this date or time (default: now)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from remedy.cli.failure import reading_ledger
    from remedy.cli.history import moment
    from remedy.errors import RemedyError
    from remedy.ledger.dynamodb import utc_now
    from remedy.ledger.queries import LedgerQueries
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings
    from remedy.views.report import DEFAULT_PERIOD, BadPeriod, Period, read
    from remedy.views.report_html import page

    now = utc_now()
    given = {}
    for flag in ("since", "until"):
        text = getattr(args, flag)
        try:
            given[flag] = moment(text) if text else None
        except argparse.ArgumentTypeError as error:
            print(f"{PROG}: --{flag}: {error}", file=sys.stderr)
            return 2
    until = given["until"] or now
    try:
        period = Period(given["since"] or until - DEFAULT_PERIOD, until)
    except BadPeriod as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    accounts = load_resolved_policy(settings).accounts
    queries = LedgerQueries(settings.ledger_table, boto3.client("dynamodb"), clock=lambda: now)
    with reading_ledger(settings.ledger_table):
        report = read(queries, accounts, period)
    try:
        text = page(report, generated=now)
        args.html.write_text(text, encoding="utf-8")
    except RemedyError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROG}: cannot write {args.html}: {error.strerror}", file=sys.stderr)
        return 2
    print(
        f"report of {report.findings} findings from {period.since.isoformat()} to "
        f"{period.until.isoformat()} written to {args.html}"
    )
    return 0
