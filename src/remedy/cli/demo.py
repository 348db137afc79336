"""``remedy demo [--keep-running] [--report PATH]``: the whole system on a local AWS.

moto's server and a local Slack Web API on 127.0.0.1, the templates deployed into a core
and three member accounts, findings emitted, routed, decided, quarantined, approved in
Slack and notified; then a table, the counts, and the claims checked by reading the
buckets back. Exit status 0 when every claim holds, 1 otherwise. moto is a dev
dependency: it is imported only here, when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from remedy.errors import RemedyError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole system on a local AWS (moto) and a local Slack, then check it",
        description=(
            "Deploy the templates into a local AWS (moto's server on 127.0.0.1) with a core "
            "and three member accounts, emit findings about sample objects, run them "
            "through remedy's Lambda entry points, approve one from Slack, and check every "
            "claim by reading the buckets back. Exit status 1 if a claim is false."
        ),
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="also write the results as JSON to PATH, and the HTML report (remedy report) "
        "beside it, PATH with .html for its suffix",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the local AWS and Slack up afterwards, with commands to look around (Ctrl-C)",
    )
    parser.set_defaults(func=run, local=True)


def run(args: argparse.Namespace) -> int:
    from remedy.demo.run import run as run_demo

    try:
        return run_demo(sys.stdout, report_path=args.report, keep_running=args.keep_running)
    except RemedyError as error:
        print(f"remedy demo: {error}", file=sys.stderr)
        return 2
