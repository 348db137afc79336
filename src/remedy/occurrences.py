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
  whatever became of the first (`OTHER_BYTES`); or
- that occurrence removed the object (QUARANTINED) and this finding reports a write made
  after that: a scan result or a native Macie finding (each reports one write of the
  object) created after remedy removed it. The same bytes uploaded again have the same
  ETag and, unversioned, no version id: only the time tells them apart (`WRITTEN_AGAIN`).
  The other reports of one write (GuardDuty's finding, Security Hub's copies) may be
  created after remedy acted on the first, so they never count as a new write; or
- that occurrence did not act (IGNORED or REJECTED), or was about a sample finding and
  this one is real: an ignored or untrusted copy, or a generated sample, that came first
  must never pre-empt the real finding (a later actionable decision takes over as a new
  entry, so the ignored one keeps its record); or
- that occurrence is closed (nothing more will happen to it) and did not remove an
  object (that takes a new write, above), the product said the problem went away after
  what it recorded (compliance PASSED, record ARCHIVED), and this finding is later still
  and shows the problem again: compliance FAILED (after a PASSED, or whenever the
  finding carries a compliance status), else a record not ARCHIVED (`REOPENED`). A
  RELEASED occurrence reopens only when the product said so after the release: release
  put back what remedy found, so the check failing again is the person's decision. Only
  what the product sets counts: Workflow is anyone's to set with ``BatchUpdateFindings``
  in the member, and remedy sets it itself, so a workflow RESOLVED then NEW is never a
  return. Timestamps are the finding's own ``UpdatedAt``, which its provider only moves
  forward, so a late redelivery never looks like a return; or
- that occurrence is closed and the finding counts more occurrences than it recorded
  (Macie's ``count`` of a policy finding, raised in place when the problem recurs;
  `COUNTED`).

Re-openings (`REOPENED`, `COUNTED`) are bounded: at most one per key per
``defaults.recurrence_period_minutes`` (`Policy.recurrence_period`) becomes an entry;
the others are recorded on the newest occurrence (``attrs.held``: how many, the last),
with one history note, and not acted on. A new write of an object is never held: it is a
real object that no later finding would report again.

Bytes a person released stay released: a finding whose object has the ETag of a RELEASED
occurrence at the same key (found through ``attrs["bytes:<ETag>"]`` on the first entry)
is recorded on that occurrence (``attrs.release_holds``, one history note) and not acted
on, whatever its version id (release writes the bytes back as a new version, which
GuardDuty and Macie scan again). Other bytes at the key are another object, as above.

Anything else is the same occurrence: a redelivery, the other copy of a Macie finding,
an update. Claiming the next number is the conditional write that makes this safe under
concurrency (`LedgerStore.create` on ``<key>.<n>``): of two deliveries of one new
occurrence, one creates the entry and the other finds it and dedupes onto it. What the
first entry's attrs say (``latest``, ``object:...``, ``bytes:...``) only saves reads; a
stale value is corrected by walking forward from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remedy.ledger.base import Conflict, Entry, LedgerStore, State, is_terminal
from remedy.ledger.vocabulary import AWAITING, PENDING_DECISION, SYSTEM_ACTOR
from remedy.model import Action, Decision, Finding, Source
from remedy.normalise.keys import object_identity, same_bytes
from remedy.normalise.macie import OCCURRENCES
from remedy.normalise.malware_scan import SCAN_RESULT_STATUS

#: attrs of an entry: its number (absent on the first), the key of the one before, the
#: ``UpdatedAt`` of the latest finding that said the problem was resolved and what said so
#: (`COMPLIANCE` or `RECORD`), the re-openings held by the rate bound, and the findings
#: about released bytes that were not acted on.
NUMBER = "occurrence"
PREVIOUS = "previous_occurrence"
RESOLVED_AT = "resolved_at"
RESOLVED_BY = "resolved_by"
HELD = "held"
RELEASE_HOLDS = "release_holds"
COMPLIANCE = "compliance"
RECORD = "record"
#: attrs of the first entry: the number of the newest occurrence (absent: 1), and for
#: each object's bytes (`object_attr`, `bytes_attr`) the key of its newest occurrence.
LATEST = "latest"
_OBJECT = "object:"
_BYTES = "bytes:"

#: Why a finding is a new occurrence (`opens_new`).
OTHER_BYTES = "other bytes at the object's key"
WRITTEN_AGAIN = "the same bytes written again after remedy removed them"
SUPERSEDES = "the occurrence before did not act"
REOPENED = "the product says the problem is back after it was resolved"
COUNTED = "the product counts another occurrence"
#: The reasons the rate bound holds (a new write of an object is never held).
RATE_BOUND = frozenset({REOPENED, COUNTED})

NOT_ACTED = frozenset({State.IGNORED, State.REJECTED, State.DRY_RUN})
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


def hints(finding: Finding, key: str) -> dict[str, str]:
    """The first entry's attrs that point at `key` as the occurrence of the finding's bytes."""
    seen = identity(finding)
    out = {}
    name = object_attr(seen)
    if name:
        out[name] = key
    if seen and seen[1]:
        out[_BYTES + seen[1]] = key
    return out


def released_key(first: Entry, finding: Finding) -> str | None:
    """The newest occurrence that saw the finding's ETag, as far as the first entry says."""
    seen = identity(finding)
    found = first.attrs.get(_BYTES + seen[1]) if seen and seen[1] else None
    return str(found) if found else None


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


def resolved_by(finding: Finding) -> str | None:
    """What, set by the product, says the problem went away; never Workflow (see above)."""
    if finding.compliance_status == "PASSED":
        return COMPLIANCE
    if finding.record_state == "ARCHIVED":
        return RECORD
    return None


def resolution(current: Entry, finding: Finding) -> dict[str, str] | None:
    """The attrs to record on `current` if `finding` says its problem went away after
    anything `current` has seen, else None."""
    by = resolved_by(finding)
    if by is None or not is_closed(current):
        return None
    seen = current.attrs.get(RESOLVED_AT) or current.finding.get("updated_at")
    if finding.updated_at is None or not _later(finding.updated_at, seen):
        return None
    return {RESOLVED_AT: finding.updated_at, RESOLVED_BY: by}


def shows_problem(finding: Finding, by: object) -> bool:
    """The product says the problem is there: a failed control, or an active record."""
    if finding.compliance_status is not None or by == COMPLIANCE:
        return finding.compliance_status == "FAILED"
    return finding.record_state != "ARCHIVED"


def removed_at(entry: Entry) -> str | None:
    """When the entry last moved to QUARANTINED (remedy removed what it names)."""
    for item in reversed(entry.history):
        if item.target == State.QUARANTINED.value:
            return item.at
    return None


def released_at(entry: Entry) -> str | None:
    """When a person released the entry, as the release recorded it."""
    record = entry.attrs.get("release")
    at = record.get("at") if isinstance(record, dict) else None
    return at if isinstance(at, str) else None


def reports_a_write(finding: Finding) -> bool:
    """Each scan result and each native Macie finding reports one write of its object."""
    return finding.source is Source.MACIE or SCAN_RESULT_STATUS in finding.parameters


def opens_new(current: Entry, finding: Finding, decision: Decision) -> str | None:
    """Why `finding` (decided `decision`) is a new occurrence after `current` (see above),
    or None if it is not."""
    if decision.action not in ACTS:
        return None
    seen, recorded_bytes = identity(finding), identity_of(current)
    if seen is not None and recorded_bytes is not None and not same_bytes(seen, recorded_bytes):
        return OTHER_BYTES
    if current.state in NOT_ACTED or (current.finding.get("sample") and not finding.sample):
        return SUPERSEDES
    if not is_closed(current):
        return None
    if seen is not None and current.state is State.QUARANTINED:
        # remedy removed the object: only a new write of it brings the problem back.
        if reports_a_write(finding) and _later(finding.created_at, removed_at(current)):
            return WRITTEN_AGAIN
        return None
    resolved = current.attrs.get(RESOLVED_AT)
    if (
        resolved is not None
        and _later(finding.updated_at, resolved)
        and shows_problem(finding, current.attrs.get(RESOLVED_BY))
        # Release put back what remedy found, so the next check fails again: a person's
        # decision, not the problem back, unless the product saw it resolved since.
        and (current.state is not State.RELEASED or _later(resolved, released_at(current)))
    ):
        return REOPENED
    count, recorded = _count(finding.parameters), _count(current.finding.get("parameters"))
    if count is not None and recorded is not None and count > recorded:
        return COUNTED
    return None


def _count(parameters: object) -> int | None:
    value = parameters.get(OCCURRENCES) if isinstance(parameters, dict) else None
    return value if isinstance(value, int) else None


def _seen(finding: Finding, at: str) -> dict[str, Any]:
    """What a finding that was recorded but not acted on is remembered by."""
    seen = identity(finding)
    out: dict[str, Any] = {"at": at, "finding_id": finding.id}
    if finding.updated_at:
        out["updated_at"] = finding.updated_at
    if seen is not None:
        out["version_id"], out["etag"] = seen
    return out


def _record(
    store: LedgerStore, entry: Entry, name: str, finding: Finding, at: str, note: str
) -> Entry:
    """Count a finding not acted on in ``attrs[name]`` (how many, the last); the first gets
    a history note, the others only the count, so a storm cannot grow the entry."""
    held = entry.attrs.get(name) or {}
    record = {"count": int(held.get("count") or 0) + 1, "last": _seen(finding, at)}
    if held:
        return store.update_attrs(entry.key, {name: record})
    try:
        return store.annotate(
            entry.key, entry.state, (name, None), {name: record}, by=SYSTEM_ACTOR, note=note
        )
    except Conflict:
        # Another delivery recorded the first one at the same moment: count this one.
        return _record(store, store.get(entry.key) or entry, name, finding, at, note)


def is_redelivery(entry: Entry, finding: Finding) -> bool:
    """The finding the entry was made from, delivered again (or its same-bytes copy)."""
    seen, recorded = identity(finding), identity_of(entry)
    return finding.id == entry.finding.get("id") and (
        seen is None or recorded is None or seen == recorded
    )


def keep_released(store: LedgerStore, released: Entry, finding: Finding, at: str) -> Entry:
    """Record on `released` a finding about the bytes a person released (not acted on)."""
    if is_redelivery(released, finding):
        return released
    version, etag = identity(finding) or ("", "")
    record = released.attrs.get("release") or {}
    by = record.get("by") or "a person"
    why = f"; their reason: {record['reason']}" if record.get("reason") else ""
    note = (
        f"a new finding about the bytes {by} released (ETag {etag}, now version "
        f"{version or 'none (unversioned)'}): not acted on, the bytes stay released until "
        f"they change{why}; later ones are counted in attrs.{RELEASE_HOLDS}"
    )
    return _record(store, released, RELEASE_HOLDS, finding, at, note)


def hold(
    store: LedgerStore, current: Entry, finding: Finding, why: str, minutes: float, at: str
) -> Entry:
    """Record on `current` a re-opening the rate bound holds (not acted on)."""
    note = (
        f"a new occurrence within {minutes:g} minutes of this one: recorded, not acted on "
        f"({why}; finding updated {finding.updated_at}); at most one re-opening acts per "
        f"{minutes:g} minutes (defaults.recurrence_period_minutes), later ones are counted "
        f"in attrs.{HELD}"
    )
    return _record(store, current, HELD, finding, at, note)
