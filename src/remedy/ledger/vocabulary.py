"""The words ledger entries are written in besides their `State`: who acted (``by``), and
the attributes of a question a contained entry asks without leaving its state.

Every layer reads these (the pipeline writes them, the approvals set and clear them, the
notifiers and the operators' views show them), so they live here, beside the state
machine, and each layer imports them downward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.ledger.base import Entry, State

#: The decider id and ledger ``by`` of decisions made from an owners' email link.
EMAIL_ACTOR = "email-link"
#: The decider id and ledger ``by`` of remedy itself: the pipeline's steps, and decisions
#: remedy makes on its own (an approval deadline passed).
SYSTEM_ACTOR = "remedy"
#: Decider ids that are not Slack users: named, never mentioned.
NOT_SLACK = frozenset({EMAIL_ACTOR, SYSTEM_ACTOR})
#: A contained entry's open question (set by the pipeline, cleared by the decision; the
#: ledger's attention index reads it too).
AWAITING = "awaiting_approval"
#: The verdict on a contained entry that the remediator has yet to carry out.
PENDING_DECISION = "pending_decision"
#: The ledger ``by`` of that verdict's decider, for the history of carrying it out.
DECIDER = "decided_actor"
#: A pending approval whose finding its source closed (`remedy.approvals.source_closed`):
#: no reminders, and remedy never decides it on its own.
CLOSED_AT_SOURCE = "closed_at_source"


def is_contained_awaiting(entry: Entry) -> bool:
    return entry.state is State.QUARANTINED and entry.attrs.get(AWAITING) is True


def awaiting_decision(entry: Entry) -> bool:
    """The entry asks a person: pending approval, or contained and awaiting approval."""
    return entry.state is State.PENDING_APPROVAL or is_contained_awaiting(entry)


def is_marked(entry: Entry) -> bool:
    """The entry waits for approval and its source closed the finding: nobody is told
    again (no reminder, no email, no Security Hub workflow that would undo the source's)."""
    return awaiting_decision(entry) and bool(entry.attrs.get(CLOSED_AT_SOURCE))


def decider_name(decided_by: Mapping[str, Any]) -> str:
    """Who decided, for people: the Slack user's name and id, or the email link's name."""
    name, ident = decided_by.get("name"), decided_by.get("id")
    if ident in NOT_SLACK:
        return str(name or "an account owner (email link)")
    return f"{name} (Slack {ident})" if name else f"Slack user {ident}"
