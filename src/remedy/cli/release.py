"""``remedy release KEY [--by NAME] [--reason TEXT]``: put a quarantined object back (a
false positive). An object GuardDuty found malware in is released only with ``--reason``,
which the ledger keeps.

Runs with the AWS credentials of the environment (the core account: the ledger table
and sts:AssumeRole on the member remediation roles) and the same settings as the
functions (``REMEDY_*`` environment variables). Prints one JSON document; exit 0 when
released, 2 when the entry cannot be released (refused or denied; the ledger is
unchanged) or on any other AWS or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "release",
        help="put a quarantined object back where it was (false positive)",
        description=__doc__,
    )
    parser.add_argument("key", help="the ledger key of the finding (remedy explain prints it)")
    parser.add_argument(
        "--by", help="who releases it, recorded in the ledger (default: your AWS identity)"
    )
    parser.add_argument(
        "--reason",
        default="",
        help="why it is released, recorded in the ledger history (required for malware)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from remedy.actions import build
    from remedy.actions.reversible import ActionFailed
    from remedy.actions.session import AccountSessions
    from remedy.approvals.release import release
    from remedy.cli.failure import describe
    from remedy.errors import RemedyError
    from remedy.ledger.base import Conflict
    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.notify.base import Announcer
    from remedy.notify.composite import build_notifier
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings

    try:
        settings = Settings.from_env()
        caller = boto3.client("sts").get_caller_identity()["Arn"]
        store = DynamoDBLedgerStore.from_settings(settings)
        notifier = build_notifier(settings, load_resolved_policy(settings).accounts, store)
        entry = release(
            args.key,
            by=args.by or caller,
            caller=caller,
            reason=args.reason,
            store=store,
            actions=build(AccountSessions(settings), settings),
            announce=Announcer((notifier,)),
        )
        notifier.flush()
    except (ActionFailed, Conflict) as error:
        print(f"remedy release: {args.key}: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, RemedyError) as error:
        print(f"remedy release: {args.key}: {describe(error)}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {"key": entry.key, "state": entry.state.value, "release": entry.attrs.get("release")},
            indent=2,
            default=str,
        )
    )
    return 0
