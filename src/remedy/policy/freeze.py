"""Change freezes: windows in which remedy asks before it remediates on its own.

A window is either an RFC 5545 recurrence (``rrule`` from a local ``start``, each
occurrence lasting ``duration_hours``; python-dateutil's ``rrulestr`` reads it) or a
weekly range (``weekly: {days, from, to}``; ``to`` at or before ``from`` runs past
midnight). Both are read in the window's named time zone (``zoneinfo``) on the wall
clock: "Monday 09:00-17:00 in New York" is 09:00-17:00 local on either side of a DST
change, so the window is 13:00-21:00 UTC one week and 14:00-22:00 UTC the week before.
``where`` limits the window to accounts, units or environments (keys of a rule's match).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from remedy.model import Finding
from remedy.policy.accounts import AccountInfo
from remedy.policy_files.schema import problem

Test = Callable[[Finding, AccountInfo], bool]
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: Finding types of malware, whose quarantine a freeze leaves alone unless it says
#: ``malware: freeze``: an infected object is not a change anyone planned.
MALWARE_TYPES = frozenset({"Object:S3/MaliciousFile"})


@dataclass(frozen=True, slots=True)
class Weekly:
    days: frozenset[int]
    start: time
    end: time

    def opening(self, local: datetime) -> datetime | None:
        """The start of the window `local` falls in, or None."""
        for back in (0, 1):
            day = (local - timedelta(days=back)).date()
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start)
            closes = datetime.combine(day, self.end)
            if closes <= opens:
                closes += timedelta(days=1)
            if opens <= local < closes:
                return opens
        return None

    def length(self) -> timedelta:
        span = datetime.combine(datetime.min, self.end) - datetime.combine(datetime.min, self.start)
        return span if span > timedelta(0) else span + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Freeze:
    name: str
    zone: ZoneInfo
    #: The tests of ``where`` (all must pass; none: everywhere).
    where: tuple[Test, ...]
    #: What the window was written as, for the reason a person reads.
    spec: str
    recurrence: rrule | None = None
    duration: timedelta = timedelta(0)
    weekly: Weekly | None = None
    #: True: malware quarantine waits too (``malware: freeze``).
    malware: bool = False

    def applies(self, finding: Finding, account: AccountInfo, now: datetime) -> str | None:
        """Why this freeze holds `finding` at `now` (aware), or None if it does not."""
        if not self.malware and finding.type in MALWARE_TYPES:
            return None
        if not all(test(finding, account) for test in self.where):
            return None
        # Naive local wall-clock time: recurrences and ranges are written on the wall clock.
        local = now.astimezone(self.zone).replace(tzinfo=None)
        if self.weekly is not None:
            opens, length = self.weekly.opening(local), self.weekly.length()
        else:
            assert self.recurrence is not None
            opens, length = self.recurrence.before(local, inc=True), self.duration
            if opens is not None and local >= opens + length:
                opens = None
        if opens is None:
            return None
        closes = opens + length
        return (
            f"change freeze {self.name} ({self.spec}, {self.zone.key}) is on from "
            f"{opens:%Y-%m-%d %H:%M} to {closes:%Y-%m-%d %H:%M} local time"
        )


def _clock(text: str) -> time:
    return time.fromisoformat(text)


def build_freeze(spec: Mapping[str, Any], where: tuple[Test, ...]) -> Freeze:
    """The window of a spec that passed the schema and `check_freeze`."""
    zone = ZoneInfo(spec["zone"])
    malware = spec.get("malware", "exempt") == "freeze"
    if "weekly" in spec:
        weekly = spec["weekly"]
        days = frozenset(DAYS.index(d) for d in weekly["days"])
        text = f"{'/'.join(weekly['days'])} {weekly['from']}-{weekly['to']}"
        return Freeze(
            spec["name"],
            zone,
            where,
            text,
            weekly=Weekly(days, _clock(weekly["from"]), _clock(weekly["to"])),
            malware=malware,
        )
    start = datetime.fromisoformat(spec["start"])
    recurrence = rrulestr(spec["rrule"], dtstart=start, cache=True)
    assert isinstance(recurrence, rrule)
    return Freeze(
        spec["name"],
        zone,
        where,
        f"{spec['rrule']} from {spec['start']} for {spec['duration_hours']} h",
        recurrence=recurrence,
        duration=timedelta(hours=float(spec["duration_hours"])),
        malware=malware,
    )


def check_freeze(spec: Mapping[str, Any], file: str, path: Sequence[str | int]) -> list[str]:
    """What the schema cannot say about one schema-valid window, as problems."""
    problems: list[str] = []
    try:
        ZoneInfo(spec["zone"])
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            problem(
                file,
                [*path, "zone"],
                f"{spec['zone']!r} is not a time zone (an IANA name such as Europe/Paris)",
            )
        )
    if "weekly" in spec:
        for name in ("from", "to"):
            try:
                _clock(spec["weekly"][name])
            except ValueError:
                problems.append(
                    problem(
                        file,
                        [*path, "weekly", name],
                        f"{spec['weekly'][name]!r} is not a time of day (HH:MM)",
                    )
                )
        return problems
    try:
        start = datetime.fromisoformat(spec["start"])
    except ValueError:
        return [
            *problems,
            problem(
                file,
                [*path, "start"],
                f"{spec['start']!r} is not a local date and time (2026-12-18T17:00)",
            ),
        ]
    if start.tzinfo is not None:
        problems.append(
            problem(
                file, [*path, "start"], "write the local time without an offset; zone says where"
            )
        )
        return problems
    try:
        recurrence = rrulestr(spec["rrule"], dtstart=start)
    except (ValueError, TypeError) as exc:
        problems.append(
            problem(
                file,
                [*path, "rrule"],
                f"{spec['rrule']!r} is not an RFC 5545 recurrence rule ({exc}); "
                "e.g. FREQ=WEEKLY;BYDAY=FR",
            )
        )
        return problems
    if not isinstance(recurrence, rrule):
        problems.append(
            problem(file, [*path, "rrule"], "one RRULE only (no RDATE, EXRULE or rule sets)")
        )
    return problems
