"""iam-policy-guard on moto: contain at once, then approve (restore) or dismiss (finalise),
across two member accounts with the role's policy enforced."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import EVENTS, load_json
from fixtures_guard import (
    MEMBERS,
    Core,
    admin,
    enforced,
    install_role,
    running_core,
    trust,
)
from remedy.actions.iam_policy_guard import ALLOW_NOTHING, DENY_ALL, IamPolicyGuard
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS
PERMISSIONS = IamPolicyGuard.permissions
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}
# `*` matches every restricted entry; the reason shows two groups and counts the rest.
ADMIN_ALLOWED = (
    "statement 0, by Action *, allows iam:CreatePolicyVersion, iam:SetDefaultPolicyVersion, "
    "iam:Attach*Policy, iam:Put*Policy: rewrites or attaches policies, so the holder can grant "
    "itself anything; iam:AddUserToGroup, iam:UpdateAssumeRolePolicy, iam:CreateLoginProfile, "
    "iam:UpdateLoginProfile: takes over other identities (joins their groups, edits who may "
    "assume a role, sets their console password); and 26 more restricted actions"
)


@pytest.fixture(autouse=True)
def _shipped_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMEDY_POLICY_DIR", raising=False)


def event(name: str, account: str, **params: Any) -> Finding:
    """A sample IAM event from events/, in `account`, with `params` as its request."""
    data: dict[str, Any] = copy.deepcopy(load_json(EVENTS / f"cloudtrail-iam-{name}.json"))
    data["account"] = data["detail"]["recipientAccountId"] = account
    data["detail"]["userIdentity"]["accountId"] = account
    data["detail"]["requestParameters"] = params
    if name == "createpolicy":
        data["detail"]["responseElements"]["policy"]["arn"] = (
            f"arn:aws:iam::{account}:policy/{params['policyName']}"
        )
    [found] = normalise(data)
    return found


def managed(account: str, name: str, *documents: dict[str, Any]) -> str:
    """A managed policy whose versions are `documents`, the last one the default."""
    iam = admin(account, "iam")
    arn: str = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(documents[0]))[
        "Policy"
    ]["Arn"]
    for document in documents[1:]:
        iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
        )
    return arn


def versions(account: str, arn: str) -> dict[str, tuple[bool, Any]]:
    """Version id -> (is default, document)."""
    iam = admin(account, "iam")
    return {
        v["VersionId"]: (
            v["IsDefaultVersion"],
            iam.get_policy_version(PolicyArn=arn, VersionId=v["VersionId"])["PolicyVersion"][
                "Document"
            ],
        )
        for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]
    }


def role_policy(account: str, role: str, name: str) -> Any:
    iam = admin(account, "iam")
    if name not in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        return None
    return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def app_role(account: str) -> None:
    admin(account, "iam").create_role(
        RoleName="app",
        AssumeRolePolicyDocument=trust("ec2.amazonaws.com"),
    )


def test_created_admin_policy_is_contained_then_approval_restores_it(core: Core) -> None:
    for account in MEMBERS:
        install_role(account, PERMISSIONS)
    arn = managed(A, "break-glass", ADMIN)
    arn_b = managed(B, "break-glass", ADMIN)
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    found = event("createpolicy", A, policyName="break-glass", policyDocument=json.dumps(ADMIN))

    with enforced():
        outcome = guard.run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"contained {arn}: in version v1, {ADMIN_ALLOWED}. Made v2, which allows nothing, the "
        "default; v1 is kept for approval",
    )
    assert versions(A, arn) == {"v1": (False, ADMIN), "v2": (True, ALLOW_NOTHING)}
    assert versions(B, arn_b) == {"v1": (True, ADMIN)}  # the other account is untouched
    assert outcome.attrs["original_version"] == "v1"
    assert outcome.attrs["containment_version"] == "v2"
    assert json.loads(outcome.attrs["document"]) == ADMIN
    assert len(outcome.attrs["matches"]) == 34

    with enforced():
        again = guard.run(found, {}, resume=False)
    assert (again.state, again.reason) == (
        State.GONE,
        f"already contained: the default version v2 of {arn} is remedy's containment",
    )

    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == (f"restored {arn}: v1 is the default again and remedy's v2 is deleted")
    assert versions(A, arn) == {"v1": (True, ADMIN)}
    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == f"already restored: v1 is the default version of {arn}"


def test_full_policy_evicts_oldest_dismiss_then_release(core: Core) -> None:
    install_role(A, PERMISSIONS)
    arn = managed(A, "data", READER, READER, READER, READER, ADMIN)
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    found = event(
        "createpolicyversion",
        A,
        policyArn=arn,
        policyDocument=json.dumps(ADMIN),
        setAsDefault=True,
    )

    with enforced():
        outcome = guard.run(found, {"contain_with": "deny-all"}, resume=False)
    assert outcome.reason == (
        f"contained {arn}: in version v5, {ADMIN_ALLOWED}. Made v6, which denies everything, "
        "the default; v5 is kept for approval; version v1 (the oldest) was deleted to make "
        "room and is recorded"
    )
    assert versions(A, arn) == {
        "v2": (False, READER),
        "v3": (False, READER),
        "v4": (False, READER),
        "v5": (False, ADMIN),
        "v6": (True, DENY_ALL),
    }

    with enforced():
        kept = guard.finalise(found, outcome.attrs)
    assert kept.reason == (
        f"kept contained: {arn} allows nothing; deleted the offending version v5"
    )
    assert versions(A, arn) == {
        "v2": (False, READER),
        "v3": (False, READER),
        "v4": (False, READER),
        "v6": (True, DENY_ALL),
    }

    # Released later (a false positive after all): the dismissed document comes back, and
    # so does the version deleted to make room.
    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == (
        f"restored {arn}: v7 is the default again and remedy's v6 is deleted (re-created from "
        "the recorded document as v7; the version deleted to make room is back as v8)"
    )
    assert undo.attrs == {"restored_version": "v7", "evicted_restored": "v8"}
    assert versions(A, arn) == {
        "v2": (False, READER),
        "v3": (False, READER),
        "v4": (False, READER),
        "v7": (True, ADMIN),
        "v8": (False, READER),
    }
    with enforced():
        again = guard.release(found, {**outcome.attrs, **undo.attrs})
    assert again.reason == f"already restored: v7 is the default version of {arn}"


def test_non_default_version_is_deleted_and_release_recreates_it(core: Core) -> None:
    install_role(A, PERMISSIONS)
    arn = managed(A, "data", READER)
    admin(A, "iam").create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(ADMIN), SetAsDefault=False
    )
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    found = event("createpolicyversion", A, policyArn=arn, policyDocument=json.dumps(ADMIN))
    with enforced():
        outcome = guard.run(found, {}, resume=False)
    assert outcome.reason == (
        f"contained {arn}: in version v2, which is not the default, {ADMIN_ALLOWED}. Deleted "
        "v2 so it cannot be made the default; the default v1 is unchanged and the document is "
        "kept for approval"
    )
    assert versions(A, arn) == {"v1": (True, READER)}
    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == (f"re-created the deleted version v2 of {arn} as v3 (not the default)")
    assert versions(A, arn) == {"v1": (True, READER), "v3": (False, ADMIN)}


def test_inline_policy_is_deleted_and_put_back_exactly(core: Core) -> None:
    install_role(A, PERMISSIONS)
    app_role(A)
    escalate = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
            {
                "Sid": "AlmostAll",
                "Effect": "Allow",
                "NotAction": ["iam:Get*", "iam:List*"],
                "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
            },
        ],
    }
    text = json.dumps(escalate)
    admin(A, "iam").put_role_policy(RoleName="app", PolicyName="ops", PolicyDocument=text)
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    found = event("putrolepolicy", A, roleName="app", policyName="ops", policyDocument=text)

    with enforced():
        outcome = guard.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED
    assert outcome.reason.startswith(
        "contained inline policy ops of role app: statement 1 (AlmostAll), by NotAction "
        "iam:Get*, iam:List*, allows iam:CreatePolicyVersion, iam:SetDefaultPolicyVersion,"
    )
    assert outcome.reason.endswith(". Deleted it; its document is kept for approval")
    assert role_policy(A, "app", "ops") is None

    with enforced():
        kept = guard.finalise(found, outcome.attrs)
    assert kept.reason == "kept contained: the inline policy stays deleted"

    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == "restored inline policy ops of role app"
    assert role_policy(A, "app", "ops") == escalate
    with enforced():
        undo = guard.release(found, outcome.attrs)
    assert undo.reason == "already restored: inline policy ops of role app is in place"


def test_resumed_inline_containment_recovers_the_document_from_the_request(core: Core) -> None:
    """An attempt that deleted the policy and crashed before the ledger heard of it."""
    install_role(A, PERMISSIONS)
    admin(A, "iam").create_user(UserName="dev")
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    found = event(
        "putuserpolicy", A, userName="dev", policyName="p", policyDocument=json.dumps(ADMIN)
    )
    with enforced():
        fresh = guard.run(found, {}, resume=False)
        resumed = guard.run(found, {}, resume=True)
    assert (fresh.state, fresh.reason) == (
        State.GONE,
        "already fixed: inline policy p of user dev no longer exists",
    )
    assert resumed.state is State.QUARANTINED
    assert resumed.reason.endswith(
        ". An earlier attempt deleted it; its document is kept for approval"
    )
    assert json.loads(resumed.attrs["document"]) == ADMIN


def test_harmless_and_own_role_policies_are_left_alone(core: Core) -> None:
    install_role(A, PERMISSIONS)
    admin(A, "iam").create_group(GroupName="readers")
    admin(A, "iam").put_group_policy(
        GroupName="readers", PolicyName="read", PolicyDocument=json.dumps(READER)
    )
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    reader = event(
        "putgrouppolicy",
        A,
        groupName="readers",
        policyName="read",
        policyDocument=json.dumps(READER),
    )
    with enforced():
        outcome = guard.run(reader, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        "nothing restricted: inline policy read of group readers allows none of the "
        "restricted actions",
    )
    own = event(
        "putrolepolicy",
        A,
        roleName=core.settings.remediation_role_name,
        policyName="remediation",
        policyDocument=json.dumps(ADMIN),
    )
    with enforced():
        outcome = guard.run(own, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        "left alone: inline policy remediation of role remedy-remediation is remedy's own "
        "remediation role, changed by its stack",
    )
    assert role_policy(A, "remedy-remediation", "remediation") is not None


# --- every declared permission is needed -----------------------------------------------------


# Each scenario sets up a case that needs the permission and returns (the call under
# test, how to observe what it may change, what the DENIED reason says was being done).
Scenario = tuple[Callable[[], Any], Callable[[], Any], str]


def _managed_run(guard: IamPolicyGuard) -> Scenario:
    arn = managed(A, "break-glass", ADMIN)
    found = event("createpolicy", A, policyName="break-glass", policyDocument=json.dumps(ADMIN))
    return (
        (lambda: guard.run(found, {}, resume=False)),
        (lambda: versions(A, arn)),
        (f"containing {arn}"),
    )


def _dormant_run(guard: IamPolicyGuard) -> Scenario:
    arn = managed(A, "data", READER)
    admin(A, "iam").create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(ADMIN), SetAsDefault=False
    )
    found = event("createpolicyversion", A, policyArn=arn, policyDocument=json.dumps(ADMIN))
    return (
        (lambda: guard.run(found, {}, resume=False)),
        (lambda: versions(A, arn)),
        (f"containing {arn}"),
    )


def _managed_release(guard: IamPolicyGuard) -> Scenario:
    arn = managed(A, "break-glass", ADMIN)
    found = event("createpolicy", A, policyName="break-glass", policyDocument=json.dumps(ADMIN))
    attrs = guard.run(found, {}, resume=False).attrs
    return (
        (lambda: guard.release(found, attrs)),
        (lambda: versions(A, arn)),
        ("restoring the policy"),
    )


def _inline(kind: str, step: str) -> Callable[[IamPolicyGuard], Scenario]:
    def scenario(guard: IamPolicyGuard) -> Scenario:
        iam = admin(A, "iam")
        cap, name = kind.capitalize(), "app"
        if kind == "role":
            app_role(A)
        else:
            getattr(iam, f"create_{kind}")(**{f"{cap}Name": name})
        names = {f"{cap}Name": name, "PolicyName": "p"}
        getattr(iam, f"put_{kind}_policy")(**names, PolicyDocument=json.dumps(ADMIN))
        found = event(
            f"put{kind}policy",
            A,
            **{f"{kind}Name": name, "policyName": "p"},
            policyDocument=json.dumps(ADMIN),
        )

        def state() -> Any:
            listed = getattr(iam, f"list_{kind}_policies")(**{f"{cap}Name": name})
            return listed["PolicyNames"]

        if step == "run":
            doing = f"containing inline policy p of {kind} app"
            return (lambda: guard.run(found, {}, resume=False)), state, doing
        attrs = guard.run(found, {}, resume=False).attrs
        return (lambda: guard.release(found, attrs)), state, "restoring the policy"

    return scenario


SCENARIOS: dict[str, Callable[[IamPolicyGuard], Scenario]] = {
    "iam:ListPolicyVersions": _managed_run,
    "iam:GetPolicyVersion": _managed_run,
    "iam:CreatePolicyVersion": _managed_run,
    "iam:DeletePolicyVersion": _dormant_run,
    "iam:SetDefaultPolicyVersion": _managed_release,
    **{f"iam:Get{k.capitalize()}Policy": _inline(k, "run") for k in ("user", "role", "group")},
    **{f"iam:Delete{k.capitalize()}Policy": _inline(k, "run") for k in ("user", "role", "group")},
    **{f"iam:Put{k.capitalize()}Policy": _inline(k, "release") for k in ("user", "role", "group")},
}


def test_scenarios_cover_every_declared_permission() -> None:
    assert set(SCENARIOS) == set(PERMISSIONS)


@pytest.mark.parametrize("missing", sorted(PERMISSIONS))
def test_role_without_a_declared_permission_is_denied_and_nothing_changes(
    core: Core, missing: str
) -> None:
    install_role(A, PERMISSIONS - {missing})
    core.prime(A)
    guard = IamPolicyGuard(core.sessions, core.settings)
    attempt, observe, doing = SCENARIOS[missing](guard)
    before = observe()
    with enforced():
        try:
            result = attempt()
        except ActionFailed as failed:
            result = failed
    assert (result.state, result.reason) == (
        State.DENIED,
        f"{doing}: the remediation role in {A} may not call {missing}; update the member "
        "stack so its role grants what the remediation actions declare",
    )
    assert observe() == before


def test_options_schema() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(IamPolicyGuard.schema)
    assert validator.is_valid({})
    assert validator.is_valid({"contain_with": "deny-all"})
    assert not validator.is_valid({"contain_with": "delete"})


def test_unreadable_restricted_list_fails_and_changes_nothing(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_role(A, PERMISSIONS)
    arn = managed(A, "break-glass", ADMIN)
    core.prime(A)
    path = tmp_path / "restricted-actions.yaml"
    path.write_text("version: 1\nrestricted: []\n", encoding="utf-8")
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(tmp_path))
    found = event("createpolicy", A, policyName="break-glass", policyDocument=json.dumps(ADMIN))
    with enforced():
        outcome = IamPolicyGuard(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        "the restricted-actions list cannot be read; nothing changed: "
        f"{path}:restricted: [] should be non-empty",
    )
    assert versions(A, arn) == {"v1": (True, ADMIN)}
