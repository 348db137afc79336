"""What remedy's containments of a GuardDuty threat share (`contain-principal`,
`isolate-instance`).

Both act at once and ask afterwards (``contain_first``), take the same policy option
(``break_glass``: principals a person, not remedy, must decide to lock out), and refuse
the same two findings before any call: a GuardDuty sample, and a resource whose ARN names
another account than the finding's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions.outcome import Outcome
from remedy.actions.reversible import ReversibleAction
from remedy.ledger.base import State
from remedy.model import Finding, Resource

BREAK_GLASS_SCHEMA: Mapping[str, Any] = {
    "description": (
        "Principals never contained (a person decides): role or user names, or ARNs, "
        "shell-style globs allowed."
    ),
    "type": "array",
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1},
}


class Containment(ReversibleAction):
    """A threat containment: acts at once, takes ``break_glass``, approval releases it."""

    contain_first = True
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"break_glass": BREAK_GLASS_SCHEMA},
    }


def refused_sample(finding: Finding) -> Outcome | None:
    """Generated sample findings name made-up resources (or real ones a member chose): a
    containment never acts on one, whatever a rule says."""
    if finding.sample:
        return Outcome(State.GONE, "left alone: a sample finding (generated, not a real threat)")
    return None


def arn_account(arn: str) -> str | None:
    """The account of an ARN, or None when `arn` is not one."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


def foreign(finding: Finding, resource: Resource) -> Outcome | None:
    """Refuse a resource whose ARN names another account than the finding's: remedy acts
    only in the account the finding is about, never where a member says."""
    account = arn_account(resource.id)
    # An empty account field (an S3 ARN) names no other account.
    if not account or account == finding.account:
        return None
    return Outcome(
        State.FAILED,
        f"refused: {resource.id} is in account {account}, not {finding.account} where the "
        "finding is; nothing changed",
    )
