"""One EventBridge event, end to end: normalise, decide, record, act, tell.

``Pipeline.process(event)`` reads the findings in an event and, for each one, decides
(trust first), records the decision in the ledger with one conditional write (the dedupe:
the native Macie event and its Security Hub copy share a key, so the second finds the
first's entry), and carries the decision out: quarantine now, ask for approval, notify,
ignore or reject. Every state change is followed by `Notifier.on_change`. A finding whose
key is taken may still be a new occurrence (`remedy.occurrences`): it then gets an entry
``<key>.<n>`` of its own. A finding of the event that cannot be read is recorded REJECTED
with its raw text, and the others are handled.

A redelivery resumes rather than repeats: an entry still QUARANTINING whose lease has run
out (the worker died) is taken over, one in a retryable outcome (FAILED, DENIED, ARCHIVED)
is tried again, an APPROVED one is carried out, and any other entry is left as it is.
``Pipeline.remediate(key)`` is the same for the remediator, invoked after an approval.

An ``approve`` rule whose remediation contains first runs it at once; a QUARANTINED
outcome is recorded with ``attrs["awaiting_approval"]`` and people are asked, any other
outcome (nothing to contain, already fixed) ends the entry and people are only told.
The decision (`remedy.approvals.decide`) leaves the verdict in ``attrs["pending_decision"]``;
the remediator carries it out: approved -> the action's ``release`` and QUARANTINED ->
RELEASED; dismissed -> its ``finalise``, the entry staying QUARANTINED.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from remedy import occurrences
from remedy.actions.outcome import Outcome
from remedy.actions.registry import RemediationAction
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.approvals import source_closed
from remedy.errors import PartlyInvalid, RemedyError, UnreadableFinding
from remedy.ledger.base import (
    RETRYABLE,
    Conflict,
    Entry,
    HistoryItem,
    LedgerStore,
    State,
    parse_stamp,
    stamp,
)
from remedy.ledger.times import time_to_remediate
from remedy.ledger.vocabulary import AWAITING, DECIDER, PENDING_DECISION, SYSTEM_ACTOR
from remedy.model import Action, Decision, Finding, Mode
from remedy.normalise import normalise
from remedy.normalise.keys import invalid_key, same_bytes
from remedy.notify.base import Announcer, no_count
from remedy.policy import Policy, decide
from remedy.rails import Rails
from remedy.rails.dry_run import PLAN, plan

if TYPE_CHECKING:
    from remedy.settings import Settings

log = logging.getLogger(__name__)

#: The state a decision puts a new entry in.
FIRST_STATE: Mapping[Action, State] = {
    Action.QUARANTINE: State.QUARANTINING,
    Action.APPROVE: State.PENDING_APPROVAL,
    Action.NOTIFY: State.NOTIFIED,
    Action.IGNORE: State.IGNORED,
    Action.REJECT: State.REJECTED,
}
#: How long a QUARANTINING entry belongs to the worker that wrote it: the longest a Lambda
#: can run, so a takeover never races a worker that is still alive.
DEFAULT_LEASE = timedelta(seconds=900)
#: The ``by`` of the changes remedy makes on its own.
SYSTEM = SYSTEM_ACTOR
#: Counted when a remediation ends in a state an operator must look at; the core
#: template's RemediationFailedAlarm watches it.
REMEDIATION_FAILED_METRIC = "RemediationFailed"
NEEDS_OPERATOR = frozenset({State.FAILED, State.DENIED, State.LOCKED})
#: Seconds from the finding's creation (as its product dated it; else the ledger entry's)
#: to QUARANTINED: the dashboard's time to remediate.
TIME_TO_REMEDIATE_METRIC = "TimeToRemediate"
#: Counted once per finding that cannot be read in an otherwise readable event.
INVALID_FINDINGS_METRIC = "InvalidFindings"
#: The decision rule of such a finding's REJECTED entry, and where its raw text is kept.
INVALID_RULE = "builtin:invalid"
UNREADABLE = "unreadable"


class InProgress(RemedyError):
    """Another worker is carrying out this entry; try again after its lease."""

    def __init__(self, key: str, until: datetime) -> None:
        self.key = key
        super().__init__(
            f"ledger entry {key} is being quarantined by another worker until "
            f"{until.isoformat()}; retry after that"
        )


class DecisionFailed(RemedyError):
    """Carrying out a decision on a contained entry failed in a way worth retrying."""

    def __init__(self, key: str, verdict: str, reason: str) -> None:
        self.key = key
        super().__init__(
            f"ledger entry {key} was {verdict} but carrying it out failed: {reason}; the "
            "verdict stays recorded and the remediator retries it"
        )


class UnknownEntry(RemedyError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no ledger entry {key!r}: check the key (remedy explain prints it)")


def _no_measure(name: str, seconds: float) -> None:
    return None


@dataclass
class Pipeline:
    """Intake (``process``, ``handle``) and the remediator (``remediate`` and what follows),
    kept in one class on purpose: intake ends in the remediator's path (a new QUARANTINING
    entry is carried out inline by the same worker, a duplicate is resumed), both halves
    share one ledger, lease, clock and announcer, and both ask `_contain_first`. Split,
    intake would hold a remediator only to call three of its private steps; here the
    section comments below mark the halves, and the intake half is 50 lines."""

    store: LedgerStore
    policy: Policy
    actions: Mapping[str, RemediationAction]
    announce: Announcer = field(default_factory=Announcer)
    count: Callable[[str], None] = no_count
    lease: timedelta = DEFAULT_LEASE
    #: Records a duration metric in seconds (`TIME_TO_REMEDIATE_METRIC`).
    measure: Callable[[str, float], None] = _no_measure
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: The safety rails (`remedy.rails`): dry run, freezes, managed as code, the breaker.
    rails: Rails = field(default_factory=Rails)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        count: Callable[[str], None] = no_count,
        measure: Callable[[str, float], None] = _no_measure,
        session: Any = None,
    ) -> Pipeline:
        """The pipeline a Lambda function runs: the ledger table, the member sessions,
        every registered action and the policy (validated: a bad policy fails here).
        Notifiers are added by the caller (`announce.notifiers`): they need this store.
        `session` (boto3) makes the ledger's client; pass the one the notifier uses, so
        the service models are loaded once per container."""
        from remedy.actions import build
        from remedy.actions.session import AccountSessions
        from remedy.ledger.dynamodb import DynamoDBLedgerStore
        from remedy.policy.organizations import load_resolved_policy

        sessions = AccountSessions(settings)
        store = DynamoDBLedgerStore.from_settings(
            settings, session.client("dynamodb") if session else None
        )
        return cls(
            store=store,
            policy=load_resolved_policy(settings, session=session),
            actions=build(sessions, settings),
            announce=Announcer((), count),
            count=count,
            measure=measure,
            rails=Rails(
                store.client,
                settings.ledger_table,
                lambda service, account, region, key: sessions.client(
                    service, account, region, finding_key=key
                ),
                count=count,
            ),
        )

    # -- findings --------------------------------------------------------------------------

    def process(self, event: object) -> list[Entry]:
        """Every finding of one EventBridge event; `InvalidEvent` if it cannot be read.

        In an event of several findings, each one that cannot be read is recorded
        REJECTED (`reject_unreadable`) and the others are handled as usual."""
        try:
            findings = normalise(event)
        except PartlyInvalid as partly:
            assert isinstance(event, dict)  # normalise read its envelope
            rejected = [self.reject_unreadable(event, bad) for bad in partly.bad]
            return rejected + [self.handle(finding) for finding in partly.findings]
        return [self.handle(finding) for finding in findings]

    def reject_unreadable(self, event: Mapping[str, Any], bad: UnreadableFinding) -> Entry:
        """A REJECTED ledger entry for one finding that cannot be read, holding its raw
        text and the reason, so an operator can read both; keyed by sender and text, so a
        redelivery finds it rather than adding another (and is not counted again)."""
        sender = str(event["account"])
        text = json.dumps(bad.raw, sort_keys=True, default=str)
        now = stamp(self.clock())
        reason = f"finding {bad.index} of event {event.get('id')} cannot be read: {bad.error}"
        created, entry = self.store.create(
            Entry(
                key=invalid_key(sender, text),
                state=State.REJECTED,
                # Who sent it: the account the finding names is not known to be valid.
                account=sender,
                region=str(event["region"]),
                # Not a finding snapshot (it could not be read into one): the raw finding.
                finding={
                    UNREADABLE: bad.raw,
                    "event_id": event.get("id"),
                    "index": bad.index,
                    "path": bad.error.field,
                    "envelope_account": sender,
                },
                decision={"action": Action.REJECT.value, "rule": INVALID_RULE, "reason": reason},
                created_at=now,
                updated_at=now,
                history=(
                    HistoryItem(now, SYSTEM, State.RECEIVED.value, State.REJECTED.value, reason),
                ),
            )
        )
        if created:
            self.count(INVALID_FINDINGS_METRIC)
            log.warning("rejected %s: %s", entry.key, reason)
        return entry

    def handle(self, finding: Finding) -> Entry:
        decision = self.rails.review(
            finding, decide(finding, self.policy), self.policy, self.actions
        )
        admitted = self._admit(finding, decision, finding.key)
        created, entry = self.store.create(
            self._new_entry(finding, admitted, finding.key, occurrences.hints(finding, finding.key))
        )
        if not created:
            return self._known(finding, decision, entry)
        return self._begin(entry, admitted)

    def _new_entry(
        self,
        finding: Finding,
        decision: Decision,
        key: str,
        attrs: Mapping[str, Any] | None = None,
    ) -> Entry:
        first = (
            State.QUARANTINING if self._contain_first(decision) else FIRST_STATE[decision.action]
        )
        if decision.mode is Mode.DRY_RUN:
            first = State.DRY_RUN
            attrs = {
                **(attrs or {}),
                PLAN: plan(finding, decision, self.actions.get(decision.remediation or "")),
            }
        now = stamp(self.clock())
        note = decision.reason
        if attrs and occurrences.NUMBER in attrs:
            note += (
                f" (occurrence {attrs[occurrences.NUMBER]} of {finding.key}; "
                f"the one before is {attrs[occurrences.PREVIOUS]})"
            )
        return Entry(
            key=key,
            state=first,
            account=finding.account,
            region=finding.region,
            finding=finding.to_dict(),
            decision=decision.to_dict(),
            created_at=now,
            updated_at=now,
            attrs=dict(attrs or {}),
            history=(HistoryItem(now, SYSTEM, State.RECEIVED.value, first.value, note),),
        )

    def _begin(self, entry: Entry, decision: Decision) -> Entry:
        """A new entry was written: count it, tell people, and act if it says so."""
        self.count(f"Decision{decision.action.value.capitalize()}")
        if decision.action is Action.REJECT:
            log.warning("rejected finding %s: %s", entry.key, decision.reason)
        else:
            log.info("finding %s: %s (%s)", entry.key, entry.state, decision.reason)
        self.announce(entry)
        if entry.state is State.QUARANTINING:
            return self._act(entry, resume=False)
        return entry

    # -- occurrences (remedy.occurrences) -----------------------------------------------------

    def _known(self, finding: Finding, decision: Decision, first: Entry) -> Entry:
        """A finding whose key is in the ledger: a new occurrence gets an entry of its own,
        anything else resumes the occurrence it belongs with (a redelivery, the other copy)."""
        current = self._current(first, finding)
        if decision.action is not Action.REJECT:
            marked = source_closed.mark(self.store, current, finding, self._now())
            if marked is not None:
                log.warning("%s: approval closed at the source", marked.key)
                self.announce(marked)
                return marked
        released = self._released_bytes(first, current, finding)
        if released is not None and decision.action in occurrences.ACTS:
            return self._keep_released(released, finding)
        number = occurrences.latest(first)
        while (why := occurrences.opens_new(current, finding, decision)) is not None:
            if why in occurrences.RATE_BOUND and self._too_soon(current):
                return self._hold(current, finding, why)
            number += 1
            previous = occurrences.key_of(first.key, number - 1)
            key = occurrences.key_of(first.key, number)
            admitted = self._admit(finding, decision, key)
            created, entry = self.store.create(
                self._new_entry(
                    finding,
                    admitted,
                    key,
                    {occurrences.NUMBER: number, occurrences.PREVIOUS: previous},
                )
            )
            if created:
                self._point(first, entry, finding)
                self.count("Recurrences")
                return self._begin(entry, admitted)
            # Another delivery claimed this number first: if for the same bytes (or for a
            # finding naming no object), judge against it; else try the next number.
            seen, claimed = occurrences.identity(finding), occurrences.identity_of(entry)
            if seen is None or claimed is None or same_bytes(seen, claimed):
                current = entry
        resolved = occurrences.resolution(current, finding)
        if resolved is not None:
            current = self.store.update_attrs(current.key, resolved)
        self.count("DuplicateFindings")
        log.info("finding %s already in the ledger as %s", current.key, current.state)
        return self._resume(current)

    def _current(self, first: Entry, finding: Finding) -> Entry:
        """The occurrence `finding` belongs with, as far as the first entry says: the one
        that saw the same bytes, else the newest (read only when it is not the first)."""
        key = occurrences.occurrence_of(first, occurrences.identity(finding))
        if key is None:
            key = occurrences.key_of(first.key, occurrences.latest(first))
        if key == first.key:
            return first
        return self.store.get(key) or first

    def _point(self, first: Entry, entry: Entry, finding: Finding) -> None:
        """Tell the first entry about a new occurrence (hints only: see remedy.occurrences)."""
        hints: dict[str, Any] = {occurrences.LATEST: occurrences.number_of(entry)}
        self.store.update_attrs(first.key, {**hints, **occurrences.hints(finding, entry.key)})

    def _released_bytes(self, first: Entry, current: Entry, finding: Finding) -> Entry | None:
        """The RELEASED occurrence that saw the finding's bytes (its ETag), if any."""
        key = occurrences.released_key(first, finding)
        if key is None:
            return None
        found = next((e for e in (current, first) if e.key == key), None) or self.store.get(key)
        return found if found is not None and found.state is State.RELEASED else None

    def _keep_released(self, released: Entry, finding: Finding) -> Entry:
        """Bytes a person released stay released: recorded, not acted on."""
        entry = occurrences.keep_released(self.store, released, finding, self._now())
        self.count("ReleasedBytesKept")
        log.info("finding %s names bytes released in %s: not acted on", finding.key, entry.key)
        return entry

    def _too_soon(self, current: Entry) -> bool:
        period = self.policy.recurrence_period
        return bool(period) and self.clock() - parse_stamp(current.created_at) < period

    def _hold(self, current: Entry, finding: Finding, why: str) -> Entry:
        """A re-opening within the period of the newest occurrence: recorded on it only."""
        minutes = self.policy.recurrence_period.total_seconds() / 60
        entry = occurrences.hold(self.store, current, finding, why, minutes, self._now())
        self.count("RecurrencesHeld")
        log.warning("%s re-opened within %g minutes: recorded, not acted on", current.key, minutes)
        return entry

    def _admit(self, finding: Finding, decision: Decision, key: str) -> Decision:
        """The decision for a new entry at `key`, past the circuit breaker (`remedy.rails`)."""
        return self.rails.admit(finding, decision, key, self.policy, self.actions)

    def _contain_first(self, decision: Decision) -> bool:
        """An approve rule whose remediation contains at once and asks afterwards (the
        approver then keeps the containment or releases it)."""
        action = self.actions.get(decision.remediation or "")
        return (
            decision.action is Action.APPROVE
            and decision.mode is Mode.ACT
            and isinstance(action, ReversibleAction)
            and action.contain_first
        )

    # -- the remediator --------------------------------------------------------------------

    def remediate(self, key: str) -> Entry:
        """Carry out an approved entry (or resume one that was cut short)."""
        entry = self.store.get(key)
        if entry is None:
            raise UnknownEntry(key)
        return self._resume(entry)

    # -- shared ----------------------------------------------------------------------------

    def _resume(self, entry: Entry) -> Entry:
        if entry.state is State.QUARANTINED and entry.attrs.get(PENDING_DECISION):
            return self._settle(entry)
        try:
            if entry.state is State.APPROVED:
                entry = self._start(entry, "approved: quarantine starting")
                return self._act(entry, resume=False)
            if entry.state is State.QUARANTINING:
                until = parse_stamp(entry.updated_at) + self.lease
                if self.clock() < until:
                    raise InProgress(entry.key, until)
                entry = self.store.transition(
                    entry.key,
                    [State.QUARANTINING],
                    State.QUARANTINING,
                    by=SYSTEM,
                    note="taking over an attempt that did not finish",
                    expected_version=entry.version,
                )
                return self._act(entry, resume=True)
            if entry.state in RETRYABLE and entry.decision.get("remediation"):
                entry = self._start(entry, f"retrying after {entry.state.value}")
                return self._act(entry, resume=True)
        except Conflict as conflict:
            # Another worker moved the entry first; report where it stands now.
            current = self.store.get(entry.key)
            if current is None:
                raise
            if current.state is State.QUARANTINING:
                raise InProgress(
                    current.key, parse_stamp(current.updated_at) + self.lease
                ) from conflict
            return current
        return entry

    def _start(self, entry: Entry, note: str) -> Entry:
        started = self.store.transition(
            entry.key,
            [entry.state],
            State.QUARANTINING,
            by=SYSTEM,
            note=note,
            expected_version=entry.version,
        )
        self.announce(started)
        return started

    def _act(self, entry: Entry, *, resume: bool) -> Entry:
        outcome = self._run(entry, resume=resume)
        try:
            done = self.store.transition(
                entry.key,
                [State.QUARANTINING],
                outcome.state,
                by=SYSTEM,
                note=outcome.reason,
                attrs=outcome.attrs,
                expected_version=entry.version,
            )
        except Conflict:
            # Taken over while this worker ran (it outlived its lease); the other worker's
            # record stands, and the action is idempotent, so nothing is done twice.
            current = self.store.get(entry.key)
            log.warning("outcome %s for %s not recorded: entry moved on", outcome.state, entry.key)
            return current if current is not None else entry
        self.count(f"Outcome{outcome.state.value.capitalize()}")
        if done.state is State.QUARANTINED:
            self.measure(TIME_TO_REMEDIATE_METRIC, time_to_remediate(done))
        if outcome.state in NEEDS_OPERATOR:
            self.count(REMEDIATION_FAILED_METRIC)
        level = logging.INFO if outcome.state is State.QUARANTINED else logging.WARNING
        log.log(level, "%s %s: %s", entry.key, outcome.state, outcome.reason)
        self.announce(done)
        return done

    def _run(self, entry: Entry, *, resume: bool) -> Outcome:
        decision = Decision(
            action=Action(entry.decision["action"]),
            rule=str(entry.decision.get("rule", "")),
            reason=str(entry.decision.get("reason", "")),
            remediation=entry.decision.get("remediation"),
            options=dict(entry.decision.get("options") or {}),
            mode=Mode(entry.decision.get("mode", Mode.ACT)),
        )
        action = self.actions.get(decision.remediation or "")
        if action is None:
            known = ", ".join(sorted(self.actions)) or "none"
            return Outcome(
                State.FAILED,
                f"rule {decision.rule} names remediation {decision.remediation!r}, which is "
                f"not registered (registered: {known}); nothing done",
            )
        options: Mapping[str, Any] = decision.options
        outcome = action.run(Finding.from_dict(entry.finding), options, resume=resume)
        if self._contain_first(decision) and outcome.state is State.QUARANTINED:
            # Contained before asking: the approval question is still open.
            return Outcome(outcome.state, outcome.reason, {**outcome.attrs, AWAITING: True})
        return outcome

    # -- a decision on a contained entry ---------------------------------------------------

    def _settle(self, entry: Entry) -> Entry:
        """Carry out the verdict the decider left on a contained entry (idempotent: the
        action finds work already done, and the ledger write is conditional)."""
        verdict = str(entry.attrs[PENDING_DECISION])
        by = str(entry.attrs.get(DECIDER) or SYSTEM)
        name = str(entry.decision.get("remediation") or "")
        action = self.actions.get(name)
        finding = Finding.from_dict(entry.finding)
        try:
            if not isinstance(action, ReversibleAction):
                raise ActionFailed(
                    State.FAILED, f"remediation {name!r} is not registered as reversible here"
                )
            if verdict == "approved":
                undo = action.release(finding, entry.attrs)
            else:
                undo = action.finalise(finding, entry.attrs)
        except ActionFailed as failed:
            return self._unsettled(entry, verdict, failed)
        try:
            done = (
                self._released(entry, by, undo)
                if verdict == "approved"
                else self.store.annotate(
                    entry.key,
                    State.QUARANTINED,
                    (PENDING_DECISION, verdict),
                    {
                        PENDING_DECISION: None,
                        "finalise": {**undo.attrs, "by": by, "at": self._now()},
                    },
                    by=by,
                    note=undo.reason,
                )
            )
        except Conflict:
            # Another remediator carried it out first; what it recorded stands.
            log.info("decision on %s already carried out", entry.key)
            return self.store.get(entry.key) or entry
        self.count("DecisionsCarriedOut")
        log.info("%s %s: %s", entry.key, verdict, undo.reason)
        self.announce(done)
        return done

    def _released(self, entry: Entry, by: str, undo: Undo) -> Entry:
        return self.store.transition(
            entry.key,
            [State.QUARANTINED],
            State.RELEASED,
            by=by,
            note=f"approved: {undo.reason}",
            attrs={PENDING_DECISION: None, "release": {**undo.attrs, "by": by, "at": self._now()}},
            expected_version=entry.version,
        )

    def _unsettled(self, entry: Entry, verdict: str, failed: ActionFailed) -> Entry:
        """The verdict could not be carried out. Worth retrying (FAILED, DENIED): it stays
        recorded and `DecisionFailed` makes the remediator retry. Otherwise (the resource
        changed or is gone) it is closed with the reason, and the entry stays QUARANTINED."""
        log.warning("%s %s, not carried out: %s", entry.key, verdict, failed.reason)
        if failed.state in RETRYABLE:
            self.count("DecisionsFailed")
            raise DecisionFailed(entry.key, verdict, failed.reason)
        try:
            done = self.store.annotate(
                entry.key,
                State.QUARANTINED,
                (PENDING_DECISION, verdict),
                {
                    PENDING_DECISION: None,
                    "decision_outcome": {"state": failed.state.value, "reason": failed.reason},
                },
                by=SYSTEM,
                note=f"{verdict}, but not carried out ({failed.state.value}): {failed.reason}",
            )
        except Conflict:
            return self.store.get(entry.key) or entry
        self.announce(done)
        return done

    def _now(self) -> str:
        return stamp(self.clock())
