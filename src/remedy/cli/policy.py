"""``remedy policy validate [DIR]``: check a policy folder as the handler will at cold start."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from remedy.cli import policy_live
from remedy.policy import load_policy
from remedy.policy.examples import examples_in
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
            "'file:path: message' line per problem (of every file) on stderr. Account ids "
            f"remedy ships as examples left in {ACCOUNTS_FILE} are warnings, or with "
            "--for-deploy problems (exit 2)."
        ),
    )
    validate.add_argument(
        "--for-deploy",
        action="store_true",
        help=f"refuse example account ids in {ACCOUNTS_FILE} (sam build and make deploy-core)",
    )
    validate.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        help="policy folder (default: $REMEDY_POLICY_DIR, else the policies/ shipped with remedy)",
    )
    validate.set_defaults(func=run_validate, local=True)
    policy_live.add_commands(commands)


def run_validate(args: argparse.Namespace) -> int:
    policy = load_policy(args.directory)
    accounts_file = policy.directory / ACCOUNTS_FILE
    examples = examples_in(policy.directory)
    if examples and args.for_deploy:
        for line in examples:
            print(line, file=sys.stderr)
        print(
            f"not deployable: {accounts_file} still names the example accounts remedy ships "
            "(see docs/trust.md)",
            file=sys.stderr,
        )
        return 2
    if examples:
        print(
            f"warning: {accounts_file} names {len(examples)} example account ids remedy ships: "
            "fine for explain and the demo; --for-deploy lists and refuses them",
            file=sys.stderr,
        )
    print(
        f"policy OK: {policy.directory} ({len(policy.rules.rules)} rules, "
        f"{len(policy.accounts.by_id)} accounts, {len(policy.aggregators)} aggregators)",
        file=sys.stderr,
    )
    return 0
