"""Errors a user can act on: each says what was wrong, where, and what to do."""

from __future__ import annotations


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


class PolicyError(RemedyError):
    """A policy or accounts file that fails its schema or cannot be read.

    Each problem is one ``file:path: message`` line in `problems`.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
