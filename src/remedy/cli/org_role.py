"""``--org-role ARN``: the commands that show what accounts resolve to read AWS
Organizations through the same role the functions assume (the core stack's
OrganizationsRoleArn), or accounts.yaml alone without one."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from remedy.policy import Policy, load_policy
from remedy.policy.organizations import attach
from remedy.settings import Settings


def add_argument(parser: Any) -> None:
    parser.add_argument(
        "--org-role",
        metavar="ARN",
        help=(
            "read accounts' organizational units and tags from AWS Organizations through "
            "this role (default: $REMEDY_ORG_ROLE_ARN; none: accounts.yaml alone)"
        ),
    )


def load(args: argparse.Namespace) -> Policy:
    """The policy in ``--policy``, resolving accounts through ``--org-role`` if given."""
    settings = Settings.from_env()
    if args.org_role is not None:
        settings = replace(settings, org_role_arn=args.org_role)
    return attach(load_policy(args.policy), settings)
