"""Events that carry several findings: each is read on its own.

Security Hub sends ``detail.findings[]`` in both its formats (ASFF and OCSF), and an
administrator's event holds findings of many member accounts. One finding that cannot be
read must not sink the others: `read_each` reads every one and, when some fail beside
others that read, raises `PartlyInvalid` carrying the good ones, which the pipeline and
``remedy explain`` act on while recording the bad ones. Every normaliser of a format with
a findings array goes through here, so the next format cannot miss it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remedy.errors import InvalidEvent, PartlyInvalid, UnreadableFinding
from remedy.model import Finding
from remedy.normalise import fields as f

#: Reads one finding: (the raw item, its JSON path) to a `Finding`.
ReadOne = Callable[[object, str], Finding]


def read_each(detail: dict[str, Any], read: ReadOne) -> list[Finding]:
    """Every finding of ``detail.findings``; `PartlyInvalid` when only some can be read."""
    items = f.req_list(detail, "findings", "detail")
    if not items:
        raise InvalidEvent("expected at least one finding, got an empty array", "detail.findings")
    findings: list[Finding] = []
    bad: list[UnreadableFinding] = []
    for i, item in enumerate(items):
        try:
            findings.append(read(item, f"detail.findings[{i}]"))
        except InvalidEvent as error:
            bad.append(UnreadableFinding(i, error, item))
    if bad and not findings:
        # Nothing in it can be read: the event as a whole is invalid (and goes to the DLQ).
        raise bad[0].error
    if bad:
        raise PartlyInvalid(findings, bad)
    return findings
