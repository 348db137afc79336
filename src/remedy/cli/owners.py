"""``remedy owners sync``: make the owners' SNS email subscriptions match accounts.yaml."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from remedy.cli import failure, org_role
from remedy.notify import owners
from remedy.policy.organizations import OrganizationsUnavailable
from remedy.settings import Settings


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("owners", help="manage the account owners' email subscriptions")
    commands = parser.add_subparsers(dest="owners_command", metavar="COMMAND", required=True)
    sync = commands.add_parser(
        "sync",
        help="reconcile the owner topic's email subscriptions with accounts.yaml",
        description=(
            "Subscribe every owner address in accounts.yaml to the owner topic with a filter "
            "policy on account_id, update filters that differ, and unsubscribe addresses that "
            "are no longer owners. Safe to rerun: a second run changes nothing. Prints each "
            "account's owners and where they come from, then one line per change; exit 0, "
            "or 2 on a policy or AWS error."
        ),
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print the changes without making them"
    )
    sync.add_argument(
        "--policy",
        metavar="DIR",
        help="policy folder (default: $REMEDY_POLICY_DIR, else the policies/ shipped with remedy)",
    )
    sync.add_argument(
        "--topic-arn",
        metavar="ARN",
        help="the owner topic (default: $REMEDY_OWNER_TOPIC_ARN; the OwnerTopicArn output)",
    )
    org_role.add_argument(sync)
    sync.set_defaults(func=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    topic_arn = args.topic_arn or Settings.from_env().owner_topic_arn
    if not topic_arn:
        print(
            "remedy owners sync: no topic: pass --topic-arn or set REMEDY_OWNER_TOPIC_ARN",
            file=sys.stderr,
        )
        return 2
    policy = org_role.load(args)
    try:
        resolutions = owners.resolved(policy.accounts)
        region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None
        client = boto3.client("sns", region_name=region or None)
        changes = owners.sync(
            client,
            topic_arn,
            policy.accounts,
            dry_run=args.dry_run,
            infos={account_id: r.info for account_id, r in resolutions.items()},
        )
    except (owners.OwnersError, OrganizationsUnavailable) as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"remedy owners sync: {topic_arn}: {failure.describe(exc)}", file=sys.stderr)
        return 2
    for resolution in resolutions.values():
        info = resolution.info
        print(
            f"account {resolution.account_id} ({info.name}): owners {', '.join(info.owners)} "
            f"from {resolution.sources['owners']}"
        )
        for problem in resolution.problems:
            print(problem, file=sys.stderr)
    prefix = "would " if args.dry_run else ""
    for change in changes:
        print((prefix if change.kind != "pending" else "") + change.describe())
    made = sum(1 for c in changes if c.kind != "pending")
    verb = "would make" if args.dry_run else "made"
    print(f"owners sync: {verb} {made} change(s) on {topic_arn}", file=sys.stderr)
    return 0
