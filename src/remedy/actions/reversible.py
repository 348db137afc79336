"""Remediations that can be undone, and those that contain first and ask afterwards.

Every guard on a CloudTrail call or a Security Hub control records, in its outcome's
``attrs``, what it changed and what was there before; ``release`` puts that back. An
action with ``contain_first`` acts at once, whatever the rule's action, and the approver
then decides: approve undoes the containment (``release``), dismiss makes it final
(``finalise``). Both are idempotent: a second call finds the work done and says so.

The pipeline's side, for an action that is a `ReversibleAction`:

- decision ``quarantine``: ``run``; the outcome's state and attrs go to the ledger.
- decision ``approve`` and not ``contain_first``: ask; on approve ``run``.
- decision ``approve`` and ``contain_first``: ``run`` now; if the outcome is QUARANTINED,
  ask; approve -> ``release(finding, entry.attrs)`` then RELEASED; dismiss ->
  ``finalise(finding, entry.attrs)``, merging the returned attrs, state unchanged.
- ``remedy release KEY`` on a QUARANTINED entry: ``release(finding, entry.attrs)``.

``release`` and ``finalise`` return an `Undo` (a sentence for the ledger history and facts
to merge) or raise `ActionFailed` carrying the state-like verdict (DENIED, FAILED, GONE)
and a reason; nothing is changed in the ledger by the action itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from remedy.actions.registry import RemediationAction
from remedy.errors import RemedyError
from remedy.ledger.base import State
from remedy.model import Finding


@dataclass(frozen=True, slots=True)
class Undo:
    """What ``release`` or ``finalise`` did."""

    reason: str
    attrs: dict[str, Any] = field(default_factory=dict)


class ActionFailed(RemedyError):
    """``release`` or ``finalise`` could not be done; `state` says which way it failed."""

    def __init__(self, state: State, reason: str) -> None:
        self.state = state
        self.reason = reason
        super().__init__(reason)


class ReversibleAction(RemediationAction):
    #: Act at once even when the rule asks for approval; approval then restores.
    contain_first: ClassVar[bool] = False

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        """Put back what ``run`` changed, from the attrs its outcome recorded."""
        raise NotImplementedError(f"remediation action {self.name!r} cannot be released")

    def finalise(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        """The approver kept the containment; by default nothing more is done."""
        return Undo("containment kept")
