"""``remedy breaker status`` and ``remedy breaker close RULE|ACCOUNT|all --reason TEXT``.

The circuit breakers (`remedy.rails.breaker`) in the ledger table named by
``REMEDY_LEDGER_TABLE``, read with the environment's AWS credentials (the core account).
``status`` prints the open breakers, the last closing of each scope and what counts
against each scope's limit now (the last window, up to a sixth more), and exits 1 when
one is open (for a cron job or a CI check), 0 when none is. ``close`` closes every open
breaker the target names: a rule id (in every account), an account id (the account's and
its rules' there) or ``all`` (the overall one); the reason is recorded with who closed it
(``--by``, default ``$USER``). Exit 2 on any error, with one line saying what to do.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "breaker",
        help="the circuit breakers: which are open, and closing one",
        description=__doc__,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    status = verbs.add_parser("status", help="open breakers and the counts against their limits")
    status.add_argument("--json", action="store_true", help="one JSON document for scripts")
    status.set_defaults(func=run_status)
    close = verbs.add_parser("close", help="close the open breakers a rule or account names")
    close.add_argument("target", metavar="RULE|ACCOUNT|all")
    close.add_argument("--reason", required=True, help="why it is safe to act again (recorded)")
    close.add_argument("--by", help="who closes it (default: the login name)")
    close.set_defaults(func=run_close)


def _breaker() -> Any:
    import boto3

    from remedy.policy import load_policy
    from remedy.rails.breaker import Breaker
    from remedy.settings import Settings

    settings = Settings.from_env()
    limits = load_policy(settings.policy_dir).rails.breaker
    return Breaker(boto3.client("dynamodb"), settings.ledger_table, limits)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_status(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    breaker = _breaker()
    try:
        state = breaker.status()
    except (ClientError, BotoCoreError) as error:
        print(f"remedy breaker: ledger table {breaker.table}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(state.to_dict(), indent=2, sort_keys=True))
        return 1 if state.opened else 0
    if not state.opened:
        print("No breaker is open.")
    for opening in state.opened:
        until = f"until {_when(opening.until)}" if opening.until else "until a person closes it"
        print(f"OPEN {opening.scope} since {_when(opening.opened_at)}, {until}: {opening.reason}")
    for scope, closing in sorted(state.closed.items()):
        print(
            f"closed {scope} at {_when(float(closing['at']))} by {closing['by']}: "
            f"{closing['reason']}"
        )
    for scope, count in state.counts.items():
        print(f"counted: {count} automatic remediation(s) {scope}")
    return 1 if state.opened else 0


def run_close(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from remedy.rails.breaker import NotOpen

    if not args.reason.strip():
        print(
            "remedy breaker close: --reason is empty; say why it is safe to act again",
            file=sys.stderr,
        )
        return 2
    breaker = _breaker()
    try:
        closed = breaker.close(args.target, by=args.by or getpass.getuser(), reason=args.reason)
    except NotOpen as error:
        print(f"remedy breaker close: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"remedy breaker close: ledger table {breaker.table}: {error}", file=sys.stderr)
        return 2
    print(f"closed: {', '.join(closed)}" if closed else "already closed by someone else")
    return 0
