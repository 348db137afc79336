"""Deciding a pending approval: the one state change Slack buttons and email links share.

PENDING_APPROVAL -> APPROVED or DISMISSED is one conditional write in the ledger that
records who decided, how and when (``attrs["decided_by"]``). Double clicks, two approvers
at once, a Slack click racing an email link, or a reused link all lose that write and get
`Conflict`: one decision, one remediation. An approval is then handed to the remediator
(asynchronously), and every decision is told to the notifier (Slack message, owners'
email, Security Hub). Who may decide, and how the loser is told, is the caller's part.

A remediation that contains first (`remedy.actions.reversible`) leaves its entry
QUARANTINED with ``attrs["awaiting_approval"]`` true. Deciding it is one conditional
`LedgerStore.annotate` on that flag: it clears the flag, records who decided and the
verdict still to carry out (``attrs["pending_decision"]``: approved = restore, dismissed =
keep contained) and leaves the state alone; the remediator then carries the verdict out
(`remedy.pipeline.Pipeline.remediate`). The same races resolve the same way: one winner,
the others get `Conflict`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remedy.ledger.base import Conflict, Entry, LedgerStore, State
from remedy.ledger.indexes import AWAITING_ATTR
from remedy.notify.base import Notifier

log = logging.getLogger(__name__)

VERBS: Mapping[State, str] = {State.APPROVED: "approved", State.DISMISSED: "dismissed"}
#: The decider id and ledger ``by`` of decisions made from an owners' email link.
EMAIL_ACTOR = "email-link"
#: The decider id and ledger ``by`` of remedy deciding on its own (an approval deadline
#: passed); `remedy.pipeline.SYSTEM` is this.
SYSTEM_ACTOR = "remedy"
#: Decider ids that are not Slack users: named, never mentioned.
NOT_SLACK = frozenset({EMAIL_ACTOR, SYSTEM_ACTOR})
#: A contained entry's open question (set by the pipeline, cleared by the decision); the
#: ledger's attention index reads it too, so it is defined there.
AWAITING = AWAITING_ATTR
#: The verdict on a contained entry that the remediator has yet to carry out.
PENDING_DECISION = "pending_decision"
#: The ledger ``by`` of that verdict's decider, for the history of carrying it out.
DECIDER = "decided_actor"
#: A pending approval whose finding its source closed (`remedy.approvals.source_closed`):
#: no reminders, and remedy never decides it on its own.
CLOSED_AT_SOURCE = "closed_at_source"
#: What a decision on a contained entry will do, for the history note.
CONTAINED_EFFECT: Mapping[State, str] = {
    State.APPROVED: "the original is being restored",
    State.DISMISSED: "the containment is kept and the original removed",
}


def awaiting_decision(entry: Entry) -> bool:
    """The entry asks a person: pending approval, or contained and awaiting approval."""
    return entry.state is State.PENDING_APPROVAL or is_contained_awaiting(entry)


def is_contained_awaiting(entry: Entry) -> bool:
    return entry.state is State.QUARANTINED and entry.attrs.get(AWAITING) is True


@dataclass(frozen=True, slots=True)
class Decider:
    """Who decided: a Slack user id and name, or the email link standing for the owners."""

    id: str
    name: str
    #: The ledger history's ``by`` (e.g. ``slack:U123``).
    actor: str
    #: Where, for the history note: "in Slack by Ada", "from the owners' email link".
    where: str


def decider_name(decided_by: Mapping[str, Any]) -> str:
    """Who decided, for people: the Slack user's name and id, or the email link's name."""
    name, ident = decided_by.get("name"), decided_by.get("id")
    if ident in NOT_SLACK:
        return str(name or "an account owner (email link)")
    return f"{name} (Slack {ident})" if name else f"Slack user {ident}"


@dataclass(frozen=True, slots=True)
class Decided:
    entry: Entry
    #: False when an approval stands but the remediator could not be started (logged).
    handed_over: bool = True


class Decisions:
    def __init__(
        self,
        store: LedgerStore,
        notifier: Notifier,
        hand_over: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.hand_over = hand_over
        self.clock = clock

    def decide(
        self,
        key: str,
        target: State,
        decider: Decider,
        attrs: Mapping[str, Any] | None = None,
    ) -> Decided:
        """Apply `target` (APPROVED or DISMISSED) to an entry awaiting a decision (pending,
        or contained and awaiting approval); `Conflict` if it no longer awaits one. `attrs`
        are recorded with the decision in the same write."""
        verb = VERBS[target]
        recorded = {
            "decided_by": {
                "id": decider.id,
                "name": decider.name,
                "action": verb,
                "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            },
            **(attrs or {}),
        }
        try:
            decided = self.store.transition(
                key,
                [State.PENDING_APPROVAL],
                target,
                by=decider.actor,
                note=f"{verb} {decider.where}",
                attrs=recorded,
            )
        except Conflict as conflict:
            if conflict.actual is not State.QUARANTINED:
                raise
            # Contained at once, asked afterwards: claim the question, keep the state.
            decided = self.store.annotate(
                key,
                State.QUARANTINED,
                (AWAITING, True),
                {AWAITING: False, PENDING_DECISION: verb, DECIDER: decider.actor, **recorded},
                by=decider.actor,
                note=f"{verb} {decider.where}: {CONTAINED_EFFECT[target]}",
            )
        log.info("%s %s by %s", key, target.value, decider.actor)
        handed_over = True
        # Contained entries are handed over either way: keeping the containment also acts
        # in the member account (the original is removed).
        if target is State.APPROVED or decided.state is State.QUARANTINED:
            try:
                self.hand_over(key)
            except Exception:
                # The approval stands; the ledger shows APPROVED with no outcome, which the
                # redelivery of the finding or `remedy` operators pick up.
                log.exception("%s %s but could not start the remediator", verb, key)
                handed_over = False
        self.notifier.on_change(decided)
        return Decided(decided, handed_over)
