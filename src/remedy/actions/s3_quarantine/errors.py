"""What S3's errors mean for one object's attempt, and the outcome that ends it early."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.ledger.base import State


class Stop(Exception):
    """Ends one object's attempt early with the outcome that says why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def denied(error: ClientError) -> bool:
    return (
        _status(error) == 403
        or aws_errors.code(error) in ("AccessDenied", "AllAccessDisabled")
        or (aws_errors.code(error).startswith("KMS."))
    )


def missing(error: ClientError) -> bool:
    # HEAD answers bare status codes; 405 is a version that is a delete marker.
    return _status(error) in (404, 405) or aws_errors.code(error) in ("NoSuchKey", "NoSuchVersion")


def explain(error: ClientError) -> str:
    message = aws_errors.message(error)
    return f"{aws_errors.code(error)}: {message}" if message else aws_errors.code(error)


def failure(
    error: ClientError, doing: str, where: str, attrs: dict[str, Any] | None = None
) -> Outcome:
    """DENIED or FAILED: could not `doing` `where`, nothing lost."""
    if denied(error):
        return Outcome(
            State.DENIED,
            f"could not {doing} {where} ({explain(error)}); nothing lost. Check the "
            "remediation role's policy, the KMS key policies and the bucket policy",
            attrs or {},
        )
    return Outcome(
        State.FAILED,
        f"could not {doing} {where} ({explain(error)}); nothing lost; will be retried",
        attrs or {},
    )
