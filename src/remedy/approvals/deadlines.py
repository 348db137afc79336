"""Approval deadlines: an approval nobody decided is announced again, or decided by rule.

Every approve decision carries its rule's deadline (`remedy.model.ApprovalDeadline`,
``approval_deadline_hours`` and ``on_timeout`` in ``remediation.yaml``), so what people were
told when it was asked is what happens, whatever the policy says later. An entry decided
before deadlines existed has none and gets the policy's default hours, never a timeout.

`Deadlines.run` reads the pending approvals through the ledger's ``attention`` index (a
contained entry awaiting approval is one) and, for each one waiting longer than its
deadline:

- ``keep-waiting`` (the default): once per period of the deadline's length (at 1x, 2x, 3x
  the deadline...), announces it again: to Slack and the owners' email. The reminder is
  claimed first, in the ledger, with one conditional write on the last period announced
  (``attrs.reminders``, ``attrs.reminded_at``), so of two runs at once only one reminds;
  a reminder Slack or SNS then refuses is logged and counted, and the next period reminds
  again. A run that missed periods sends one reminder, not one per period missed.
  Reminders are bounded: after `MAX_REMINDERS` unanswered ones, the next period escalates
  once (``attrs.escalated_at``, announced the same way, saying remedy reminds no more)
  and then remedy only keeps waiting; `remedy status` still lists the approval. The
  history is bounded too: the first reminder and the escalation each add a note, the
  reminders in between only the count, so a forgotten approval cannot grow its entry
  towards DynamoDB's 400 KB.

Each entry is handled on its own: one that cannot be read or written (whatever the error)
is logged and counted (``Report.failed``) and the run goes on with the others.
- ``quarantine``: remedy decides, as a person's click would, with the same conditional
  write (`remedy.approvals.decide`): a click at the same moment and the timeout give
  exactly one decision, and the loser changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from remedy.approvals.decide import Decider, Decisions
from remedy.ledger.base import Conflict, Entry, LedgerStore, State, parse_stamp, stamp
from remedy.ledger.times import age, waiting_since
from remedy.ledger.vocabulary import AWAITING, SYSTEM_ACTOR, is_contained_awaiting, is_marked
from remedy.model import ApprovalDeadline, OnTimeout

log = logging.getLogger(__name__)

#: The last period announced again (1 at the deadline, 2 at twice it...), and when (the
#: entry's ``attrs``).
REMINDERS = "reminders"
REMINDED_AT = "reminded_at"
#: When remedy escalated an approval that its reminders did not get decided (the entry's
#: ``attrs``); once set, remedy reminds no more.
ESCALATED_AT = "escalated_at"
#: Reminders sent before the one escalation.
MAX_REMINDERS = 5
#: Recorded with a decision remedy made because the deadline passed.
TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class Overdue:
    """A pending approval past its deadline: since when it waits and for how long."""

    entry: Entry
    deadline: ApprovalDeadline
    waited: timedelta

    @property
    def periods(self) -> int:
        """Whole deadlines waited: the reminders that should have gone out by now."""
        return int(self.waited / timedelta(hours=self.deadline.hours))

    @property
    def waited_text(self) -> str:
        return age(int(self.waited.total_seconds()))


def deadline_of(entry: Entry, default_hours: float) -> ApprovalDeadline:
    """The deadline the entry's decision carries; without one (decided before deadlines
    existed) `default_hours` and keep waiting: nothing is ever done that was not said."""
    data = entry.decision.get("deadline")
    return ApprovalDeadline.from_dict(data) if data else ApprovalDeadline(default_hours)


def overdue(entry: Entry, default_hours: float, now: datetime) -> Overdue | None:
    """`entry` as `Overdue` if it has waited at least its deadline, else None."""
    deadline = deadline_of(entry, default_hours)
    waited = now - parse_stamp(waiting_since(entry))
    if waited < timedelta(hours=deadline.hours):
        return None
    return Overdue(entry, deadline, waited)


@dataclass(frozen=True, slots=True)
class Report:
    #: Approvals waiting (overdue or not), for the ``PendingApprovals`` metric.
    pending: int = 0
    reminded: int = 0
    timed_out: int = 0
    escalated: int = 0
    #: Entries that could not be handled (logged); the others were.
    failed: int = 0


class Deadlines:
    def __init__(
        self,
        pending: Callable[[], Iterable[Entry]],
        store: LedgerStore,
        decisions: Decisions,
        remind: Callable[[Entry, str], None],
        *,
        default_hours: float,
        clock: Callable[[], datetime],
        max_reminders: int = MAX_REMINDERS,
    ) -> None:
        self.pending = pending
        self.store = store
        self.decisions = decisions
        self.remind = remind
        self.default_hours = default_hours
        self.clock = clock
        self.max_reminders = max_reminders

    def run(self) -> Report:
        now = self.clock()
        done: Counter[str] = Counter()
        for entry in self.pending():
            done["pending"] += 1
            try:
                outcome = self._handle(entry, now)
            except Exception:
                # One entry (too large to write, a bad snapshot...) must not stop the
                # deadlines of every approval listed after it.
                log.exception("approval deadline of %s not handled; the others go on", entry.key)
                outcome = "failed"
            if outcome is not None:
                done[outcome] += 1
        return Report(**done)

    def _handle(self, entry: Entry, now: datetime) -> str | None:
        """What was done for `entry`: a `Report` field's name, or None."""
        late = overdue(entry, self.default_hours, now)
        # Closed at the source: a person's to decide, never reminded about.
        if late is None or is_marked(entry):
            return None
        if late.deadline.on_timeout is OnTimeout.QUARANTINE:
            return "timed_out" if self._time_out(late) else None
        return self._remind(late, now)

    def _remind(self, late: Overdue, now: datetime) -> str | None:
        entry = late.entry
        sent = int(entry.attrs.get(REMINDERS) or 0)
        if sent >= late.periods or entry.attrs.get(ESCALATED_AT):
            return None
        waited = (
            f"still waiting for approval after {late.waited_text} "
            f"(deadline {late.deadline.hours:g} h)"
        )
        if sent >= self.max_reminders:
            kind = "escalated"
            note = (
                f"escalated: {waited} and {sent} reminders; remedy reminds no more and keeps "
                "waiting for a person"
            )
            attrs: dict[str, object] = {ESCALATED_AT: stamp(now)}
            recorded: str | None = note
        else:
            kind = "reminded"
            note = f"reminder {late.periods}: {waited}; remedy keeps waiting for a person"
            attrs = {REMINDERS: late.periods, REMINDED_AT: stamp(now)}
            # The count is in attrs; the history notes the first reminder only.
            recorded = note if not sent else None
        try:
            claimed = self.store.annotate(
                entry.key,
                entry.state,
                # Absent before the first reminder: the condition is then "none sent yet".
                (REMINDERS, sent or None),
                attrs,
                by=SYSTEM_ACTOR,
                note=recorded,
                # A contained entry stays QUARANTINED when decided: still undecided, too.
                also=[
                    (ESCALATED_AT, None),
                    *([(AWAITING, True)] if is_contained_awaiting(entry) else []),
                ],
            )
        except Conflict as lost:
            # Another run reminded first, or a person decided meanwhile.
            log.info("no reminder for %s: %s", entry.key, lost)
            return None
        self.remind(claimed, note)
        log.info("%s: %s", entry.key, note)
        return kind

    def _time_out(self, late: Overdue) -> int:
        entry = late.entry
        # A pending approval is approved: the remediator carries it out as after a click.
        # A contained one is already quarantined: approving it would *restore* what was
        # contained, undoing a control with nobody's say-so, the opposite of what
        # ``on_timeout: quarantine`` asks. So its containment is kept (the dismiss verdict,
        # which the remediator carries out with the action's ``finalise``).
        target = State.DISMISSED if is_contained_awaiting(entry) else State.APPROVED
        hours = f"{late.deadline.hours:g} h"
        decider = Decider(
            id=SYSTEM_ACTOR,
            name=f"remedy (approval deadline of {hours} passed)",
            actor=SYSTEM_ACTOR,
            where=(
                f"by remedy: the approval deadline of {hours} passed with no decision "
                f"(waited {late.waited_text}; the rule says on_timeout: quarantine)"
            ),
        )
        try:
            self.decisions.decide(
                entry.key,
                target,
                decider,
                {TIMED_OUT: {"deadline_hours": late.deadline.hours, "at": stamp(self.clock())}},
            )
        except Conflict as lost:
            # A person decided at the same moment and won the write: theirs stands.
            log.info("deadline of %s not applied: %s", entry.key, lost)
            return 0
        log.warning("%s: approval deadline of %s passed, %s by remedy", entry.key, hours, target)
        return 1
