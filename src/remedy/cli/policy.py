"""``remedy policy validate [DIR]``: check a policy folder as the handler will at cold start."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from remedy.policy import load_policy
from remedy.policy_files import ACCOUNTS_FILE, ALLOWLIST_FILE, REMEDIATION_FILE, RESTRICTED_FILE

_FILES = f"{REMEDIATION_FILE}, {ACCOUNTS_FILE}, {RESTRICTED_FILE} and {ALLOWLIST_FILE}"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="work with the remediation policy")
    commands = parser.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    validate = commands.add_parser(
        "validate",
        help="check the policy folder's files against their schemas",
        description=(
            f"Check {_FILES} in DIR against the schemas remedy ships, exactly as the handler "
            "does at cold start. Exit 0 if the policy loads; else exit 2 with one "
            "'file:path: message' line per problem (of every file) on stderr."
        ),
    )
    validate.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        help="policy folder (default: $REMEDY_POLICY_DIR, else the policies/ shipped with remedy)",
    )
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    policy = load_policy(args.directory)
    print(
        f"policy OK: {policy.directory} ({len(policy.rules.rules)} rules, "
        f"{len(policy.accounts.by_id)} accounts, {len(policy.aggregators)} aggregators)",
        file=sys.stderr,
    )
    return 0
