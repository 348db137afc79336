"""Occurrences: when a finding whose key is already in the ledger is a new one.

A dedupe key names a problem at a place (`remedy.normalise.keys`), and one place has
occurrences: a new object written at the same key (a nightly export), a control that
Security Hub reopens under the same ``Id`` after it was fixed, a Macie policy finding whose
count rises, or the real finding after a copy remedy ignored or rejected. The entry under
the key is the first occurrence; later ones get ``<key>.2``, ``<key>.3``, ... each its own
entry with its own history, linked to the one before (``attrs.previous_occurrence``), so
an operator sees it is the Nth and `remedy release` acts on the one it names.

A finding opens a new occurrence only when its decision acts (quarantine, approve,
notify) and, against the occurrence it belongs with (for an object: the one that saw the
same bytes, found through the first entry's ``attrs["object:<version or ETag>"]``; else
the newest),

- it saw other bytes at the object's key (version id or ETag differ): another object,
  whatever became of the first; or
- that occurrence did not act (IGNORED or REJECTED): an ignored or untrusted copy that
  came first must never pre-empt the real finding (a later actionable decision takes over
  as a new entry, so the ignored one keeps its record); or
- that occurrence is closed (nothing more will happen to it) and the same finding was
  seen resolved (compliance PASSED, record ARCHIVED or workflow RESOLVED) after what it
  recorded, and this finding is later still: the problem came back. Timestamps are the
  finding's own ``UpdatedAt``, which its provider only moves forward, so a late
  redelivery of an old event never looks like a return; or
- that occurrence is closed and the finding counts more occurrences than it recorded
  (Macie's ``count`` of a policy finding, raised in place when the problem recurs).

Anything else is the same occurrence: a redelivery, the other copy of a Macie finding,
an update. Claiming the next number is the conditional write that makes this safe under
concurrency (`LedgerStore.create` on ``<key>.<n>``): of two deliveries of one new
occurrence, one creates the entry and the other finds it and dedupes onto it. What the
first entry's attrs say (``latest``, ``object:...``) only saves reads; a stale value is
corrected by walking forward from it.
"""

from __future__ import annotations

from datetime import datetime

from remedy.ledger.base import Entry, State, is_terminal
from remedy.ledger.vocabulary import AWAITING, PENDING_DECISION
from remedy.model import Action, Decision, Finding
from remedy.normalise.keys import object_identity, same_bytes
from remedy.normalise.macie import OCCURRENCES

#: attrs of an entry: its number (absent on the first), the key of the one before, and
#: the ``UpdatedAt`` of the latest finding that said the problem was resolved.
NUMBER = "occurrence"
PREVIOUS = "previous_occurrence"
RESOLVED_AT = "resolved_at"
#: attrs of the first entry: the number of the newest occurrence (absent: 1), and for
#: each object's bytes (`object_attr`) the key of its occurrence.
LATEST = "latest"
_OBJECT = "object:"

NOT_ACTED = frozenset({State.IGNORED, State.REJECTED})
ACTS = frozenset({Action.QUARANTINE, Action.APPROVE, Action.NOTIFY})


def key_of(base: str, number: int) -> str:
    """The ledger key of occurrence `number` of `base` (the first keeps `base`)."""
    return base if number == 1 else f"{base}.{number}"


def number_of(entry: Entry) -> int:
    return int(entry.attrs.get(NUMBER) or 1)


def latest(first: Entry) -> int:
    return int(first.attrs.get(LATEST) or 1)


def identity(finding: Finding) -> tuple[str, str] | None:
    """The bytes the finding saw at its (first) object's key; None if it names no object."""
    for resource in finding.s3_objects:
        return object_identity(resource.version_id, resource.etag)
    return None


def identity_of(entry: Entry) -> tuple[str, str] | None:
    for resource in entry.finding.get("resources") or ():
        if resource.get("kind") == "s3-object":
            return object_identity(resource.get("version_id"), resource.get("etag"))
    return None


def object_attr(seen: tuple[str, str] | None) -> str | None:
    """The name of the first entry's attr that keys the occurrence of these bytes."""
    name = (seen[0] or seen[1]) if seen else ""
    return _OBJECT + name if name else None


def occurrence_of(first: Entry, seen: tuple[str, str] | None) -> str | None:
    """The key of the occurrence that saw these bytes, as far as the first entry says."""
    name = object_attr(seen)
    found = first.attrs.get(name) if name else None
    return str(found) if found else None


def _at(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _later(text: str | None, than: object) -> bool:
    """`text` is a time strictly after `than`; False when either cannot be read (then
    nothing can be proved to have come back, and the finding stays the same occurrence)."""
    moment, before = _at(text), _at(than)
    return moment is not None and before is not None and moment > before


def is_closed(entry: Entry) -> bool:
    """Nothing more will happen to the entry: a state nothing leaves, or QUARANTINED with
    no question still open (a retryable outcome is still being worked on)."""
    if entry.state is State.QUARANTINED:
        return not (entry.attrs.get(AWAITING) or entry.attrs.get(PENDING_DECISION))
    return is_terminal(entry.state)


def says_resolved(finding: Finding) -> bool:
    return (
        finding.compliance_status == "PASSED"
        or finding.record_state == "ARCHIVED"
        or finding.workflow_status == "RESOLVED"
    )


def resolution(current: Entry, finding: Finding) -> str | None:
    """The time to record as `RESOLVED_AT` on `current` if `finding` says its problem went
    away after anything `current` has seen, else None."""
    if not (is_closed(current) and says_resolved(finding)):
        return None
    seen = current.attrs.get(RESOLVED_AT) or current.finding.get("updated_at")
    return finding.updated_at if _later(finding.updated_at, seen) else None


def opens_new(current: Entry, finding: Finding, decision: Decision) -> bool:
    """`finding` (decided `decision`) is a new occurrence after `current` (see above)."""
    if decision.action not in ACTS:
        return False
    seen, recorded_bytes = identity(finding), identity_of(current)
    if seen is not None and recorded_bytes is not None and not same_bytes(seen, recorded_bytes):
        return True
    if current.state in NOT_ACTED:
        return True
    if not is_closed(current):
        return False
    resolved = current.attrs.get(RESOLVED_AT)
    if resolved is not None and _later(finding.updated_at, resolved):
        return True
    count, recorded = _count(finding.parameters), _count(current.finding.get("parameters"))
    return count is not None and recorded is not None and count > recorded


def _count(parameters: object) -> int | None:
    value = parameters.get(OCCURRENCES) if isinstance(parameters, dict) else None
    return value if isinstance(value, int) else None
