"""Security Hub's workflow status follows the ledger (BatchUpdateFindings; for the new
Security Hub's OCSF findings BatchUpdateFindingsV2, with the same statuses as OCSF status
ids and the note as the comment).

- approval requested, or owners notified -> NOTIFIED
- quarantined (note: where the object went), or already gone -> RESOLVED
- dismissed in Slack, or released as a false positive -> SUPPRESSED

Only findings that came from Security Hub carry what the API needs (``product_arn`` and
``id`` in the finding snapshot); others are left alone. Every update makes Security Hub
emit another ``Findings - Imported`` event; the rules forward only ``Workflow.Status``
NEW (OCSF: ``status_id`` 1), and no update here sets NEW, so remedy's own updates never
come back as work. For
the same reason outcomes that will be retried (FAILED, DENIED, ...) are not written: a
note alone would re-emit the finding still NEW and start the loop.

The call is made with the core account's credentials in the finding's region: the core
account is the Security Hub administrator (``aggregators`` in accounts.yaml), which may
update its members' findings. Both APIs are allowed by the one IAM action
``securityhub:BatchUpdateFindings`` (AWS's API reference of BatchUpdateFindingsV2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remedy.errors import RemedyError
from remedy.ledger.base import Entry, State
from remedy.ledger.vocabulary import decider_name, is_marked
from remedy.normalise.ocsf import OCSF
from remedy.notify.facts import destination, resource_label, state_note

UPDATED_BY = "remedy"
MAX_NOTE = 512
#: The OCSF ``status_id`` of each workflow status (In Progress, Resolved, Suppressed).
STATUS_IDS: Mapping[str, int] = {"NOTIFIED": 2, "RESOLVED": 4, "SUPPRESSED": 3}


class FeedbackError(RemedyError):
    """Security Hub refused to update a finding."""


@dataclass(frozen=True, slots=True)
class Feedback:
    status: str
    note: str


WORKFLOW: Mapping[State, str] = {
    State.PENDING_APPROVAL: "NOTIFIED",
    State.NOTIFIED: "NOTIFIED",
    State.QUARANTINED: "RESOLVED",
    State.GONE: "RESOLVED",
    State.DISMISSED: "SUPPRESSED",
    State.RELEASED: "SUPPRESSED",
}


def _who(entry: Entry) -> str:
    decided = entry.attrs.get("decided_by") or {}
    if decided.get("id"):
        return decider_name(decided)
    return entry.history[-1].by if entry.history else UPDATED_BY


def feedback_for(entry: Entry) -> Feedback | None:
    """The workflow status and note for `entry`'s state, or None to leave Security Hub be."""
    status = WORKFLOW.get(entry.state)
    # An approval its source closed: the source's workflow (SUPPRESSED) stays.
    if status is None or is_marked(entry):
        return None
    rule = entry.decision.get("rule", "")
    if entry.state is State.PENDING_APPROVAL:
        note = f"remedy: quarantine awaits approval in Slack (rule {rule})"
    elif entry.state is State.NOTIFIED:
        note = f"remedy: account owners notified (rule {rule})"
    elif entry.state is State.QUARANTINED:
        where = destination(entry.attrs)
        place = (
            resource_label({**where, "kind": "s3-object"})
            if where is not None
            else "the account's quarantine bucket"
        )
        note = f"remedy: object moved to {place} (rule {rule})"
        said = state_note(entry)
        if said:
            note += f"; {said}"
    elif entry.state is State.GONE:
        note = "remedy: the object was already deleted; nothing to quarantine"
    elif entry.state is State.DISMISSED:
        note = f"remedy: dismissed by {_who(entry)}"
    else:
        note = f"remedy: released as a false positive by {_who(entry)}; object put back"
    if len(note) > MAX_NOTE:
        note = note[: MAX_NOTE - 1] + "…"
    return Feedback(status, note)


class SecurityHubFeedback:
    """A `remedy.notify.base.Notifier` writing the workflow status back to Security Hub."""

    def __init__(self, client_for: Callable[[str], Any]) -> None:
        self._client_for = client_for
        self._clients: dict[str, Any] = {}

    def _client(self, region: str) -> Any:
        if region not in self._clients:
            self._clients[region] = self._client_for(region)
        return self._clients[region]

    def on_change(self, entry: Entry) -> None:
        finding = entry.finding
        product_arn, finding_id = finding.get("product_arn"), finding.get("id")
        if finding.get("source") != "securityhub" or not product_arn or not finding_id:
            return
        feedback = feedback_for(entry)
        if feedback is None:
            return
        if (finding.get("parameters") or {}).get("format") == OCSF:
            self._update_ocsf(entry, finding_id, product_arn, feedback)
            return
        response = self._client(entry.region).batch_update_findings(
            FindingIdentifiers=[{"Id": finding_id, "ProductArn": product_arn}],
            Workflow={"Status": feedback.status},
            Note={"Text": feedback.note, "UpdatedBy": UPDATED_BY},
        )
        _check(response, f"finding {finding_id}", feedback, "administrator", entry.region)

    def _update_ocsf(
        self, entry: Entry, finding_id: str, product_uid: str, feedback: Feedback
    ) -> None:
        identifier = {
            "CloudAccountUid": entry.finding["account"],
            "FindingInfoUid": finding_id,
            "MetadataProductUid": product_uid,
        }
        response = self._client(entry.region).batch_update_findings_v2(
            FindingIdentifiers=[identifier],
            StatusId=STATUS_IDS[feedback.status],
            Comment=feedback.note,
        )
        check = f"OCSF finding {finding_id}"
        _check(response, check, feedback, "delegated administrator", entry.region)


def _check(response: Any, what: str, feedback: Feedback, admin: str, region: str) -> None:
    """`FeedbackError` naming the finding and Security Hub's reason if it was not updated."""
    unprocessed = response.get("UnprocessedFindings") or []
    if unprocessed:
        error = unprocessed[0]
        raise FeedbackError(
            f"Security Hub did not update {what} to {feedback.status}: "
            f"{error.get('ErrorCode')}: {error.get('ErrorMessage')} (is the core account "
            f"the Security Hub {admin} in {region}?)"
        )
