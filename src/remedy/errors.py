"""Errors a user can act on: each says what was wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remedy.model import Finding


class RemedyError(Exception):
    """Base of every error remedy raises on purpose."""


class InvalidEvent(RemedyError):
    """An event that cannot be read into findings.

    `field` is the JSON path of the offending field (``detail.findings[0].AwsAccountId``),
    empty when the event as a whole is wrong (not an object, unknown source).
    """

    def __init__(self, message: str, field: str = "") -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True, slots=True)
class UnreadableFinding:
    """One finding of an event that cannot be read: where it is, why, and its raw text."""

    index: int
    error: InvalidEvent
    raw: object


class PartlyInvalid(InvalidEvent):
    """An event of several findings (a Security Hub administrator's, say) in which some
    cannot be read. `findings` are the ones that can: one bad finding must not sink the
    others (they may be other accounts' findings), so a caller that can act on part of
    an event catches this; any other caller sees an invalid event, as before, named by
    its first bad field."""

    def __init__(self, findings: Sequence[Finding], bad: Sequence[UnreadableFinding]) -> None:
        self.findings = list(findings)
        self.bad = list(bad)
        super().__init__(self.bad[0].error.message, self.bad[0].error.field)

    def summary(self) -> str:
        """One line: how many cannot be read, and each one's path and reason."""
        total = len(self.findings) + len(self.bad)
        return f"{len(self.bad)} of {total} findings cannot be read: " + "; ".join(
            str(b.error) for b in self.bad
        )


class PolicyError(RemedyError):
    """A policy or accounts file that fails its schema or cannot be read.

    Each problem is one ``file:path: message`` line in `problems`.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
