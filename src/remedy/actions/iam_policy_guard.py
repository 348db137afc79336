"""Contain an IAM policy that allows a restricted action, then let a person decide.

Triggers: CloudTrail ``CreatePolicy``, ``CreatePolicyVersion``, ``PutUserPolicy``,
``PutRolePolicy`` and ``PutGroupPolicy`` (IAM's events reach EventBridge in us-east-1
only; the member template forwards them from there). The document is read from IAM, not
from the event, and checked against ``policies/restricted-actions.yaml``
(`remedy.actions.iam_documents`); a document that allows none of them is left alone.

Containment happens at once (``contain_first``), whatever the rule's action:

- A managed policy whose offending version is the default gets a new default version
  that allows nothing; the offending version is kept, non-default, for the approver. IAM
  keeps at most five versions: when all five exist, the oldest non-default one is deleted
  to make room, and its document is recorded so release and dismissal re-create it.
- An offending version that is not the default (``setAsDefault`` false) is deleted after
  its document is recorded, so nobody can make it the default.
- An inline policy's document is recorded in the ledger and the policy deleted.

Approve (or ``remedy release``) restores exactly: the original version is the default
again and the containment version is deleted; an inline document is put back as it was.
Dismiss keeps the containment and deletes the offending version.

The remediation role itself (``settings.remediation_role_name``) is never touched: its
policy is changed by its own stack.

Example policy rule::

    - id: contain-restricted-iam-policies
      match:
        source: [cloudtrail]
        type: ["iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:Put*Policy"]
      action: approve
      remediation: iam-policy-guard
      options:
        contain_with: allow-nothing
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.iam_documents import (
    InvalidPolicyDocument,
    Match,
    parse_document,
    restricted_matches,
)
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.errors import PolicyError
from remedy.ledger.base import State
from remedy.model import Finding, ResourceKind
from remedy.policy_files import Restricted, load_restricted

CONTAINED_SID = "RemedyContained"
#: Grants nothing and denies nothing: the principals it is attached to keep what their
#: other policies give them. (Allow with NotAction "*" would grant nothing too, but
#: scanners flag Allow+NotAction, and remedy should not raise findings of its own.)
ALLOW_NOTHING: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": f"{CONTAINED_SID}AllowsNothing",
            "Effect": "Deny",
            "NotAction": "*",
            "Resource": "*",
        }
    ],
}
#: Denies everything to every principal the policy is attached to: stops them entirely.
DENY_ALL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": f"{CONTAINED_SID}DeniesAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
    ],
}
CONTAINMENT = {"allow-nothing": ALLOW_NOTHING, "deny-all": DENY_ALL}
MAX_VERSIONS = 5
_SHOWN_GROUPS = 2
_PRINCIPALS = ("user", "role", "group")
_GONE = "NoSuchEntity"


def _text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def is_containment(document: Mapping[str, Any]) -> bool:
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    return (
        isinstance(statements, list)
        and len(statements) == 1
        and isinstance(statements[0], dict)
        and str(statements[0].get("Sid", "")).startswith(CONTAINED_SID)
    )


def _allowed(matches: tuple[Match, ...]) -> str:
    """What the document allows, grouped by statement and by why; the rest counted."""
    by_statement: dict[tuple[int, str | None, str, tuple[str, ...]], dict[str, list[str]]] = {}
    for m in matches:
        whys = by_statement.setdefault((m.statement, m.sid, m.via, m.granted), {})
        whys.setdefault(m.why, []).append(m.restricted)
    parts, shown = [], 0
    for (statement, sid, via, granted), whys in list(by_statement.items())[:_SHOWN_GROUPS]:
        who = f"statement {statement}" + (f" ({sid})" if sid else "")
        groups = list(whys.items())[:_SHOWN_GROUPS]
        shown += sum(len(patterns) for _, patterns in groups)
        listed = "; ".join(f"{', '.join(patterns)}: {why}" for why, patterns in groups)
        parts.append(f"{who}, by {via} {', '.join(granted)}, allows {listed}")
    rest = len(matches) - shown
    return "; ".join(parts) + (f"; and {rest} more restricted actions" if rest else "")


@dataclass(frozen=True, slots=True)
class _Inline:
    kind: str  # user | role | group
    principal: str
    policy_name: str

    def __str__(self) -> str:
        return f"inline policy {self.policy_name} of {self.kind} {self.principal}"

    def call(self, iam: Any, verb: str, **extra: Any) -> Any:
        """``iam.<verb>_<kind>_policy`` with the principal's and policy's names."""
        method = getattr(iam, f"{verb}_{self.kind}_policy")
        names = {f"{self.kind.capitalize()}Name": self.principal, "PolicyName": self.policy_name}
        return method(**names, **extra)


def _target(finding: Finding) -> str | _Inline | None:
    """The managed policy ARN or the inline policy the finding is about."""
    params = finding.parameters
    arn = params.get("policy_arn")
    if isinstance(arn, str) and arn:
        return arn
    for kind in _PRINCIPALS:
        principal = params.get(f"{kind}_name")
        name = params.get("policy_name")
        if isinstance(principal, str) and principal and isinstance(name, str) and name:
            return _Inline(kind, principal, name)
    for resource in finding.resources:
        if resource.kind is ResourceKind.IAM_POLICY and ":policy/" in resource.id:
            return resource.id
    return None


@register("iam-policy-guard")
class IamPolicyGuard(ReversibleAction):
    """Contain an IAM policy allowing a restricted action; approval restores it."""

    contain_first = True
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "contain_with": {
                "description": (
                    "The default version a contained managed policy gets: allow-nothing "
                    "(principals keep their other permissions) or deny-all (they lose all)."
                ),
                "enum": sorted(CONTAINMENT),
            }
        },
    }
    permissions = frozenset(
        {
            "iam:ListPolicyVersions",
            "iam:GetPolicyVersion",
            "iam:CreatePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:DeletePolicyVersion",
            *(
                f"iam:{verb}{kind.capitalize()}Policy"
                for verb in ("Get", "Delete", "Put")
                for kind in _PRINCIPALS
            ),
        }
    )
    resource_kinds = frozenset({ResourceKind.IAM_POLICY.value})

    @cached_property
    def restricted(self) -> tuple[Restricted, ...]:
        return load_restricted()

    # --- contain -----------------------------------------------------------------------

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        target = _target(finding)
        if target is None:
            return Outcome(State.FAILED, "the finding names no IAM policy; nothing changed")
        if isinstance(target, _Inline) and (target.kind, target.principal) == (
            "role",
            self.settings.remediation_role_name,
        ):
            return Outcome(
                State.GONE,
                f"left alone: {target} is remedy's own remediation role, changed by its stack",
            )
        containment = CONTAINMENT[options.get("contain_with", "allow-nothing")]
        try:
            iam = self.sessions.client(
                "iam", finding.account, finding.region, finding_key=finding.key
            )
            if isinstance(target, _Inline):
                return self._contain_inline(iam, finding, target, resume)
            return self._contain_managed(iam, finding, target, containment, resume)
        except PolicyError as error:
            return Outcome(
                State.FAILED,
                f"the restricted-actions list cannot be read; nothing changed: {error}",
            )
        except InvalidPolicyDocument as error:
            return Outcome(State.FAILED, f"cannot read the document of {target}: {error}")
        except aws_errors.AWS_ERRORS as error:
            return aws_errors.failure(
                error, account=finding.account, doing=f"containing {target}", service="iam"
            )

    def _contain_inline(self, iam: Any, finding: Finding, target: _Inline, resume: bool) -> Outcome:
        try:
            document = target.call(iam, "get")["PolicyDocument"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) != _GONE:
                raise
            if resume and "policy_document" in finding.parameters:
                # An earlier attempt deleted it before the ledger heard; the request holds
                # the document that was put.
                document = parse_document(finding.parameters["policy_document"])
                matches = restricted_matches(document, self.restricted)
                if matches:
                    return self._inline_contained(target, document, matches, earlier=True)
            return Outcome(State.GONE, f"already fixed: {target} no longer exists")
        matches = restricted_matches(document, self.restricted)
        if not matches:
            return Outcome(
                State.GONE, f"nothing restricted: {target} allows none of the restricted actions"
            )
        target.call(iam, "delete")
        return self._inline_contained(target, document, matches, earlier=False)

    def _inline_contained(
        self,
        target: _Inline,
        document: Mapping[str, Any],
        matches: tuple[Match, ...],
        *,
        earlier: bool,
    ) -> Outcome:
        how = "An earlier attempt deleted" if earlier else "Deleted"
        return Outcome(
            State.QUARANTINED,
            f"contained {target}: {_allowed(matches)}. {how} it; its document is kept for approval",
            {
                "kind": "inline",
                "principal_type": target.kind,
                "principal": target.principal,
                "policy_name": target.policy_name,
                "document": _text(document),
                "matches": [m.to_dict() for m in matches],
            },
        )

    def _contain_managed(
        self,
        iam: Any,
        finding: Finding,
        arn: str,
        containment: Mapping[str, Any],
        resume: bool,
    ) -> Outcome:
        try:
            versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _GONE:
                return Outcome(State.GONE, f"already fixed: policy {arn} no longer exists")
            raise
        documents = {
            v["VersionId"]: iam.get_policy_version(PolicyArn=arn, VersionId=v["VersionId"])[
                "PolicyVersion"
            ]["Document"]
            for v in versions
        }
        default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
        offending = _offending(finding, versions, documents, default)

        if is_containment(documents[default]):
            if not resume or offending == default:
                return Outcome(
                    State.GONE,
                    f"already contained: the default version {default} of {arn} is remedy's "
                    "containment",
                )
            matches = restricted_matches(documents[offending], self.restricted)
            return self._managed_contained(
                arn,
                offending,
                (default, documents[default]),
                documents[offending],
                matches,
                None,
                earlier=True,
            )

        matches = restricted_matches(documents[offending], self.restricted)
        if not matches:
            return Outcome(
                State.GONE,
                f"nothing restricted: version {offending} of {arn} allows none of the "
                "restricted actions",
            )
        if offending != default:
            iam.delete_policy_version(PolicyArn=arn, VersionId=offending)
            return Outcome(
                State.QUARANTINED,
                f"contained {arn}: in version {offending}, which is not the default, "
                f"{_allowed(matches)}. Deleted {offending} so it cannot be made the default; "
                f"the default {default} is unchanged and the document is kept for approval",
                {
                    "kind": "managed-version",
                    "policy_arn": arn,
                    "original_version": offending,
                    "document": _text(documents[offending]),
                    "matches": [m.to_dict() for m in matches],
                },
            )
        evicted = None
        if len(versions) >= MAX_VERSIONS:
            oldest = min(
                (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
            )
            evicted = {
                "version": oldest["VersionId"],
                "document": _text(documents[oldest["VersionId"]]),
            }
            iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        created = iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=json.dumps(containment), SetAsDefault=True
        )["PolicyVersion"]["VersionId"]
        return self._managed_contained(
            arn,
            offending,
            (created, containment),
            documents[offending],
            matches,
            evicted,
            earlier=False,
        )

    def _managed_contained(
        self,
        arn: str,
        original: str,
        contained: tuple[str, Mapping[str, Any]],
        document: Mapping[str, Any],
        matches: tuple[Match, ...],
        evicted: dict[str, str] | None,
        *,
        earlier: bool,
    ) -> Outcome:
        room = (
            f"; version {evicted['version']} (the oldest) was deleted to make room and is recorded"
            if evicted
            else ""
        )
        how = "An earlier attempt made" if earlier else "Made"
        containment, containment_document = contained
        denies = _text(containment_document) == _text(DENY_ALL)
        effect = "denies everything" if denies else "allows nothing"
        attrs: dict[str, Any] = {
            "kind": "managed",
            "policy_arn": arn,
            "original_version": original,
            "containment_version": containment,
            "document": _text(document),
            "matches": [m.to_dict() for m in matches],
        }
        if evicted:
            attrs["evicted"] = evicted
        return Outcome(
            State.QUARANTINED,
            f"contained {arn}: in version {original}, {_allowed(matches)}. {how} {containment}, "
            f"which {effect}, the default; {original} is kept for approval{room}",
            attrs,
        )

    # --- approve / release, dismiss ------------------------------------------------------

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        try:
            iam = self.sessions.client(
                "iam", finding.account, finding.region, finding_key=finding.key
            )
            if attrs["kind"] == "inline":
                return self._restore_inline(iam, attrs)
            if attrs["kind"] == "managed-version":
                return self._restore_version(iam, attrs)
            return self._restore_managed(iam, attrs)
        except ActionFailed:
            raise
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error, account=finding.account, doing="restoring the policy", service="iam"
            ) from error

    def _restore_inline(self, iam: Any, attrs: Mapping[str, Any]) -> Undo:
        target = _Inline(attrs["principal_type"], attrs["principal"], attrs["policy_name"])
        try:
            current = target.call(iam, "get")["PolicyDocument"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) != _GONE:
                raise
            current = None
        if current is not None:
            if _text(current) == attrs["document"]:
                return Undo(f"already restored: {target} is in place")
            raise ActionFailed(State.CHANGED, f"{target} was put again since; not overwriting it")
        try:
            target.call(iam, "put", PolicyDocument=attrs["document"])
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _GONE:
                raise ActionFailed(
                    State.GONE,
                    f"{target.kind} {target.principal} no longer exists; nothing restored",
                ) from error
            raise
        return Undo(f"restored {target}")

    def _restore_version(self, iam: Any, attrs: Mapping[str, Any]) -> Undo:
        arn = attrs["policy_arn"]
        versions = self._versions(iam, arn)
        created = self._recreate(iam, arn, attrs["document"], versions, default=False)
        return Undo(
            f"re-created the deleted version {attrs['original_version']} of {arn} as "
            f"{created} (not the default)",
            {"restored_version": created},
        )

    def _restore_managed(self, iam: Any, attrs: Mapping[str, Any]) -> Undo:
        arn = attrs["policy_arn"]
        original, containment = attrs["original_version"], attrs["containment_version"]
        versions = self._versions(iam, arn)
        by_id = {v["VersionId"]: v for v in versions}
        default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
        if default != containment:
            if containment not in by_id and default == attrs.get("restored_version", original):
                return Undo(f"already restored: {default} is the default version of {arn}")
            raise ActionFailed(
                State.CHANGED,
                f"the default version of {arn} is now {default}, not remedy's {containment}; "
                "not overwriting it",
            )
        notes = []
        out: dict[str, Any] = {}
        if original in by_id:
            iam.set_default_policy_version(PolicyArn=arn, VersionId=original)
            restored = original
        else:
            # Dismissed earlier (the original was deleted): put its document back.
            restored = self._recreate(iam, arn, attrs["document"], versions, default=True)
            notes.append(f"re-created from the recorded document as {restored}")
            out["restored_version"] = restored
        iam.delete_policy_version(PolicyArn=arn, VersionId=containment)
        evicted = attrs.get("evicted")
        if evicted and not attrs.get("evicted_restored"):
            again = self._recreate(
                iam, arn, evicted["document"], self._versions(iam, arn), default=False
            )
            notes.append(f"the version deleted to make room is back as {again}")
            out["evicted_restored"] = again
        extra = f" ({'; '.join(notes)})" if notes else ""
        return Undo(
            f"restored {arn}: {restored} is the default again and remedy's {containment} is "
            f"deleted{extra}",
            out,
        )

    def finalise(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        if attrs["kind"] == "inline":
            return Undo("kept contained: the inline policy stays deleted")
        if attrs["kind"] == "managed-version":
            return Undo("kept contained: the offending version stays deleted")
        arn, original = attrs["policy_arn"], attrs["original_version"]
        try:
            iam = self.sessions.client(
                "iam", finding.account, finding.region, finding_key=finding.key
            )
            versions = self._versions(iam, arn)
            if any(v["VersionId"] == original and not v["IsDefaultVersion"] for v in versions):
                iam.delete_policy_version(PolicyArn=arn, VersionId=original)
                done = f"deleted the offending version {original}"
            else:
                done = f"the offending version {original} is already gone"
        except ActionFailed:
            raise
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error,
                account=finding.account,
                doing=f"finalising containment of {arn}",
                service="iam",
            ) from error
        # A version deleted to make room stays in the ledger only: re-creating it now would
        # fill the policy again and leave a later release no room to restore the original.
        return Undo(f"kept contained: {arn} allows nothing; {done}")

    def _versions(self, iam: Any, arn: str) -> list[dict[str, Any]]:
        try:
            versions: list[dict[str, Any]] = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _GONE:
                raise ActionFailed(State.GONE, f"policy {arn} no longer exists") from error
            raise
        return versions

    def _recreate(
        self, iam: Any, arn: str, document: str, versions: list[dict[str, Any]], *, default: bool
    ) -> str:
        if len(versions) >= MAX_VERSIONS:
            raise ActionFailed(
                State.FAILED,
                f"{arn} already has {MAX_VERSIONS} versions, IAM's limit; delete a non-default "
                "version and try again",
            )
        created: str = iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=document, SetAsDefault=default
        )["PolicyVersion"]["VersionId"]
        return created


def _offending(
    finding: Finding,
    versions: list[dict[str, Any]],
    documents: Mapping[str, Mapping[str, Any]],
    default: str,
) -> str:
    """The version the call wrote: named in the finding, else the one with its document,
    else the default (a Security Hub finding names only the policy)."""
    named = finding.parameters.get("version_id")
    if isinstance(named, str) and named in documents:
        return named
    sent = finding.parameters.get("policy_document")
    if sent is not None:
        try:
            wanted = _text(parse_document(sent))
        except InvalidPolicyDocument:
            wanted = None
        newest_first = sorted(versions, key=lambda v: v["CreateDate"], reverse=True)
        for version in newest_first:
            if _text(documents[version["VersionId"]]) == wanted:
                return str(version["VersionId"])
    return default
