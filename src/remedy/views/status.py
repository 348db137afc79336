"""``remedy status``: what waits for a person right now, from the ledger and the queues.

Pending approvals (oldest first, with who may approve), entries in an outcome a person
must look at (`remedy.ledger.indexes.NEEDS_PERSON`), the Slack messages still owed
(`remedy.notify.outbox`) and the dead-letter queues' depths. Everything is read with
boto3 through the ledger's ``attention`` index and SQS, so it costs what the answer
holds, on AWS and on the demo's local AWS alike. The dry runs of the last week
(`remedy.rails`) are read through the same index, apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remedy.ledger.base import Entry, State, parse_stamp
from remedy.ledger.indexes import DRY_RUN, PENDING
from remedy.ledger.queries import LedgerQueries
from remedy.ledger.times import age, waiting_since
from remedy.notify.facts import resource_label, state_note, status_of
from remedy.notify.outbox import SlackOutbox
from remedy.policy.accounts import Accounts

#: The dead-letter queues template.yaml declares, by their name after ``${Prefix}-``.
DEAD_LETTER_QUEUES = ("findings-dlq", "events-dlq", "remediator-dlq")


@dataclass(frozen=True, slots=True)
class Waiting:
    """One ledger entry a person must act on."""

    key: str
    why: str
    state: str
    since: str
    age_seconds: int
    account: str
    account_name: str
    severity: str
    finding_type: str
    resources: tuple[str, ...]
    status: str
    note: str
    #: Who may decide (pending approvals only): Slack user ids and user group.
    approvers: tuple[str, ...] = ()
    #: Attempts at the remediation so far (how often it entered QUARANTINING).
    attempts: int = 0
    #: The last approval deadline period announced again (`remedy.approvals.deadlines`).
    reminders: int = 0


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    depth: int | None
    #: Why the depth is unknown (the queue is missing or unreadable), else "".
    error: str = ""


@dataclass(frozen=True, slots=True)
class DryRuns:
    """Dry-run entries of one rule in one account (`remedy.rails`): what would have been
    done, how often, and the latest entry to read the plan of."""

    rule: str
    account: str
    would: str
    count: int
    latest: str


#: How far back ``remedy status`` reads dry runs: a team's trial week.
DRY_RUN_DAYS = 7


@dataclass
class Status:
    pending: list[Waiting] = field(default_factory=list)
    attention: list[Waiting] = field(default_factory=list)
    slack_owed: int = 0
    #: Tickets owed to the ticket system (`remedy.tickets`); TicketsOwedAlarm watches them.
    tickets_owed: int = 0
    queues: list[QueueDepth] = field(default_factory=list)
    #: Dry runs of the last `DRY_RUN_DAYS`: apart from real outcomes, never a person's task.
    dry_runs: list[DryRuns] = field(default_factory=list)

    @property
    def needs_person(self) -> bool:
        """Something a person must do: decide, look at an outcome, or drain a DLQ (an
        unreadable queue counts: nobody knows it is empty). Slack messages owed are
        re-sent by remedy itself (SlackOwedAlarm fires when that keeps failing)."""
        return bool(
            self.pending
            or self.attention
            or any(q.depth != 0 for q in self.queues)  # None (unknown) counts
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "needs_person": self.needs_person,
            "pending_approvals": [asdict(w) for w in self.pending],
            "needs_attention": [asdict(w) for w in self.attention],
            "slack_messages_owed": self.slack_owed,
            "tickets_owed": self.tickets_owed,
            "dead_letter_queues": [asdict(q) for q in self.queues],
            "dry_runs": [asdict(d) for d in self.dry_runs],
        }


def waiting(entry: Entry, accounts: Accounts, now: datetime) -> Waiting:
    info = accounts.get(entry.account)
    since = waiting_since(entry)
    pending = entry.state.value == PENDING or bool(entry.attrs.get("awaiting_approval"))
    approvers = (
        (*info.approvers.users, *((info.approvers.usergroup,) if info.approvers.usergroup else ()))
        if pending
        else ()
    )
    return Waiting(
        key=entry.key,
        why=PENDING if pending else entry.state.value,
        state=entry.state.value,
        since=since,
        age_seconds=max(0, int((now - parse_stamp(since)).total_seconds())),
        account=entry.account,
        account_name=info.name,
        severity=str(entry.finding.get("severity", "")),
        finding_type=str(entry.finding.get("type", "")),
        resources=tuple(resource_label(r) for r in entry.finding.get("resources") or ()),
        status=status_of(entry),
        note=state_note(entry),
        approvers=approvers,
        attempts=sum(1 for h in entry.history if h.target == "QUARANTINING"),
        reminders=int(entry.attrs.get("reminders") or 0),
    )


def queue_depths(sqs: Any, names: Iterable[str]) -> list[QueueDepth]:
    out = []
    for name in names:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        except (ClientError, BotoCoreError) as error:
            out.append(QueueDepth(name, None, f"cannot read the queue: {error}"))
            continue
        depth = sum(int(attributes.get(a, 0)) for a in attributes)
        out.append(QueueDepth(name, depth))
    return out


def status(
    queries: LedgerQueries,
    outbox: SlackOutbox,
    sqs: Any,
    accounts: Accounts,
    queue_names: Iterable[str],
    now: datetime,
    tickets: SlackOutbox | None = None,
) -> Status:
    result = Status()
    for entry in queries.attention():
        item = waiting(entry, accounts, now)
        (result.pending if item.why == PENDING else result.attention).append(item)
    # Oldest first: the one waiting longest is the one to look at.
    result.pending.sort(key=lambda w: w.since)
    result.attention.sort(key=lambda w: w.since)
    result.slack_owed = outbox.count()
    result.tickets_owed = tickets.count() if tickets is not None else 0
    result.queues = queue_depths(sqs, queue_names)
    result.dry_runs = dry_runs(queries.waiting(DRY_RUN, now - timedelta(days=DRY_RUN_DAYS)))
    return result


def dry_runs(entries: Iterable[Entry]) -> list[DryRuns]:
    """The DRY_RUN entries among `entries`, by rule and account, most first."""
    groups: dict[tuple[str, str, str], list[Entry]] = {}
    for entry in entries:
        if entry.state is not State.DRY_RUN:
            continue
        plan = entry.attrs.get("dry_run") or {}
        would = f"{plan.get('remediation')}: {plan.get('would')}"
        groups.setdefault((str(entry.decision.get("rule")), entry.account, would), []).append(entry)
    out = [
        DryRuns(rule, account, would, len(found), max(found, key=lambda e: e.created_at).key)
        for (rule, account, would), found in groups.items()
    ]
    return sorted(out, key=lambda d: (-d.count, d.rule, d.account))


def render(result: Status, table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]) -> str:
    """The terminal view; `table(headers, rows)` lays out one table."""
    parts = []
    pending_rows = [
        (
            age(w.age_seconds),
            f"{w.account_name} ({w.account})",
            f"{w.severity} {w.finding_type}",
            "; ".join(w.resources),
            ", ".join(w.approvers) or "-",
            w.key,
        )
        for w in result.pending
    ]
    parts.append(f"Pending approvals: {len(result.pending)}")
    if pending_rows:
        parts.append(
            table(("age", "account", "finding", "resource", "may approve", "key"), pending_rows)
        )
    attention_rows = [
        (
            w.state,
            age(w.age_seconds),
            f"{w.account_name} ({w.account})",
            "; ".join(w.resources),
            str(w.attempts),
            w.note,
            w.key,
        )
        for w in result.attention
    ]
    parts.append(f"Needs a person: {len(result.attention)}")
    if attention_rows:
        parts.append(
            table(("state", "age", "account", "resource", "attempts", "why", "key"), attention_rows)
        )
    parts.append(f"Slack messages owed: {result.slack_owed}")
    parts.append(f"Tickets owed: {result.tickets_owed}")
    parts.append(
        table(
            ("dead-letter queue", "messages"),
            [(q.name, str(q.depth) if q.depth is not None else q.error) for q in result.queues],
        )
    )
    if result.dry_runs:
        parts.append(
            f"Dry runs, last {DRY_RUN_DAYS} days (nothing was done): "
            f"{sum(d.count for d in result.dry_runs)}"
        )
        parts.append(
            table(
                ("rule", "account", "would have", "findings", "latest key"),
                [(d.rule, d.account, d.would, str(d.count), d.latest) for d in result.dry_runs],
            )
        )
    verdict = "something needs a person" if result.needs_person else "nothing needs a person"
    parts.append(verdict)
    return "\n".join(parts)
