"""Contain a stolen credential: revoke its principal's sessions and deactivate its key.

Triggers: GuardDuty's credential findings (``UnauthorizedAccess:IAMUser/Instance
CredentialExfiltration.*``, ``CredentialAccess:IAMUser/AnomalousBehavior`` and their
family), read into an ``iam-access-key`` resource (id the key, name the user or role,
``details.user_type``), or an ``iam-user`` / ``iam-role`` resource (id its ARN).

What it does, each change recorded before the next:

1. Revokes the role's or user's sessions issued before now: an inline deny-all policy
   conditioned on ``aws:TokenIssueTime`` (`remedy.actions.revoke_sessions`).
2. For an IAM user's long-term key (``AKIA…``): tags the user with the key's status
   (``remedy:key-status:<key id>``), so a rerun knows it even if the ledger never heard,
   then deactivates the key. It is never deleted. A temporary key (an assumed role's)
   has nothing to deactivate: the revocation ends it.

Release removes the policy this containment put and reactivates the key, after checking
both are as remedy left them; otherwise it refuses and says what changed.

Refused, with the reason: the root user (notify only: root's keys and sessions are the
account owner's to end), service-linked roles, IAM Identity Center roles, remedy's own
roles, the break-glass principals the rule lists (``break_glass``: names or ARNs, globs),
federated users, GuardDuty sample findings, a resource whose ARN names another account,
and a user or role whose unique id is not the ``principalId`` the finding names (a
namesake: another account's caller, or a principal made since under that name).

Example policy rule::

    - id: contain-stolen-credentials
      match:
        source: [guardduty]
        type: ["UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.*"]
        min_severity: HIGH
      action: approve
      remediation: contain-principal
      options:
        break_glass: ["BreakGlass", "arn:aws:iam::*:role/emergency/*"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remedy.actions import aws_errors, revoke_sessions
from remedy.actions.containment import Containment, foreign, refused_sample
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, Undo
from remedy.actions.revoke_sessions import Principal
from remedy.ledger.base import State
from remedy.model import Finding, Resource, ResourceKind

KEY_TAG_PREFIX = "remedy:key-status:"
_ROLE_TYPES = frozenset({"AssumedRole", "Role"})
_GONE = "NoSuchEntity"


@dataclass(frozen=True, slots=True)
class _Target:
    principal: Principal | None
    key_id: str | None = None
    #: When refused: who, and what a person should do instead.
    refused: tuple[str, str] | None = None
    #: Who the finding says used the credentials (GuardDuty's ``principalId``), if it says.
    principal_id: str | None = None


_ROOT = (
    "the root user",
    "Act in the account yourself: rotate root's password and MFA, delete its access keys",
)


def _from_arn(kind: str, resource: Resource, account: str) -> _Target:
    _, _, rest = resource.id.partition(f":{kind}/")
    path, _, name = ("/" + rest).rpartition("/")
    name = resource.name or name
    return _Target(Principal(kind, name, account, (path or "") + "/"))


def _target(finding: Finding) -> _Target | None:
    for resource in finding.resources:
        if resource.kind is ResourceKind.IAM_ACCESS_KEY:
            user_type = str(resource.details.get("user_type") or "IAMUser")
            name = resource.name or ""
            if user_type == "Root" or name == "Root":
                return _Target(None, resource.id, _ROOT)
            if not name:
                return _Target(
                    None,
                    resource.id,
                    (f"access key {resource.id}", "The finding names no user or role for it"),
                )
            seen = resource.details.get("principal_id")
            seen = seen if isinstance(seen, str) and seen else None
            if user_type in _ROLE_TYPES:
                return _Target(Principal("role", name, finding.account), principal_id=seen)
            if user_type != "IAMUser":
                return _Target(
                    None,
                    resource.id,
                    (
                        f"{user_type} {name}",
                        "Revoke it at the IAM user or identity provider that issued its session",
                    ),
                )
            return _Target(Principal("user", name, finding.account), resource.id, principal_id=seen)
        if resource.kind in (ResourceKind.IAM_ROLE, ResourceKind.IAM_USER):
            if resource.id.endswith(":root"):
                return _Target(None, None, _ROOT)
            kind = "role" if resource.kind is ResourceKind.IAM_ROLE else "user"
            return _from_arn(kind, resource, finding.account)
    return None


@register("contain-principal")
class ContainPrincipal(Containment):
    """Revoke a principal's sessions and deactivate its access key; release undoes both."""

    permissions = frozenset(
        {
            "iam:GetRole",
            "iam:GetUser",
            *revoke_sessions.PERMISSIONS["role"],
            *revoke_sessions.PERMISSIONS["user"],
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:ListUserTags",
            "iam:TagUser",
            "iam:UntagUser",
        }
    )
    resource_kinds = frozenset(
        {
            ResourceKind.IAM_ACCESS_KEY.value,
            ResourceKind.IAM_USER.value,
            ResourceKind.IAM_ROLE.value,
        }
    )

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        sample = refused_sample(finding)
        if sample is not None:
            return sample
        for resource in finding.resources:
            wrong = foreign(finding, resource)
            if wrong is not None:
                return wrong
        target = _target(finding)
        if target is None:
            return Outcome(
                State.FAILED, "the finding names no IAM user, role or access key; nothing changed"
            )
        if target.principal is None:
            assert target.refused is not None
            who, todo = target.refused
            return Outcome(
                State.FAILED,
                f"refused: {who} cannot be contained by remedy; nothing changed. {todo}",
            )
        principal = target.principal
        account = finding.account
        done: dict[str, Any] = {"principal_type": principal.kind, "principal": principal.name}
        break_glass = options.get("break_glass", ())
        try:
            # Refused by the name the finding gives before any call, and again by the name
            # and path IAM gives (IAM names are case-insensitive; GuardDuty names no path).
            why = revoke_sessions.refusal(principal, self.settings, break_glass)
            if why is not None:
                return Outcome(State.FAILED, f"refused: {why}; nothing changed")
            iam = self.sessions.client("iam", account, finding.region, finding_key=finding.key)
            try:
                if principal.kind == "role":
                    found = iam.get_role(RoleName=principal.name)["Role"]
                    name = found["RoleName"]
                else:
                    found = iam.get_user(UserName=principal.name)["User"]
                    name = found["UserName"]
            except aws_errors.AWS_ERRORS as error:
                if aws_errors.code(error) == _GONE:
                    return Outcome(State.GONE, f"{principal} no longer exists in {account}")
                raise
            principal = Principal(principal.kind, name, account, found.get("Path", "/"))
            done["principal"] = principal.name
            why = revoke_sessions.refusal(principal, self.settings, break_glass)
            if why is not None:
                return Outcome(State.FAILED, f"refused: {why}; nothing changed")
            unique = found.get("RoleId" if principal.kind == "role" else "UserId")
            seen = target.principal_id
            # A name is not who used the key: another account's, or one made since, has it.
            if seen and unique and seen.partition(":")[0] != unique:
                return Outcome(
                    State.FAILED,
                    f"refused: the finding's credentials are principal {seen}, not "
                    f"{principal} in {account} (id {unique}): another principal of that "
                    "name; nothing changed",
                )
            return self._contain(iam, finding, principal, target.key_id, done, resume=resume)
        except aws_errors.AWS_ERRORS as error:
            failed = aws_errors.failure(
                error, account=account, doing=f"containing {principal}", service="iam"
            )
            return Outcome(failed.state, _with_progress(failed.reason, done), done)

    def _contain(
        self,
        iam: Any,
        finding: Finding,
        principal: Principal,
        key_id: str | None,
        done: dict[str, Any],
        *,
        resume: bool,
    ) -> Outcome:
        try:
            name, stamp, earlier = revoke_sessions.put(
                iam, principal, finding.key, datetime.now(UTC)
            )
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _GONE:
                return Outcome(State.GONE, f"{principal} no longer exists in {finding.account}")
            raise
        done.update(policy_name=name, revoked_before=stamp)
        said = [
            f"{'an earlier attempt revoked' if earlier else 'revoked'} the sessions of "
            f"{principal} issued before {stamp} (inline deny-all policy {name})"
        ]
        undo = [f"remove {name}"]
        if key_id is not None:
            prior = self._deactivate(iam, principal.name, key_id, rerun=earlier and resume)
            if prior is None:
                said.append(f"access key {key_id} is not {principal}'s (deleted?); nothing to do")
            else:
                done["access_key"] = {"id": key_id, "prior_status": prior}
                if prior == "Active":
                    said.append(f"deactivated access key {key_id} (not deleted)")
                    undo.append(f"reactivate {key_id}")
                else:
                    said.append(f"access key {key_id} was already {prior}")
        return Outcome(
            State.QUARANTINED,
            f"contained {principal} in {finding.account}: {'; '.join(said)}. Evidence: the "
            f"finding and this record. Release would {' and '.join(undo)}",
            done,
        )

    def _deactivate(self, iam: Any, user: str, key_id: str, *, rerun: bool) -> str | None:
        """Deactivate `key_id`; its status before remedy, or None when the user has no such
        key. The status goes on the user's tags first, so a rerun reads it back; only a
        rerun (the ledger says an attempt started, and its revocation, which comes first,
        is there) trusts a tag it finds: else someone in the account wrote it."""
        status = _key_status(iam, user, key_id)
        if status is None:
            return None
        tag = KEY_TAG_PREFIX + key_id
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
        if rerun and tag in tags:
            prior: str = tags[tag]
        else:
            prior = status
            if status == "Active":
                iam.tag_user(UserName=user, Tags=[{"Key": tag, "Value": status}])
        if status == "Active":
            iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        return prior

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        principal = Principal(attrs["principal_type"], attrs["principal"], finding.account)
        key = attrs.get("access_key")
        account = finding.account
        try:
            iam = self.sessions.client("iam", account, finding.region, finding_key=finding.key)
            reactivate = False
            if key is not None and key["prior_status"] == "Active":
                status = _key_status(iam, principal.name, key["id"])
                if status is None:
                    raise ActionFailed(
                        State.CHANGED,
                        f"access key {key['id']} of {principal} was deleted since; not "
                        "restoring anything (the revocation stays)",
                    )
                reactivate = status == "Inactive"
            said = []
            if "policy_name" in attrs:
                try:
                    removed = revoke_sessions.remove(
                        iam, principal, attrs["policy_name"], attrs["revoked_before"]
                    )
                except revoke_sessions.Changed as changed:
                    raise ActionFailed(
                        State.CHANGED, f"{changed}; not restoring anything"
                    ) from None
                said.append(removed or f"the revocation on {principal} was already removed")
            if key is not None and key["prior_status"] == "Active":
                if reactivate:
                    iam.update_access_key(
                        UserName=principal.name, AccessKeyId=key["id"], Status="Active"
                    )
                    said.append(f"access key {key['id']} is active again")
                else:
                    said.append(f"access key {key['id']} was already active")
                iam.untag_user(UserName=principal.name, TagKeys=[KEY_TAG_PREFIX + key["id"]])
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error, account=account, doing=f"releasing {principal}", service="iam"
            ) from error
        return Undo(f"released {principal}: {'; '.join(said)}")


def _key_status(iam: Any, user: str, key_id: str) -> str | None:
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) == _GONE:
            return None
        raise
    return next((str(k["Status"]) for k in keys if k["AccessKeyId"] == key_id), None)


def _with_progress(reason: str, done: Mapping[str, Any]) -> str:
    if "policy_name" not in done:
        return reason + "; nothing changed"
    return (
        f"{reason}; before that, the sessions were revoked ({done['policy_name']}, recorded "
        "here); a retry finishes and acts once"
    )
