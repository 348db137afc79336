"""Times read from ledger entries: when one started waiting, how long a remediation took,
and an age as a person reads it.

The pipeline measures time to remediate as it writes QUARANTINED, the report measures it
again over a period, the approval deadlines and ``remedy status`` both ask how long an
entry has waited: each reads these downward.
"""

from __future__ import annotations

from remedy.ledger.base import Entry, parse_stamp


def waiting_since(entry: Entry) -> str:
    """When the entry started to wait: its latest step into its current state from another
    (a note that leaves the state, such as an approval reminder, does not restart it)."""
    return next(
        (h.at for h in reversed(entry.history) if h.target == entry.state and h.source != h.target),
        entry.updated_at,
    )


def time_to_remediate(entry: Entry) -> float:
    """Seconds from the finding's creation to the entry's latest write (its QUARANTINED)."""
    start = entry.finding.get("created_at") or entry.created_at
    return max(0.0, (parse_stamp(entry.updated_at) - parse_stamp(str(start))).total_seconds())


def age(seconds: int) -> str:
    """``3d 4h``, ``5h 12m``, ``7m``: an age a person reads at a glance."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"
