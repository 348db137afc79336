"""``remedy history``: the audit trail, one row per decision or state change.

Every ledger entry carries its history (`remedy.ledger.base.HistoryItem`: when, by whom,
from which state to which, why). This view flattens the history of the entries written
in a period (read through the ``account-time`` or ``activity`` index, or one entry by its
key), keeps the steps in the period that pass the filters, and says how each was made:
``slack`` (a Slack user, ``slack:<id>``), ``email`` (the owners' signed link), ``system``
(remedy on its own) or ``cli`` (anyone else: ``remedy release`` records its caller).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, astuple, dataclass, fields
from datetime import datetime

from remedy.ledger.base import Entry, parse_stamp
from remedy.ledger.vocabulary import EMAIL_ACTOR, SYSTEM_ACTOR
from remedy.notify.facts import SLACK_ACTOR
from remedy.policy.accounts import Accounts
from remedy.views.terminal import printable


def how(by: str) -> str:
    """How a step was made, from its ``by``."""
    if by == SYSTEM_ACTOR:
        return "system"
    if by.startswith(SLACK_ACTOR):
        return "slack"
    if by == EMAIL_ACTOR:
        return "email"
    return "cli"


@dataclass(frozen=True, slots=True)
class Step:
    at: str
    key: str
    account: str
    account_name: str
    source: str
    target: str
    by: str
    how: str
    why: str
    #: The URL of the ticket that follows the entry (`remedy.tickets`), if it has one.
    ticket: str = ""


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None
    by: str | None = None

    def keep(self, step: Step) -> bool:
        at = parse_stamp(step.at)
        return (
            (self.since is None or at >= self.since)
            and (self.until is None or at <= self.until)
            and (self.state is None or step.target == self.state)
            # A person is named by their id (slack:U123), email-link, an ARN, or how.
            and (self.by is None or self.by in (step.by, step.how))
        )


def steps(entries: Iterable[Entry], accounts: Accounts, filters: Filters) -> list[Step]:
    """The history steps of `entries` that pass `filters`, oldest first."""
    out = []
    for entry in entries:
        name = accounts.get(entry.account).name
        ticket = entry.attrs.get("ticket")
        url = str(ticket.get("url") or "") if isinstance(ticket, dict) else ""
        for item in entry.history:
            step = Step(
                at=item.at,
                key=entry.key,
                account=entry.account,
                account_name=name,
                source=item.source,
                target=item.target,
                by=item.by,
                how=how(item.by),
                why=item.note,
                ticket=url,
            )
            if filters.keep(step):
                out.append(step)
    out.sort(key=lambda s: (s.at, s.key))
    return out


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Step))


def as_rows(found: Iterable[Step]) -> Iterator[tuple[str, ...]]:
    for step in found:
        yield tuple(str(v) for v in astuple(step))


def as_csv(found: Iterable[Step]) -> str:
    """RFC 4180 CSV with a header row (CRLF line ends, quoted where needed), as
    spreadsheets open it; a cell starting like a formula is prefixed with ``'`` so a
    finding's text cannot run as one (CSV injection), and control characters are escaped
    (`remedy.views.terminal`): the CSV is read in terminals too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in as_rows(found):
        row = tuple(printable(c) for c in row)
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in row])
    return buffer.getvalue()


def as_dicts(found: Iterable[Step]) -> list[dict[str, str]]:
    return [asdict(step) for step in found]
