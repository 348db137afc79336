"""A pending approval whose finding its source closed while it waited.

An owner may close a finding at its source while remedy waits for an approval: a Macie
suppression rule archives it (``RecordState`` ARCHIVED), or a person sets its Security Hub
workflow to SUPPRESSED, both saying the finding is accepted. remedy must not then act on
it by itself: ``on_timeout: quarantine`` would move what the owners accepted, and
``keep-waiting`` would go on reminding about a closed finding.

So the first trusted update that says so marks the pending approval (``attrs`` `CLOSED_AT_SOURCE`:
why, when the source said it, which finding) with one conditional write and a history
note, which the approval's Slack message then shows. A marked approval is never reminded
and never decided by remedy (`remedy.approvals.deadlines`), the owners get no email about
it and Security Hub's workflow is left as the source set it (`is_marked`, in
`remedy.ledger.vocabulary` where the notifiers read it); a person may still decide it.
An untrusted copy (a member forwarding another account's finding) is rejected before it
gets here, so it marks nothing.
"""

from __future__ import annotations

import logging

from remedy.ledger.base import Conflict, Entry, LedgerStore
from remedy.ledger.vocabulary import (
    AWAITING,
    CLOSED_AT_SOURCE,
    SYSTEM_ACTOR,
    awaiting_decision,
)
from remedy.model import Finding
from remedy.normalise.keys import same_bytes
from remedy.occurrences import identity, identity_of

log = logging.getLogger(__name__)


def why_closed(finding: Finding) -> str | None:
    """What in the finding says its source closed it, or None."""
    if finding.record_state == "ARCHIVED":
        return "RecordState ARCHIVED"
    if finding.workflow_status == "SUPPRESSED":
        return "Workflow SUPPRESSED"
    return None


def mark(store: LedgerStore, entry: Entry, finding: Finding, at: str) -> Entry | None:
    """Mark `entry` closed at the source if it waits for approval and `finding` (trusted)
    says so; the marked entry, or None when there is nothing (new) to mark."""
    why = why_closed(finding)
    if why is None or not awaiting_decision(entry) or entry.attrs.get(CLOSED_AT_SOURCE):
        return None
    seen, asked = identity(finding), identity_of(entry)
    if seen is not None and asked is not None and not same_bytes(seen, asked):
        return None  # about other bytes at the key: not the finding this approval asks about
    said = finding.updated_at or at
    note = (
        f"closed at the source ({why}): the finding was closed at {said} while waiting for "
        "approval; no more reminders, and remedy will not decide it on its own (a person "
        "still may)"
    )
    try:
        return store.annotate(
            entry.key,
            entry.state,
            (CLOSED_AT_SOURCE, None),
            {CLOSED_AT_SOURCE: {"why": why, "at": said, "finding_id": finding.id}},
            by=SYSTEM_ACTOR,
            note=note,
            # A contained entry stays QUARANTINED when decided: still undecided, too.
            also=[(AWAITING, True)] if entry.attrs.get(AWAITING) else [],
        )
    except Conflict as lost:
        # Marked by another delivery, or decided meanwhile: nothing more to say.
        log.info("%s not marked closed at the source: %s", entry.key, lost)
        return None
