"""What a policy change would have done: stored findings decided again by both policies.

The ledger keeps each finding's snapshot (`remedy.model.Finding.to_dict`, the inverse of
`Finding.from_dict`): everything `remedy.policy.decide` reads (source, product, type,
severity, account, envelope account, resources, parameters). `replay` reads each one
back, decides it with the live policy and with the candidate, and keeps every finding
whose decision differs in its action, its rule or its remediation. What cannot be
decided again (an event that could not be read into a finding) is counted, not guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remedy.model import Decision, Finding
from remedy.policy import Policy, decide


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    account: str
    resource: str
    old: Decision
    new: Decision

    @property
    def kind(self) -> str:
        """``notify -> quarantine``, or ``notify (rule a -> rule b)`` when only the rule moved."""
        old, new = self.old, self.new
        if old.action is new.action and old.remediation == new.remediation:
            return f"{old.action.value} (other rule)"
        return f"{_said(old)} -> {_said(new)}"


def _said(decision: Decision) -> str:
    if decision.remediation and decision.remediation != decision.action.value:
        return f"{decision.action.value} {decision.remediation}"
    return decision.action.value


@dataclass
class Replay:
    replayed: int = 0
    #: Stored entries that hold no finding to decide (an unreadable event's raw text).
    not_replayable: int = 0
    changes: list[Change] = field(default_factory=list)

    @property
    def by_kind(self) -> Counter[str]:
        return Counter(change.kind for change in self.changes)


def _same(old: Decision, new: Decision) -> bool:
    return (old.action, old.rule, old.remediation) == (new.action, new.rule, new.remediation)


def _resource(finding: Finding) -> str:
    if not finding.resources:
        return ""
    first = finding.resources[0]
    if first.bucket and first.key:
        return f"s3://{first.bucket}/{first.key}"
    return first.id


def replay(
    snapshots: Iterable[tuple[str, Mapping[str, Any]]],
    old: Policy,
    new: Policy,
    *,
    tick: Callable[[], None] | None = None,
) -> Replay:
    """Decide every ``(ledger key, finding snapshot)`` with `old` and `new`; `tick` is
    called once per snapshot (a progress bar)."""
    result = Replay()
    changes = result.changes
    for key, snapshot in snapshots:
        if tick is not None:
            tick()
        try:
            finding = Finding.from_dict(dict(snapshot))
        except (KeyError, ValueError, TypeError):
            result.not_replayable += 1
            continue
        result.replayed += 1
        before, after = decide(finding, old), decide(finding, new)
        if not _same(before, after):
            changes.append(Change(key, finding.account, _resource(finding), before, after))
    return result
