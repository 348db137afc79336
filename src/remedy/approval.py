"""Deciding a pending approval: the one state change Slack buttons and email links share.

PENDING_APPROVAL -> APPROVED or DISMISSED is one conditional write in the ledger that
records who decided, how and when (``attrs["decided_by"]``). Double clicks, two approvers
at once, a Slack click racing an email link, or a reused link all lose that write and get
`Conflict`: one decision, one remediation. An approval is then handed to the remediator
(asynchronously), and every decision is told to the notifier (Slack message, owners'
email, Security Hub). Who may decide, and how the loser is told, is the caller's part.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remedy.ledger.base import Entry, LedgerStore, State
from remedy.notify.base import Notifier

log = logging.getLogger(__name__)

VERBS: Mapping[State, str] = {State.APPROVED: "approved", State.DISMISSED: "dismissed"}


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
        """Apply `target` (APPROVED or DISMISSED) to a pending entry; `Conflict` if it is
        no longer pending. `attrs` are recorded with the decision in the same write."""
        verb = VERBS[target]
        decided = self.store.transition(
            key,
            [State.PENDING_APPROVAL],
            target,
            by=decider.actor,
            note=f"{verb} {decider.where}",
            attrs={
                "decided_by": {
                    "id": decider.id,
                    "name": decider.name,
                    "action": verb,
                    "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
                },
                **(attrs or {}),
            },
        )
        log.info("%s %s by %s", key, target.value, decider.actor)
        handed_over = True
        if target is State.APPROVED:
            try:
                self.hand_over(key)
            except Exception:
                # The approval stands; the ledger shows APPROVED with no outcome, which the
                # redelivery of the finding or `remedy` operators pick up.
                log.exception("approved %s but could not start the remediator", key)
                handed_over = False
        self.notifier.on_change(decided)
        return Decided(decided, handed_over)
