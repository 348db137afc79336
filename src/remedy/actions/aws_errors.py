"""AWS errors in member accounts, turned into outcomes a person can act on."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from remedy.actions.outcome import Outcome
from remedy.actions.reversible import ActionFailed
from remedy.actions.session import AssumeRoleFailed
from remedy.ledger.base import State

# What each service calls "your role may not do this".
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
#: What `failure` turns into an outcome; anything else is a bug and propagates.
AWS_ERRORS = (ClientError, BotoCoreError, AssumeRoleFailed)


def code(error: BaseException) -> str:
    if not isinstance(error, ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def failure(
    error: Exception,
    *,
    account: str,
    doing: str,
    service: str,
    iam_names: Mapping[str, str] | None = None,
) -> Outcome:
    """DENIED for a refused role or call, FAILED for anything else; `doing` says what for.

    The reason names the IAM action the refused call needs, so it says what the member
    role lacks: ``service:Operation``, unless `iam_names` maps the operation to another
    IAM name (S3's DeletePublicAccessBlock needs s3:PutBucketPublicAccessBlock).
    """
    if isinstance(error, AssumeRoleFailed):
        return Outcome(State.DENIED, f"{doing}: {error}")
    if isinstance(error, ClientError):
        if code(error) in DENIED_CODES:
            needs = (iam_names or {}).get(error.operation_name, f"{service}:{error.operation_name}")
            return Outcome(
                State.DENIED,
                f"{doing}: the remediation role in {account} may not call {needs}; update "
                "the member stack so its role grants what the remediation actions declare",
            )
        return Outcome(State.FAILED, f"{doing}: {code(error)}: {message(error)}")
    if isinstance(error, BotoCoreError):
        return Outcome(State.FAILED, f"{doing}: {error}")
    raise error


def failed(
    error: Exception,
    *,
    account: str,
    doing: str,
    service: str,
    iam_names: Mapping[str, str] | None = None,
) -> ActionFailed:
    """`failure` as the exception ``release`` and ``finalise`` raise."""
    outcome = failure(error, account=account, doing=doing, service=service, iam_names=iam_names)
    return ActionFailed(outcome.state, outcome.reason)
