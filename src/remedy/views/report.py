"""``remedy report``: what happened in a period, and how fast, as plain data.

The report covers the findings whose ledger entry was created in the period, as they
stood at its end (an entry's state then is its last history step at or before it). It
reads the ledger through the ``activity`` index (`LedgerQueries.touched`): an entry
created in the period was last written at or after its start. Rendering is
`remedy.views.report_html`'s.

Durations:

time to remediate
    from the finding's creation (as its product dated it, else the entry's) to the
    entry's first step into QUARANTINED, as the ``TimeToRemediate`` metric measures it;
time approvals waited
    from a step into PENDING_APPROVAL to the step out of it (APPROVED or DISMISSED).
    Approvals still waiting at the period's end are counted apart.

Tickets (`remedy.tickets`): each entry of the period that has a ticket or owes one, as
the ledger holds it now (not as at the period's end: a ticket's id and status are
bookkeeping, not history).

Percentiles are nearest-rank: p90 is the smallest duration that at least 90% of the
durations do not exceed, so it is always one that was measured.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from remedy.ledger.base import Entry, State, parse_stamp
from remedy.ledger.queries import LedgerQueries
from remedy.ledger.times import time_to_remediate
from remedy.notify.facts import resource_label
from remedy.policy.accounts import Accounts
from remedy.tickets.lifecycle import OWED, SLOT

DEFAULT_PERIOD = timedelta(days=30)
#: How many accounts and resources the "top" tables list.
TOP = 10
#: The steps that end an approval's wait.
VERDICTS = frozenset({State.APPROVED.value, State.DISMISSED.value})


class BadPeriod(ValueError):
    """The period's start is after its end."""


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since > self.until:
            raise BadPeriod(
                f"--since {self.since.isoformat()} is after --until {self.until.isoformat()}"
            )

    def days(self) -> list[date]:
        """Every UTC day the period touches, first to last."""
        first, last = self.since.astimezone(UTC).date(), self.until.astimezone(UTC).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def holds(self, at: str) -> bool:
        return self.since <= parse_stamp(at) <= self.until


@dataclass(frozen=True, slots=True)
class Durations:
    """Measured durations in seconds, sorted, with their nearest-rank p50 and p90."""

    seconds: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Iterable[float]) -> Durations:
        return cls(tuple(sorted(values)))

    def percentile(self, p: int) -> float | None:
        if not self.seconds:
            return None
        return self.seconds[max(0, math.ceil(p / 100 * len(self.seconds)) - 1)]

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p90(self) -> float | None:
        return self.percentile(90)


@dataclass(frozen=True, slots=True)
class Wait:
    """One approval's wait: which entry, where, how long, and how it ended."""

    key: str
    account: str
    seconds: float
    verdict: str


@dataclass(frozen=True, slots=True)
class Ticket:
    """An entry's ticket: its id and link once opened, and what is owed, if anything."""

    key: str
    account: str
    backend: str
    #: open, resolved, passed, gone (deleted or closed by hand), or (no id yet) opening or owed.
    status: str
    id: str = ""
    url: str = ""
    #: The ticket system's last answer, while a call to it is owed.
    owed: str = ""


def ticket_of(entry: Entry, account: str) -> Ticket | None:
    slot = entry.attrs.get(SLOT)
    owed = str(entry.attrs.get(OWED) or "")
    if not isinstance(slot, dict) and not owed:
        return None
    slot = slot if isinstance(slot, dict) else {}
    return Ticket(
        entry.key,
        account,
        str(slot.get("backend") or ""),
        str(slot.get("status") or "owed"),
        str(slot.get("id") or ""),
        str(slot.get("url") or ""),
        owed,
    )


@dataclass
class Report:
    period: Period
    #: Findings received per UTC day (every day of the period), by decision action.
    per_day: dict[date, Counter[str]] = field(default_factory=dict)
    #: The state entries were in at the period's end, by account label and finding type.
    by_account: dict[str, Counter[str]] = field(default_factory=dict)
    by_type: dict[str, Counter[str]] = field(default_factory=dict)
    remediate: Durations = field(default_factory=Durations)
    waits: list[Wait] = field(default_factory=list)
    #: Approvals still waiting at the period's end.
    still_pending: int = 0
    #: The accounts and resources with most findings, most first (`TOP` each).
    top_accounts: list[tuple[str, int]] = field(default_factory=list)
    top_resources: list[tuple[str, int]] = field(default_factory=list)
    #: Entries with a ticket or owing one, in the order they were created.
    tickets: list[Ticket] = field(default_factory=list)

    @property
    def tickets_owed(self) -> list[Ticket]:
        return [t for t in self.tickets if t.owed]

    @property
    def findings(self) -> int:
        return sum(sum(c.values()) for c in self.per_day.values())

    @property
    def decisions(self) -> list[str]:
        """Every decision action seen, most frequent first."""
        return ranked(self.per_day.values())

    @property
    def waited(self) -> Durations:
        return Durations.of(w.seconds for w in self.waits)


def state_at(entry: Entry, until: datetime) -> str:
    """The entry's state at `until`: its last history step up to then."""
    if parse_stamp(entry.updated_at) <= until:
        return entry.state.value
    steps = [h.target for h in entry.history if parse_stamp(h.at) <= until]
    return steps[-1] if steps else entry.state.value


def remediated_in(entry: Entry, until: datetime) -> float | None:
    """Seconds from the finding's creation to its first QUARANTINED, if by `until`."""
    done = next((h.at for h in entry.history if h.target == State.QUARANTINED.value), None)
    if done is None or parse_stamp(done) > until:
        return None
    # The metric is measured on the entry as that step wrote it (updated_at = the step).
    return time_to_remediate(replace(entry, updated_at=done))


def approval_waits(entry: Entry, until: datetime) -> tuple[list[Wait], bool]:
    """The entry's approval waits decided by `until`, and whether one was still open."""
    waits, asked = [], None
    for step in entry.history:
        if parse_stamp(step.at) > until:
            break
        if step.target == State.PENDING_APPROVAL.value:
            asked = step.at
        elif asked is not None and step.target in VERDICTS:
            seconds = (parse_stamp(step.at) - parse_stamp(asked)).total_seconds()
            waits.append(Wait(entry.key, entry.account, seconds, step.target))
            asked = None
    return waits, asked is not None


def account_label(accounts: Accounts, account: str) -> str:
    return f"{accounts.get(account).name} ({account})"


def compute(entries: Iterable[Entry], accounts: Accounts, period: Period) -> Report:
    """The report of `entries` (any superset of those created in `period`)."""
    report = Report(period, per_day={day: Counter() for day in period.days()})
    accounts_seen: Counter[str] = Counter()
    resources_seen: Counter[str] = Counter()
    remediate = []
    tickets: list[tuple[str, Ticket]] = []
    for entry in entries:
        if not entry.created_at or not period.holds(entry.created_at):
            continue
        created = parse_stamp(entry.created_at).astimezone(UTC)
        action = str(entry.decision.get("action", "unknown"))
        if entry.state is State.DRY_RUN:
            # What a dry-run rule would have done, apart from what was done.
            action += " (dry run)"
        report.per_day[created.date()][action] += 1
        label = account_label(accounts, entry.account)
        state = state_at(entry, period.until)
        report.by_account.setdefault(label, Counter())[state] += 1
        finding_type = str(entry.finding.get("type") or "unknown")
        report.by_type.setdefault(finding_type, Counter())[state] += 1
        accounts_seen[label] += 1
        resources_seen.update(
            {resource_label(r) for r in entry.finding.get("resources") or () if r}
        )
        if (seconds := remediated_in(entry, period.until)) is not None:
            remediate.append(seconds)
        waits, pending = approval_waits(entry, period.until)
        report.waits += waits
        report.still_pending += pending
        if (ticket := ticket_of(entry, label)) is not None:
            tickets.append((entry.created_at, ticket))
    report.remediate = Durations.of(remediate)
    report.waits.sort(key=lambda w: w.seconds)
    report.top_accounts = _top(accounts_seen)
    report.top_resources = _top(resources_seen)
    report.tickets = [t for _, t in sorted(tickets, key=lambda ct: (ct[0], ct[1].key))]
    return report


def _top(counts: Counter[str]) -> list[tuple[str, int]]:
    # Ties by name, so the same ledger always gives the same table.
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def read(queries: LedgerQueries, accounts: Accounts, period: Period) -> Report:
    """The report of `period`, read through the ledger's ``activity`` index."""
    return compute(queries.touched(period.since), accounts, period)


def totals(counters: Iterable[Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counts in counters:
        total.update(counts)
    return total


def ranked(counters: Iterable[Counter[str]]) -> list[str]:
    """Every name counted in `counters`, most frequent first (a chart's stacking order)."""
    return [name for name, _ in totals(counters).most_common()]
