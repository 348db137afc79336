"""Release: undo a remediation (a false positive) and record who did it.

The entry's remediation (``decision.remediation``) must be a `ReversibleAction`; its
``release`` puts back what ``run`` changed (for ``s3-quarantine``: the object is copied
back to its old bucket and key, verified, the tombstone and the quarantine copy removed).
The ledger entry then moves QUARANTINED -> RELEASED with one conditional write, so two
people releasing at once cannot both succeed.

A malware quarantine (GuardDuty found threats in the object) is released only deliberately:
the caller must say why (``reason``), and the reason is kept in the ledger history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from remedy.actions.registry import RemediationAction
from remedy.actions.reversible import ActionFailed, ReversibleAction
from remedy.ledger.base import Entry, LedgerStore, State
from remedy.model import Finding
from remedy.normalise.malware import MALWARE
from remedy.notify.base import Announcer


class NotReleasable(ActionFailed):
    """The entry is not one that can be released; nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(State.FAILED, reason)


def release(
    key: str,
    *,
    by: str,
    store: LedgerStore,
    actions: Mapping[str, RemediationAction],
    announce: Announcer | None = None,
    caller: str = "",
    reason: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Entry:
    """Release ledger entry `key`; `by` is recorded as who did it, `caller` as the AWS
    identity that did it, `reason` as why (required for a malware quarantine)."""
    entry = store.get(key)
    if entry is None:
        raise NotReleasable(f"no ledger entry {key!r}; nothing to release")
    if entry.state is not State.QUARANTINED:
        raise NotReleasable(
            f"ledger entry {key} is {entry.state.value}; only QUARANTINED entries can be released"
        )
    # A contained change waiting for its approvers is theirs to decide (approve restores it):
    # releasing behind their backs would leave a live question on a released entry.
    if entry.attrs.get("awaiting_approval") or entry.attrs.get("pending_decision"):
        raise NotReleasable(
            f"ledger entry {key} is contained and waiting for its approvers; approve it (which "
            "restores it) or deny it from Slack or the owners' email link instead"
        )
    finding = Finding.from_dict(entry.finding)
    reason = reason.strip()
    if finding.category == MALWARE and not reason:
        threats = ", ".join(d.type for d in finding.detections) or "malware"
        raise NotReleasable(
            f"ledger entry {key} quarantined an object GuardDuty found threats in ({threats}); "
            "release it only deliberately: say why with --reason (e.g. a false positive "
            "confirmed by a rescan)"
        )
    name = str(entry.decision.get("remediation") or "")
    action = actions.get(name)
    if not isinstance(action, ReversibleAction):
        raise NotReleasable(f"remediation {name!r} of entry {key} cannot be released")
    undo = action.release(finding, entry.attrs)
    record = {**undo.attrs, "by": by, "caller": caller, "at": clock().astimezone(UTC).isoformat()}
    if reason:
        record["reason"] = reason
    released = store.transition(
        key,
        [State.QUARANTINED],
        State.RELEASED,
        by=by,
        note=f"{undo.reason}; reason: {reason}" if reason else undo.reason,
        attrs={"release": record},
        expected_version=entry.version,
    )
    if announce is not None:
        announce(released)
    return released
