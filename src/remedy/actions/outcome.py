"""What one remediation attempt ended in: a ledger outcome state, a reason, the facts.

The reason is written for the person who reads the Slack message or the ledger: what
happened, where, and what to do next. ``attrs`` are merged into the ledger entry
(``destination`` names where the object went; notifiers link to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from remedy.ledger.base import OUTCOMES, State

# Which state speaks for several objects of one finding: the one needing most attention.
_PRECEDENCE: tuple[State, ...] = (
    State.FAILED,
    State.DENIED,
    State.LOCKED,
    State.ARCHIVED,
    State.CHANGED,
    State.GONE,
    State.QUARANTINED,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    reason: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in OUTCOMES:
            raise ValueError(f"{self.state.value} is not a remediation outcome")


def combine(outcomes: Iterable[Outcome]) -> Outcome:
    """One outcome for a finding naming several objects: the most pressing state, every
    reason, and each object's own attrs under ``objects``."""
    items = list(outcomes)
    if len(items) == 1:
        return items[0]
    if not items:
        return Outcome(State.FAILED, "the finding names no object this remediation acts on")
    state = min((o.state for o in items), key=_PRECEDENCE.index)
    attrs: dict[str, Any] = {"objects": [o.attrs for o in items]}
    first = next((o for o in items if "destination" in o.attrs), None)
    if first is not None:
        attrs["destination"] = first.attrs["destination"]
    return Outcome(state, "; ".join(o.reason for o in items), attrs)
