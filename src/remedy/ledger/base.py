"""The ledger's state machine, independent of where it is stored.

One entry per finding key. Every state change names the states it may start from and is
applied by the store as one conditional write, so duplicate deliveries, double clicks and
concurrent approvers resolve to exactly one winner; the losers get `Conflict` carrying
the state they lost to. The store (``remedy.ledger.dynamodb``) knows DynamoDB's wire
format; this module knows none of it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from remedy.errors import RemedyError


class State(StrEnum):
    RECEIVED = "RECEIVED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    DISMISSED = "DISMISSED"
    QUARANTINING = "QUARANTINING"
    # Outcomes of a remediation attempt.
    QUARANTINED = "QUARANTINED"
    GONE = "GONE"
    CHANGED = "CHANGED"
    LOCKED = "LOCKED"
    ARCHIVED = "ARCHIVED"
    DENIED = "DENIED"
    FAILED = "FAILED"
    # Decisions that end without remediation.
    NOTIFIED = "NOTIFIED"
    IGNORED = "IGNORED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"
    #: A dry run (`remedy.rails.dry_run`): what would have been done is recorded, not done.
    DRY_RUN = "DRY_RUN"


OUTCOMES: frozenset[State] = frozenset(
    {
        State.QUARANTINED,
        State.GONE,
        State.CHANGED,
        State.LOCKED,
        State.ARCHIVED,
        State.DENIED,
        State.FAILED,
    }
)

# Outcomes after which a redelivery or a retry may try again.
RETRYABLE: frozenset[State] = frozenset({State.FAILED, State.DENIED, State.ARCHIVED})

# The only moves the ledger allows: from -> the states it may go to.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.RECEIVED: frozenset(
        {
            State.PENDING_APPROVAL,
            State.QUARANTINING,
            State.NOTIFIED,
            State.IGNORED,
            State.REJECTED,
            State.DRY_RUN,
        }
    ),
    State.PENDING_APPROVAL: frozenset({State.APPROVED, State.DISMISSED}),
    State.APPROVED: frozenset({State.QUARANTINING}),
    # QUARANTINING -> QUARANTINING lets a redelivery take over an attempt that crashed.
    State.QUARANTINING: OUTCOMES | {State.QUARANTINING},
    State.QUARANTINED: frozenset({State.RELEASED}),
    **{s: frozenset({State.QUARANTINING}) for s in RETRYABLE},
    State.GONE: frozenset(),
    State.CHANGED: frozenset(),
    State.LOCKED: frozenset(),
    State.DISMISSED: frozenset(),
    State.NOTIFIED: frozenset(),
    State.IGNORED: frozenset(),
    State.REJECTED: frozenset(),
    State.RELEASED: frozenset(),
    State.DRY_RUN: frozenset(),
}


class Conflict(RemedyError):
    """A conditional write lost: the entry was not in any of the expected states."""

    def __init__(self, key: str, expected: Iterable[State], actual: State | None) -> None:
        self.key = key
        self.expected = frozenset(expected)
        self.actual = actual
        names = ", ".join(sorted(s.value for s in self.expected))
        super().__init__(
            f"ledger entry {key}: expected state in [{names}], found "
            f"{actual.value if actual else 'no entry'}"
        )


class Taken(Conflict):
    """A conditional `LedgerStore.annotate` lost: the entry is in the state, but the
    attribute it required no longer holds (someone else took the question first)."""

    def __init__(self, key: str, state: State, actual: State | None, name: str) -> None:
        super().__init__(key, [state], actual)
        self.name = name
        self.args = (
            f"ledger entry {key}: attrs.{name} no longer holds (already taken); "
            f"the entry is {actual.value if actual else 'gone'}",
        )


class IllegalTransition(RemedyError):
    def __init__(self, source: State, target: State) -> None:
        super().__init__(f"ledger: {source.value} -> {target.value} is not a legal transition")


@dataclass(frozen=True, slots=True)
class HistoryItem:
    at: str
    by: str
    source: str
    target: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry. ``finding`` and ``decision`` are the JSON snapshots (``to_dict``)."""

    key: str
    state: State
    account: str
    region: str
    finding: dict[str, Any]
    decision: dict[str, Any]
    created_at: str
    updated_at: str
    attrs: dict[str, Any] = field(default_factory=dict)
    history: tuple[HistoryItem, ...] = ()
    #: Bumped by every transition (not by `update_attrs`); `LedgerStore.transition` can
    #: require it unchanged.
    version: int = 0


def stamp(moment: datetime) -> str:
    """The ledger's timestamps: ISO 8601 UTC to the millisecond, ``Z``-suffixed."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(at: str) -> datetime:
    """A ledger timestamp (`stamp`'s, or a finding's ISO 8601 time) as a datetime."""
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def is_terminal(state: State) -> bool:
    """No transition leaves `state`: the entry's story is over."""
    return not TRANSITIONS[state]


def check_transition(expected: Iterable[State], target: State) -> None:
    """Refuse, before any write, a change the state machine does not allow."""
    for source in expected:
        if target not in TRANSITIONS[source]:
            raise IllegalTransition(source, target)


class LedgerStore(abc.ABC):
    """Persistence of ledger entries. Every write is conditional."""

    @abc.abstractmethod
    def get(self, key: str) -> Entry | None: ...

    @abc.abstractmethod
    def create(self, entry: Entry) -> tuple[bool, Entry]:
        """Write `entry` if no entry has its key, in one conditional write.

        Returns ``(True, entry)`` when written, else ``(False, the stored entry)``: a
        duplicate delivery learns what became of the first without a second read.
        `entry` may start in any state RECEIVED may move to (the decision is known before
        the first write); `IllegalTransition` (before writing) otherwise.
        """

    @abc.abstractmethod
    def transition(
        self,
        key: str,
        expected: Iterable[State],
        target: State,
        *,
        by: str,
        note: str = "",
        attrs: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Entry:
        """Move `key` from one of `expected` to `target`, merging `attrs`, appending history.

        Raises `Conflict` when the entry is in none of the expected states (or, with
        `expected_version`, was written since that version was read), and
        `IllegalTransition` (before writing) when the state machine forbids the move.
        """

    @abc.abstractmethod
    def update_attrs(self, key: str, attrs: Mapping[str, Any]) -> Entry:
        """Merge `attrs` (e.g. the Slack message ts) without changing state.

        The version is left alone: such bookkeeping must not void the claim of a worker
        that holds the entry (`transition`'s `expected_version`). `Conflict` if no entry.
        """

    @abc.abstractmethod
    def claim_attr(self, key: str, name: str, value: Any, *, expected: Any = None) -> Entry | None:
        """Set ``attrs[name]`` to `value` only while it is `expected` (None: absent).

        One conditional write: of callers racing for the same slot (a ticket to open),
        exactly one gets the entry back; the others get None. Neither state nor version
        changes. `Conflict` if there is no entry.
        """

    @abc.abstractmethod
    def annotate(
        self,
        key: str,
        state: State,
        when: tuple[str, Any],
        attrs: Mapping[str, Any],
        *,
        by: str,
        note: str | None,
        also: Iterable[tuple[str, Any]] = (),
    ) -> Entry:
        """Merge `attrs` and append a history note (from `state` to `state`; none when
        `note` is None, for a count that would otherwise grow the history without bound),
        only while the entry is in `state` and ``attrs[when[0]] == when[1]`` (or, with
        ``when[1]`` None, while ``attrs`` has no `when[0]` yet), and so for every pair in
        `also`: one conditional write.

        Not a transition: the state and version stay, so the state machine is untouched.
        It claims a question an entry asks without leaving its state (a contained entry's
        ``awaiting_approval``): of two callers at once, one wins and the other gets `Taken`
        (a `Conflict`); `Conflict` also when the entry is missing or in another state.
        """
