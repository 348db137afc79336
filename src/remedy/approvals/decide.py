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
from remedy.ledger.vocabulary import AWAITING, DECIDER, PENDING_DECISION
from remedy.notify.base import Notifier

log = logging.getLogger(__name__)

VERBS: Mapping[State, str] = {State.APPROVED: "approved", State.DISMISSED: "dismissed"}
#: What a decision on a contained entry will do, for the history note.
CONTAINED_EFFECT: Mapping[State, str] = {
    State.APPROVED: "the original is being restored",
    State.DISMISSED: "the containment is kept and the original removed",
}


@dataclass(frozen=True, slots=True)
class Decider:
    """Who decided: a Slack user id and name, or the email link standing for the owners."""

    id: str
    name: str
    #: The ledger history's ``by`` (e.g. ``slack:U123``).
    actor: str
    #: Where, for the history note: "in Slack by Ada", "from the owners' email link".
    where: str


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
