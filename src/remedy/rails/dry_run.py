"""A dry run: what remedy would have done with a finding, recorded and not done.

The plan names the remediation and its options, what it would have done (act now,
contain then ask, or ask first), the resources it would have acted on and the calls it
would have made there: the IAM actions its remediation declares
(`remedy.actions.registry`), which are exactly the calls it may make in the member
account (member-account-template.yaml grants no others). Nothing is called: the plan is
built from the finding and the registry alone.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.registry import RemediationAction
from remedy.actions.reversible import ReversibleAction
from remedy.model import Action, Decision, Finding, ResourceKind

#: ``attrs`` of a dry-run entry: the plan.
PLAN = "dry_run"


def plan(finding: Finding, decision: Decision, action: RemediationAction | None) -> dict[str, Any]:
    kinds = frozenset(map(ResourceKind, action.resource_kinds)) if action else frozenset()
    contain_first = isinstance(action, ReversibleAction) and action.contain_first
    if decision.action is Action.QUARANTINE:
        would = "act at once"
    elif contain_first:
        would = "contain at once, then ask the approvers"
    else:
        would = "ask the approvers, then act"
    return {
        "action": decision.action.value,
        "remediation": decision.remediation,
        "options": dict(decision.options),
        "would": would,
        "resources": [r.id for r in finding.resources if not kinds or r.kind in kinds],
        "calls": sorted(action.permissions) if action else [],
    }
