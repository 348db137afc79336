"""Revoking an IAM role's or user's sessions, AWS's way, and undoing it exactly.

AWS's documented pattern (the console's "Revoke active sessions"): an inline policy that
denies everything to credentials whose ``aws:TokenIssueTime`` is before now. Sessions
issued later (a person signing in again, an instance fetching fresh credentials) work;
stolen ones do not. Long-term access keys carry no token issue time, so the condition
never matches them: `contain-principal` deactivates those separately.

Each containment puts its own policy, named from the ledger key, so two findings about
one role never share one, a rerun finds the one it put, and a release removes only its
own. Before it is put, the name is read: the policy is remedy's when it exists with
remedy's statement id, and then it is kept (a rerun acts once).

`refusal` says why a principal must not be contained this way: the root user, service-
linked roles (AWS owns them; a deny would break the service), IAM Identity Center roles
(revoked in Identity Center, or IAM would recreate them), remedy's own roles and the
break-glass principals the policy lists.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remedy.actions import aws_errors
from remedy.settings import Settings

POLICY_PREFIX = "RemedyRevokeSessions-"
SID = "RemedyRevokeOlderSessions"
#: IAM's path for service-linked roles and Identity Center's for its permission-set roles.
SERVICE_LINKED_PATH = "/aws-service-role/"
SSO_PREFIX = "AWSReservedSSO_"
_GONE = "NoSuchEntity"

#: The IAM actions `put`, `read` and `remove` call, by principal type.
PERMISSIONS: Mapping[str, frozenset[str]] = {
    kind: frozenset({f"iam:{verb}{kind.capitalize()}Policy" for verb in ("Get", "Put", "Delete")})
    for kind in ("role", "user")
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM role or user in one account; `path` as IAM reports it ("/" when unknown)."""

    kind: str  # role | user
    name: str
    account: str
    path: str = "/"

    def arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::{self.account}:{self.kind}{self.path}{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def policy_name(ledger_key: str) -> str:
    """``RemedyRevokeSessions-<12 hex of the key's SHA-256>``: one per containment."""
    return POLICY_PREFIX + hashlib.sha256(ledger_key.encode()).hexdigest()[:12]


def document(before: datetime) -> dict[str, Any]:
    """Deny everything to sessions issued before `before` (UTC, whole seconds)."""
    stamp = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": SID,
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


def issued_before(doc: Mapping[str, Any]) -> str | None:
    """The revocation time of a document remedy put, or None when it is not remedy's."""
    statements = doc.get("Statement")
    if not isinstance(statements, list) or len(statements) != 1:
        return None
    statement = statements[0]
    if not isinstance(statement, dict) or statement.get("Sid") != SID:
        return None
    stamp = statement.get("Condition", {}).get("DateLessThan", {}).get("aws:TokenIssueTime")
    return stamp if isinstance(stamp, str) else None


def _call(iam: Any, verb: str, principal: Principal, name: str, **extra: Any) -> Any:
    method = getattr(iam, f"{verb}_{principal.kind}_policy")
    return method(
        **{f"{principal.kind.capitalize()}Name": principal.name}, PolicyName=name, **extra
    )


def read(iam: Any, principal: Principal, name: str) -> dict[str, Any] | None:
    """The inline policy `name` of `principal`, or None when it has none by that name."""
    try:
        found = _call(iam, "get", principal, name)["PolicyDocument"]
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) == _GONE:
            return None
        raise
    # boto3 decodes the URL-encoded JSON IAM returns; a string means it did not.
    return json.loads(found) if isinstance(found, str) else dict(found)


def put(iam: Any, principal: Principal, ledger_key: str, now: datetime) -> tuple[str, str, bool]:
    """Revoke `principal`'s sessions issued before `now`, once per ledger key.

    Returns (policy name, revocation time, whether an earlier attempt had put it)."""
    name = policy_name(ledger_key)
    found = read(iam, principal, name)
    earlier = issued_before(found) if found is not None else None
    if earlier is not None:
        return name, earlier, True
    doc = document(now)
    _call(iam, "put", principal, name, PolicyDocument=json.dumps(doc))
    stamp = issued_before(doc)
    assert stamp is not None
    return name, stamp, False


def remove(iam: Any, principal: Principal, name: str, stamp: str) -> str | None:
    """Remove the revocation `put` made; a sentence saying so, or None when it was
    already removed.

    Raises `Changed` when the policy by that name is no longer remedy's revocation."""
    found = read(iam, principal, name)
    if found is None:
        return None
    if issued_before(found) != stamp:
        raise Changed(f"inline policy {name} of {principal} is no longer remedy's revocation")
    _call(iam, "delete", principal, name)
    return f"sessions of {principal} issued before {stamp} work again"


class Changed(Exception):
    """What remedy put was changed by someone else since; the text says what."""


def _matches(patterns: Iterable[str], principal: Principal, partition: str) -> str | None:
    # IAM names are case-insensitive (one principal whatever the case a finding or a rule
    # writes), so the comparison is too: a break-glass list errs towards refusing.
    arn = principal.arn(partition).casefold()
    for pattern in patterns:
        target = arn if pattern.startswith("arn:") else principal.name.casefold()
        if fnmatch.fnmatchcase(target, pattern.casefold()):
            return pattern
    return None


def own_roles(settings: Settings) -> frozenset[str]:
    """remedy's roles in a member account: the remediation role and the forwarder."""
    prefix = settings.remediation_role_name.removesuffix("-remediation")
    return frozenset({settings.remediation_role_name, f"{prefix}-forwarder"})


def refusal(principal: Principal, settings: Settings, break_glass: Iterable[str]) -> str | None:
    """Why `principal` must not be contained by remedy, or None when it may be."""
    if principal.kind == "role":
        if principal.path.startswith(SERVICE_LINKED_PATH):
            return (
                f"{principal} is a service-linked role: AWS owns it and a deny would break "
                "the service; find what used it in CloudTrail and contain that instead"
            )
        if principal.name.casefold().startswith(SSO_PREFIX.casefold()):
            return (
                f"{principal} is an IAM Identity Center role: revoke the user's sessions and "
                "permission set in Identity Center (IAM would put this role back as it was)"
            )
        if principal.name.casefold() in {r.casefold() for r in own_roles(settings)}:
            return f"{principal} is remedy's own role, changed only by its stack"
    matched = _matches(break_glass, principal, settings.partition)
    if matched is not None:
        return (
            f"{principal} is a break-glass principal (the rule's break_glass lists "
            f"{matched}); a person must decide whether to lock it out"
        )
    return None
