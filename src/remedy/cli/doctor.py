"""``remedy doctor``: read-only checks of a deployed remedy, one PASS or FAIL line each.

The core stack's outputs and functions, the bus policy, the Slack secret and token, the
owners' topic, each ticket system the core stack names a site for (the site, its secret,
the credentials, each Jira project or ServiceNow group accounts.yaml names), then for
each member account and region (``--account``/``--region``, by
default the accounts of accounts.yaml and the current region; ``--sample N`` checks N of
them): the StackSet instance, the remediation role assumed with REMEDY_EXTERNAL_ID, the
quarantine bucket present and private. Run with the core account's credentials (the
StackSet is read with them too, unless ``--stack-set-profile`` names the management
account's). Exit 0 when every check passes, 1 when one fails (each FAIL line says what
to do), 2 when the checks cannot run (no credentials, no core stack).
"""

from __future__ import annotations

import argparse
import os
import random
from typing import Any

from remedy.cli.parser import account_id


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check a deployed remedy, read-only: one PASS or FAIL line each, with what to do",
        description=__doc__,
    )
    parser.add_argument(
        "--stack", default="remedy-core", help="the core stack (default: %(default)s)"
    )
    parser.add_argument(
        "--account",
        action="append",
        type=account_id,
        metavar="ACCOUNT",
        help="a member account to check (repeatable)",
    )
    parser.add_argument(
        "--region", action="append", metavar="REGION", help="a member region to check (repeatable)"
    )
    parser.add_argument(
        "--sample", type=int, metavar="N", help="check only N of the accounts, picked at random"
    )
    parser.add_argument(
        "--stack-set", default="remedy-member", help="the members' StackSet (default: %(default)s)"
    )
    parser.add_argument(
        "--stack-set-profile", metavar="PROFILE", help="AWS profile to read the StackSet with"
    )
    parser.add_argument(
        "--policy",
        metavar="DIR",
        help="policy folder whose accounts.yaml lists the members (default: $REMEDY_POLICY_DIR, "
        "else the policies/ shipped with remedy)",
    )
    parser.set_defaults(func=run)


def slack_auth(token: str) -> dict[str, Any]:
    """Slack's answer to auth.test for `token` (REMEDY_SLACK_API_URL for a local server)."""
    from slack_sdk.errors import SlackApiError

    from remedy.notify.composite import SLACK_API_ENV
    from remedy.notify.slack import SLACK_API, web_client

    try:
        data = web_client(token, base_url=os.environ.get(SLACK_API_ENV, SLACK_API)).auth_test().data
    except SlackApiError as error:
        data = error.response.data
    except OSError as error:
        return {"ok": False, "error": f"unreachable ({error})"}
    return dict(data) if isinstance(data, dict) else {"ok": False, "error": "not JSON"}


def run(args: argparse.Namespace) -> int:
    import boto3

    from remedy.cli.parser import fail
    from remedy.doctor import Target, diagnose
    from remedy.policy import load_policy
    from remedy.settings import Settings
    from remedy.tickets import backends

    settings = Settings.from_env()
    session = boto3.Session()
    policy = load_policy(args.policy).accounts
    accounts = args.account or sorted(policy.by_id)
    if args.sample is not None:
        if args.sample < 1:
            return fail(
                "remedy doctor", f"--sample {args.sample}: give a number of accounts, 1 or more"
            )
        accounts = sorted(random.sample(accounts, min(args.sample, len(accounts))))
    regions = args.region or [session.region_name]
    target = Target(
        stack=args.stack,
        accounts=accounts,
        regions=[r for r in regions if r],
        external_id=settings.external_id,
        stack_set=args.stack_set,
        partition=settings.partition,
        ticket_targets={
            name: policy.ticket_targets(name, backend.target_field)
            for name, backend in backends().items()
        },
    )
    stack_sets = (
        boto3.Session(profile_name=args.stack_set_profile) if args.stack_set_profile else None
    )
    failed = 0
    for check in diagnose(session, target, slack_auth, stack_sets=stack_sets):
        print(check.line(), flush=True)
        failed += not check.ok
    return 1 if failed else 0
