"""Tickets that follow a ledger entry's life: opened once, told every change, resolved.

The ticket's slot is ``attrs.ticket`` on the entry. It is claimed by one conditional
write before any call to the ticket system, so of redeliveries and concurrent workers
exactly one opens the ticket; the winner then records its id and URL. The slot moves:

- ``opening`` (claimed at ``claimed_at``): a worker is creating the ticket. Left older
  than `LEASE` (the worker died between the call and the record), or ``owed`` (the
  call failed), the next worker re-claims it and asks the system for the ticket by the
  occurrence's token before creating one (`TicketBackend.find`): a crash never makes two.
- ``open``: ``id``, ``url``, and ``told``, the number of history steps already written
  as comments. Every later step becomes one comment.
- ``resolved``: the entry ended (remediated, released, dismissed, gone, closed at its
  source); later steps (a release) are still told.
- ``passed`` (``to``: the key of a later occurrence): a recurrence reopened this ticket
  while it was still open; steps are still told, but only the later occurrence's end
  resolves it.
- ``gone`` (``gone``: the system's answer): someone deleted the ticket or closed it for
  good (ServiceNow keeps a Closed incident read-only); nothing more is told there.

A recurrence whose rule says ``on_recurrence: reopen`` claims the slot the same way, with
the previous occurrence's ticket in ``reopen``: the winner reopens that ticket (a comment
says which occurrence, when and what) instead of creating one, and records it as its own.
If that ticket is gone or closed for good, a new one is opened (linked to it if it still
exists) and ``reopen_refused`` keeps the system's answer.

A ticket system that fails never stops the finding: the error is kept on the entry
(``attrs.ticket_owed``, the system's exact answer), the key goes into the ticket outbox,
and `Tickets.retry_owed` (the scheduled outbox function) tries again once the entry's
``attrs.ticket_retry`` says it is due: after 1 minute, then 2, 4, … up to an hour.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from remedy.ledger.base import (
    Entry,
    HistoryItem,
    LedgerStore,
    State,
    is_terminal,
    parse_stamp,
    stamp,
)
from remedy.ledger.dynamodb import utc_now
from remedy.ledger.vocabulary import CLOSED_AT_SOURCE
from remedy.model import Severity, TicketWant
from remedy.notify.outbox import TICKET_OUTBOX_PK, SlackOutbox
from remedy.occurrences import PREVIOUS
from remedy.policy.accounts import AccountInfo
from remedy.tickets.registry import Draft, TicketBackend, TicketError, TicketGone, TicketRef

log = logging.getLogger(__name__)

SLOT = "ticket"
OWED = "ticket_owed"
#: An owed ticket's tries so far and when the outbox may try it again.
RETRY = "ticket_retry"
#: The wait after an owed ticket's first failed try, doubled after each: a system that was
#: down for minutes is caught up by the next outbox runs, while a ticket it refuses every
#: time (a project that does not exist) costs one call an hour, not one every run.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MOST = timedelta(hours=1)
OUTBOX_PK = TICKET_OUTBOX_PK
#: How long a claim to open a ticket holds before another worker may repair it.
LEASE = timedelta(minutes=5)
#: After an outage, how long this process owes a backend's tickets without calling it, so
#: a system that is down costs one timeout, not one per finding.
PAUSE = timedelta(minutes=1)
#: An answer slower than this pauses the backend as an outage does: a slow system costs
#: this function one slow call a minute, not one per finding of every batch.
SLOW = 3.0
#: States in which a person must act: approve, or look at what remedy could not do.
MUST_ACT = frozenset({State.PENDING_APPROVAL, State.FAILED, State.LOCKED, State.CHANGED})


def token() -> str:
    """A new occurrence's token: a Jira label, a ServiceNow correlation id, a ClientToken.
    Random, kept in the slot: one made from the ledger key (a digest of what the finding
    names) could be computed by anyone, who could plant a ticket the repair would adopt."""
    return "remedy-" + secrets.token_hex(12)


def ended(entry: Entry) -> bool:
    """Nothing is left for anyone to do about the entry."""
    if entry.attrs.get(CLOSED_AT_SOURCE):
        return True
    if entry.state is State.QUARANTINED:
        return True
    return is_terminal(entry.state) and entry.state not in MUST_ACT


def step_text(step: HistoryItem) -> str:
    text = f"{step.at}: {step.source} -> {step.target} by {step.by}"
    return f"{text}: {step.note}" if step.note else text


def ticket_of(entry: Entry) -> TicketRef | None:
    """The entry's ticket, once it has one, while it can still be changed."""
    slot = entry.attrs.get(SLOT)
    if not isinstance(slot, dict) or not slot.get("id") or slot["status"] == "gone":
        return None
    return TicketRef(slot["backend"], slot["id"], slot["url"], slot.get("ref", ""))


class Tickets:
    def __init__(
        self,
        store: LedgerStore,
        backends: Mapping[str, TicketBackend],
        account: Callable[[str], AccountInfo],
        outbox: SlackOutbox,
        *,
        clock: Callable[[], datetime] = utc_now,
        lease: timedelta = LEASE,
        slow: float = SLOW,
    ) -> None:
        self.store = store
        self.backends = backends
        self.account = account
        self.outbox = outbox
        self.clock = clock
        self.lease = lease
        self.slow = slow
        #: Backend -> (until when it is not called, the outage's error).
        self._paused: dict[str, tuple[datetime, str]] = {}

    def wants(self, entry: Entry) -> TicketWant | None:
        """The rule's ticket, if this entry, now, is one it asks a ticket for."""
        data = entry.decision.get("ticket")
        if not data:
            return None
        want = TicketWant.from_dict(data)
        if Severity[entry.finding["severity"]] < want.min_severity:
            return None
        if want.only_when_a_person_must_act and entry.state not in MUST_ACT:
            return None
        return want

    def backend_of(self, entry: Entry) -> str | None:
        """The backend the entry's ticket is (or would now be) in; None: no ticket."""
        slot = entry.attrs.get(SLOT)
        if isinstance(slot, dict):
            return str(slot["backend"])
        want = self.wants(entry)
        return want.backend if want is not None else None

    def follow(self, entry: Entry) -> Entry:
        """Bring the entry's ticket up to date; a failure is owed, never raised."""
        backend = self.backend_of(entry)
        if backend is None or backend not in self.backends:
            # No ticket, or one this function cannot send: left for one that can.
            return entry
        paused = self._paused.get(backend)
        if paused is not None and self.clock() < paused[0]:
            return self.owe(entry, f"{paused[1]} (not tried again yet)", tried=False)
        started = time.monotonic()
        try:
            entry = self._follow(entry)
        except Exception as exc:  # whatever failed, the finding goes on
            if isinstance(exc, TicketError) and exc.outage:
                self._paused[backend] = (self.clock() + PAUSE, str(exc))
            message = str(exc) if isinstance(exc, TicketError) else f"{type(exc).__name__}: {exc}"
            return self.owe(entry, message)
        took = time.monotonic() - started
        if took > self.slow:
            slow = f"{backend} answered in {took:.1f}s, over {self.slow:g}s"
            log.warning("tickets in %s paused for %s: %s", backend, PAUSE, slow)
            self._paused[backend] = (self.clock() + PAUSE, slow)
        else:
            self._paused.pop(backend, None)
        if entry.attrs.get(OWED):
            self.outbox.remove(entry.key)
            entry = self.store.update_attrs(entry.key, {OWED: None, RETRY: None})
        return entry

    def owe(self, entry: Entry, message: str, *, tried: bool = True) -> Entry:
        """Leave the entry's ticket for the outbox, saying why and when to try again."""
        log.warning("ticket for %s owed: %s", entry.key, message)
        self.outbox.add(entry.key)
        retry = entry.attrs.get(RETRY) or {"tries": 0, "after": stamp(self.clock())}
        if tried:
            tries = int(retry["tries"]) + 1
            wait = min(RETRY_FIRST * 2 ** min(tries - 1, 12), RETRY_MOST)
            retry = {"tries": tries, "after": stamp(self.clock() + wait)}
        return self.store.update_attrs(entry.key, {OWED: message, RETRY: retry})

    def due(self, entry: Entry) -> bool:
        """Whether the outbox may try the entry's owed ticket now."""
        retry = entry.attrs.get(RETRY)
        if not isinstance(retry, dict):
            return True
        return self.clock() >= parse_stamp(str(retry["after"]))

    def retry_owed(self, limit: int = 50) -> int:
        """Try the owed tickets again (the scheduled outbox function); how many are done.

        A backend in an outage is tried once per run: its other tickets wait for the next.
        Each run goes on from the last key the one before tried, so tickets that fail every
        time (an account with no project) never hold back those after them, and a ticket
        not yet due (`RETRY`) is passed over.
        """
        done = 0
        for key in self.outbox.rotate(limit):
            entry = self.store.get(key)
            if entry is None:
                self.outbox.remove(key)
                continue
            if not self.due(entry):
                continue
            if not self.follow(entry).attrs.get(OWED):
                done += 1
        return done

    def owed(self) -> int:
        return self.outbox.count()

    # -- the slot --------------------------------------------------------------------------

    def _follow(self, entry: Entry) -> Entry:
        slot = entry.attrs.get(SLOT)
        fresh = False
        if slot is None:
            want = self.wants(entry)
            if want is None:
                return entry
            slot = {
                "backend": want.backend,
                "token": token(),
                "status": "opening",
                "claimed_at": stamp(self.clock()),
            }
            reopens = want.on_recurrence == "reopen" and self.backends[want.backend].reopens
            previous = self._previous(entry) if reopens else None
            if previous is not None and previous.backend == want.backend:
                # Decided in the claim, so every worker that repairs it reopens the same one.
                slot["reopen"] = {"id": previous.id, "url": previous.url, "ref": previous.ref}
            won = self.store.claim_attr(entry.key, SLOT, slot)
            if won is None:
                # Another worker holds the slot: it opens the ticket.
                return self._reread(entry)
            entry, fresh = won, True
        if slot["status"] in ("opening", "owed"):
            opened = self._open(entry, slot, fresh)
            if opened is None:
                return self._reread(entry)
            entry = opened
        return self._tell(entry)

    def _reread(self, entry: Entry) -> Entry:
        return self.store.get(entry.key) or entry

    def _open(self, entry: Entry, slot: dict[str, Any], fresh: bool) -> Entry | None:
        if not fresh:
            claimed = parse_stamp(slot["claimed_at"])
            if slot["status"] == "opening" and self.clock() - claimed < self.lease:
                return None
            again = {**slot, "status": "opening", "claimed_at": stamp(self.clock())}
            won = self.store.claim_attr(entry.key, SLOT, again, expected=slot)
            if won is None:
                return None
            entry, slot = won, again
        backend = self.backends[slot["backend"]]
        refused: TicketGone | None = None
        try:
            ref = self._reopen(entry, slot, backend) if "reopen" in slot else None
            if isinstance(ref, TicketGone):
                # Deleted, or closed for good: a new ticket, linked if it still exists.
                refused, ref = ref, None
            if ref is None:
                draft = self._draft(entry, slot)
                if refused is not None and not refused.exists:
                    draft = replace(draft, previous=None)
                # A repair first asks whether the lost attempt made the ticket after all.
                found = None if fresh else backend.find(draft)
                ref = found if found is not None else backend.create(draft)
        except Exception:
            self.store.claim_attr(entry.key, SLOT, {**slot, "status": "owed"}, expected=slot)
            raise
        opened = {**slot, "status": "open", "id": ref.id, "url": ref.url}
        if refused is not None:
            del opened["reopen"]
            opened["reopen_refused"] = str(refused)
        if ref.ref:
            opened["ref"] = ref.ref
        opened["told"] = len(entry.history)
        return self.store.claim_attr(entry.key, SLOT, opened, expected=slot)

    def _reopen(
        self, entry: Entry, slot: Mapping[str, Any], backend: TicketBackend
    ) -> TicketRef | TicketGone:
        """The previous occurrence's ticket, reopened for `entry`; or why it cannot be."""
        ref = TicketRef(slot["backend"], **slot["reopen"])
        try:
            self._take_over(entry)
            said = f"remedy: reopened: a new occurrence at {entry.created_at}"
            backend.reopen(ref, f"{said}\n{self._description(entry)}")
        except TicketGone as gone:
            return gone
        return ref

    def _take_over(self, entry: Entry) -> None:
        """The previous occurrence, if its ticket is still open, passes it on: from now on
        the newest occurrence's end resolves it, not the previous one's."""
        for _ in range(3):  # a step told meanwhile moves the slot: read it again
            before = self.store.get(entry.attrs[PREVIOUS])
            slot = before.attrs.get(SLOT) if before is not None else None
            if before is None or not isinstance(slot, dict) or slot.get("status") != "open":
                return
            passed = {**slot, "status": "passed", "to": entry.key}
            if self.store.claim_attr(before.key, SLOT, passed, expected=slot) is not None:
                return

    def _draft(self, entry: Entry, slot: Mapping[str, Any]) -> Draft:
        backend = self.backends[slot["backend"]]
        target = self.account(entry.account).tickets.get(backend.name)
        if not target or backend.target_field not in target:
            raise TicketError(
                f"accounts.yaml names no tickets.{backend.name}.{backend.target_field} for "
                f"account {entry.account}: add it to the account, its unit or default"
            )
        finding = entry.finding
        summary = f"{finding.get('title') or finding['type']} in {entry.account}"
        return Draft(
            summary=f"[remedy] {summary}",
            description=self._description(entry),
            finding=finding,
            severity=finding["severity"],
            target=target,
            token=slot["token"],
            previous=self._previous(entry),
        )

    @staticmethod
    def _description(entry: Entry) -> str:
        """The entry, the finding, the decision and the history so far."""
        finding = entry.finding
        lines = [
            f"remedy ledger entry {entry.key}: {entry.state.value}",
            f"{finding['severity']} {finding['product']} {finding['type']}",
            f"decision: {entry.decision.get('reason', '')}",
            *(step_text(step) for step in entry.history),
        ]
        return "\n".join(lines)

    def _previous(self, entry: Entry) -> TicketRef | None:
        key = entry.attrs.get(PREVIOUS)
        before = self.store.get(key) if isinstance(key, str) else None
        return ticket_of(before) if before is not None else None

    def _tell(self, entry: Entry) -> Entry:
        """One comment per history step not yet told; resolve once the entry ended."""
        slot = entry.attrs[SLOT]
        ref = ticket_of(entry)
        backend = self.backends[slot["backend"]]
        if ref is None or not backend.follows:
            return entry
        try:
            # Each write returns the entry as it now is: steps made meanwhile are told too.
            while slot["told"] < len(entry.history):
                backend.comment(ref, step_text(entry.history[slot["told"]]))
                moved = {**slot, "told": slot["told"] + 1}
                won = self.store.claim_attr(entry.key, SLOT, moved, expected=slot)
                if won is None:
                    # Another worker is telling the same steps.
                    return self._reread(entry)
                entry, slot = won, moved
            if slot["status"] == "open" and ended(entry):
                backend.resolve(ref, f"remedy: the entry ended {entry.state.value}; resolved")
                resolved = {**slot, "status": "resolved"}
                entry = self.store.claim_attr(entry.key, SLOT, resolved, expected=slot) or entry
        except TicketGone as gone:
            # Someone deleted or closed the ticket: nothing more can be told there.
            log.warning("ticket %s of %s no longer followed: %s", ref.id, entry.key, gone)
            stopped = {**slot, "status": "gone", "gone": str(gone)}
            return self.store.claim_attr(entry.key, SLOT, stopped, expected=slot) or entry
        return entry
