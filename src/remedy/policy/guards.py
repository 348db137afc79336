"""Findings remedy ignores before any rule, whatever the policy says.

Each guard answers "is there anything to do at all?": a failed API call changed nothing,
an archived or passing Security Hub finding needs no fix, and a Security Hub update that
is not NEW is (often our own) follow-up of a finding already handled; acting on it again
would loop. A custom action is exempt from the workflow guard: a person sent it on purpose.
A GuardDuty sample finding (generated to test alerting) names made-up resources: it is
told, never acted on.
"""

from __future__ import annotations

from remedy.model import Action, Decision, Finding, Severity

FAILED_CALL = "builtin:failed-call"
ARCHIVED = "builtin:archived"
PASSED = "builtin:passed"
NOT_NEW = "builtin:workflow-status"
BELOW_MINIMUM = "builtin:min-severity"
SAMPLE = "builtin:sample"


def check(finding: Finding, min_severity: Severity) -> Decision | None:
    """An ``ignore`` (or, for a sample, ``notify``) decision if a guard applies, else None
    (the rules decide)."""
    if finding.error_code is not None:
        return Decision(
            Action.IGNORE, FAILED_CALL, f"the call failed ({finding.error_code}); nothing changed"
        )
    if finding.record_state == "ARCHIVED":
        return Decision(Action.IGNORE, ARCHIVED, "the finding is ARCHIVED")
    if finding.compliance_status == "PASSED":
        return Decision(Action.IGNORE, PASSED, "the compliance check PASSED; nothing to fix")
    if (
        finding.workflow_status is not None
        and finding.workflow_status != "NEW"
        and finding.action_name is None
    ):
        return Decision(
            Action.IGNORE,
            NOT_NEW,
            f"workflow status is {finding.workflow_status}, not NEW: "
            "an update of a finding already handled",
        )
    if finding.product == "GuardDuty" and finding.parameters.get("sample") is True:
        return Decision(
            Action.NOTIFY,
            SAMPLE,
            "a GuardDuty sample finding (generated to test alerting): told, never acted on",
        )
    if finding.severity < min_severity:
        return Decision(
            Action.IGNORE,
            BELOW_MINIMUM,
            f"severity {finding.severity.name} is below the minimum {min_severity.name}",
        )
    return None
