"""Tickets as one part of the notifier: told of every change wherever it is made.

The pipeline, the approvals, the deadlines and ``remedy release`` already tell the
notifier (`remedy.notify.composite`) of every state change, so the ticket follows the
entry from there. This part goes first and hands the entry, with its ticket recorded, to
Slack and the owners' email, whose messages then link to it. Where a person waits on the
answer (a Slack click, an approval page) the call is not made in line: the ticket is
owed and the scheduled outbox function sends it within minutes. And where a remediation
starts (QUARANTINING), the ticket is held until it has run (its next change, or the end
of the invocation), so a slow ticket system never delays a remediation.
"""

from __future__ import annotations

import time
from typing import Any

from remedy.ledger.base import Entry, LedgerStore, State
from remedy.notify.outbox import TICKET_OUTBOX_PK, SlackOutbox
from remedy.policy.accounts import Accounts
from remedy.settings import Settings
from remedy.tickets.lifecycle import SLOT, Tickets

#: Seconds between two re-sends of the owed tickets from one warm function.
FLUSH_INTERVAL = 60.0
FLUSH_BATCH = 10
DEFERRED = "deferred: changed where a person waits on the answer; the outbox sends it"
HELD = "held: sent once the remediation that has started has run"


def configured(settings: Settings, accounts: Accounts) -> bool:
    """Whether tickets are set up: a ticket system's site, or a target in accounts.yaml
    (Security Hub's connectors need no site)."""
    return bool(settings.jira_site or settings.servicenow_instance or accounts.ticket_backends)


def build_tickets(
    settings: Settings, accounts: Accounts, store: LedgerStore, session: Any, *, aws: bool = True
) -> Tickets:
    """`aws` false: only the back ends that need no AWS permission (the scheduled outbox
    function is granted none; the findings and remediator functions send the others)."""
    from remedy.tickets import build

    secrets = session.client("secretsmanager")
    return Tickets(
        store,
        build(settings, secrets_client=secrets, session=session, aws=aws),
        accounts.get,
        SlackOutbox(session.client("dynamodb"), settings.ledger_table, pk=TICKET_OUTBOX_PK),
    )


class TicketNotifier:
    def __init__(self, tickets: Tickets, *, defer: bool = False) -> None:
        self.tickets = tickets
        self.defer = defer
        self._flushed = -FLUSH_INTERVAL
        #: Keys whose ticket waits for the remediation this function has started.
        self._held: dict[str, None] = {}

    def on_change(self, entry: Entry) -> Entry:
        held = self.defer or entry.state is State.QUARANTINING
        if not held:
            self._held.pop(entry.key, None)
            return self.tickets.follow(entry)
        if SLOT in entry.attrs or self.tickets.wants(entry) is not None:
            # Owed, not only remembered: if the function dies here, the outbox sends it.
            if not self.defer:
                self._held[entry.key] = None
            return self.tickets.owe(entry, DEFERRED if self.defer else HELD, tried=False)
        return entry

    def flush(self) -> None:
        if self.defer:
            return
        held, self._held = list(self._held), {}
        for key in held:  # a remediation that ended without a change (it raised)
            entry = self.tickets.store.get(key)
            if entry is not None:
                self.tickets.follow(entry)
        if time.monotonic() - self._flushed < FLUSH_INTERVAL:
            return
        self._flushed = time.monotonic()
        self.tickets.retry_owed(FLUSH_BATCH)
