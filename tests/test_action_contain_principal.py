"""contain-principal on moto: two member accounts, the role's policy enforced."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import CONFORMANCE, EVENTS, load_json
from fixtures_containment import (
    Containing,
    deploy,
    install_policy,
    key_finding,
    principal_state,
    recorded,
    revocation,
    user_with_key,
)
from fixtures_guard import MEMBERS, Core, admin, enforced, install_role, running_core
from remedy.actions.contain_principal import ContainPrincipal
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Resource, ResourceKind
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)
_deploy = pytest.fixture(name="deploy")(deploy)

A, B = MEMBERS
PERMISSIONS = ContainPrincipal.permissions
RELEASE_ONLY = {"iam:DeleteUserPolicy", "iam:DeleteRolePolicy", "iam:UntagUser"}
ROLE_ONLY = {"iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"}


def test_contain_a_user_then_release_across_accounts(deploy: Containing) -> None:
    key = deploy.subject
    key_b = user_with_key(B)
    before, before_b = principal_state(A, "deploy"), principal_state(B, "deploy")

    outcome = deploy.run()

    policy, stamp = outcome.attrs["policy_name"], outcome.attrs["revoked_before"]
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"contained user deploy in {A}: revoked the sessions of user deploy issued before "
        f"{stamp} (inline deny-all policy {policy}); deactivated access key {key} (not "
        f"deleted). Evidence: the finding and this record. Release would remove {policy} "
        f"and reactivate {key}",
    )
    assert outcome.attrs == {
        "principal_type": "user",
        "principal": "deploy",
        "policy_name": policy,
        "revoked_before": stamp,
        "access_key": {"id": key, "prior_status": "Active"},
    }
    assert principal_state(A, "deploy") == {
        "keys": [(key, "Inactive")],
        "policies": [policy],
        "tags": [{"Key": f"remedy:key-status:{key}", "Value": "Active"}],
    }
    document = admin(A, "iam").get_user_policy(UserName="deploy", PolicyName=policy)
    assert document["PolicyDocument"]["Statement"] == revocation(stamp)
    assert principal_state(B, "deploy") == before_b
    assert key_b != key

    undo = deploy.release(outcome.attrs)
    assert undo.reason == (
        f"released user deploy: sessions of user deploy issued before {stamp} work again; "
        f"access key {key} is active again"
    )
    assert principal_state(A, "deploy") == before
    again = deploy.release(outcome.attrs)
    assert again.reason == (
        "released user deploy: the revocation on user deploy was already removed; access key "
        f"{key} was already active"
    )
    assert principal_state(A, "deploy") == before


def test_an_assumed_role_has_its_sessions_revoked(core: Core) -> None:
    install_role(A, PERMISSIONS)
    admin(A, "iam").create_role(RoleName="app-role", AssumeRolePolicyDocument="{}")
    core.prime(A)
    action = ContainPrincipal(core.sessions, core.settings)
    found = key_finding(A, "ASIAEXAMPLETEMPORARY", "app-role", user_type="AssumedRole")
    with enforced():
        outcome = action.run(found, {}, resume=False)
    policy, stamp = outcome.attrs["policy_name"], outcome.attrs["revoked_before"]
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"contained role app-role in {A}: revoked the sessions of role app-role issued "
        f"before {stamp} (inline deny-all policy {policy}). Evidence: the finding and this "
        f"record. Release would remove {policy}",
    )
    iam = admin(A, "iam")
    assert iam.list_role_policies(RoleName="app-role")["PolicyNames"] == [policy]
    with enforced():
        action.release(found, outcome.attrs)
    assert iam.list_role_policies(RoleName="app-role")["PolicyNames"] == []


def test_a_role_named_by_its_arn(core: Core) -> None:
    install_role(A, PERMISSIONS)
    admin(A, "iam").create_role(RoleName="ci", Path="/build/", AssumeRolePolicyDocument="{}")
    core.prime(A)
    found = key_finding(A, "unused", "unused")
    found.resources = (Resource(ResourceKind.IAM_ROLE, f"arn:aws:iam::{A}:role/build/ci"),)
    with enforced():
        outcome = ContainPrincipal(core.sessions, core.settings).run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED
    assert outcome.attrs["principal"] == "ci"


def test_redelivery_acts_once(core: Core, deploy: Containing) -> None:
    first = deploy.run()
    contained = principal_state(A, "deploy")
    with recorded(core, A) as calls:
        second = deploy.run(resume=True)
    assert calls.changes == []
    assert second.attrs == first.attrs
    assert second.reason.startswith(
        f"contained user deploy in {A}: an earlier attempt revoked the sessions"
    )
    assert principal_state(A, "deploy") == contained


def test_a_fault_at_every_call_then_the_redelivery(core: Core) -> None:
    install_role(A, PERMISSIONS)
    core.prime(A)
    action = ContainPrincipal(core.sessions, core.settings)
    index = 0
    while True:
        name = f"user-{index}"
        key = user_with_key(A, name)
        before = principal_state(A, name)
        found = key_finding(A, key, name, key=f"fault-{index}")
        with recorded(core, A, fail_at=index) as calls:
            failed = action.run(found, {}, resume=False)
        if len(calls.names) <= index:
            assert failed.state is State.QUARANTINED
            break
        assert failed.state is State.FAILED, calls.names[index]
        assert failed.reason.startswith(
            f"containing user {name}: ServiceUnavailable: injected fault"
        )
        now = principal_state(A, name)
        if now["keys"] != before["keys"]:
            # The key was deactivated: its status before is on the user's tags.
            assert {"Key": f"remedy:key-status:{key}", "Value": "Active"} in now["tags"]
        done = action.run(found, {}, resume=True)
        assert done.state is State.QUARANTINED
        assert done.attrs["access_key"] == {"id": key, "prior_status": "Active"}
        action.release(found, done.attrs)
        assert principal_state(A, name) == before, calls.names[index]
        index += 1
    assert index >= 5


@pytest.mark.parametrize(
    ("resource", "setup", "reason"),
    [
        (
            Resource(
                ResourceKind.IAM_ACCESS_KEY, "AKIAROOT", name="Root", details={"user_type": "Root"}
            ),
            None,
            "refused: the root user cannot be contained by remedy; nothing changed. Act in the "
            "account yourself: rotate root's password and MFA, delete its access keys",
        ),
        (
            Resource(ResourceKind.IAM_USER, f"arn:aws:iam::{A}:root"),
            None,
            "refused: the root user cannot be contained by remedy; nothing changed. Act in the "
            "account yourself: rotate root's password and MFA, delete its access keys",
        ),
        (
            Resource(
                ResourceKind.IAM_ACCESS_KEY,
                "ASIAFED",
                name="partner",
                details={"user_type": "FederatedUser"},
            ),
            None,
            "refused: FederatedUser partner cannot be contained by remedy; nothing changed. "
            "Revoke it at the IAM user or identity provider that issued its session",
        ),
        (
            Resource(
                ResourceKind.IAM_ACCESS_KEY,
                "ASIASLR",
                name="AWSServiceRoleForAutoScaling",
                details={"user_type": "AssumedRole"},
            ),
            "slr",
            "refused: role AWSServiceRoleForAutoScaling is a service-linked role: AWS owns it "
            "and a deny would break the service; find what used it in CloudTrail and contain "
            "that instead; nothing changed",
        ),
        (
            Resource(
                ResourceKind.IAM_ACCESS_KEY,
                "ASIASSO",
                name="AWSReservedSSO_Admin_0123456789abcdef",
                details={"user_type": "AssumedRole"},
            ),
            "sso",
            "refused: role AWSReservedSSO_Admin_0123456789abcdef is an IAM Identity Center "
            "role: revoke the user's sessions and permission set in Identity Center (IAM would "
            "put this role back as it was); nothing changed",
        ),
        (
            Resource(ResourceKind.IAM_ROLE, f"arn:aws:iam::{A}:role/remedy-remediation"),
            None,
            "refused: role remedy-remediation is remedy's own role, changed only by its stack; "
            "nothing changed",
        ),
        (
            Resource(ResourceKind.IAM_ROLE, f"arn:aws:iam::{A}:role/BreakGlass"),
            "break-glass",
            "refused: role BreakGlass is a break-glass principal (the rule's break_glass lists "
            "BreakGlass); a person must decide whether to lock it out; nothing changed",
        ),
        (
            Resource(ResourceKind.IAM_USER, f"arn:aws:iam::{B}:user/deploy"),
            None,
            f"refused: arn:aws:iam::{B}:user/deploy is in account {B}, not {A} where the "
            "finding is; nothing changed",
        ),
    ],
    ids=[
        "root-key",
        "root-arn",
        "federated",
        "service-linked",
        "sso",
        "remedy",
        "break-glass",
        "foreign",
    ],
)
def test_refusals_change_nothing(
    core: Core, resource: Resource, setup: str | None, reason: str
) -> None:
    install_role(A, PERMISSIONS)
    iam = admin(A, "iam")
    if setup == "slr":
        iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    elif setup == "sso":
        iam.create_role(
            RoleName="AWSReservedSSO_Admin_0123456789abcdef",
            Path="/aws-reserved/sso.amazonaws.com/",
            AssumeRolePolicyDocument="{}",
        )
    elif setup == "break-glass":
        iam.create_role(RoleName="BreakGlass", AssumeRolePolicyDocument="{}")
    core.prime(A)
    found = key_finding(A, "unused", "unused")
    found.resources = (resource,)
    with enforced(), recorded(core, A) as calls:
        outcome = ContainPrincipal(core.sessions, core.settings).run(
            found, {"break_glass": ["BreakGlass"]}, resume=False
        )
    assert (outcome.state, outcome.reason) == (State.FAILED, reason)
    assert calls.changes == []


def test_a_sample_finding_is_left_alone(deploy: Containing) -> None:
    before = principal_state(A, "deploy")
    deploy.found.sample = True
    outcome = deploy.run()
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        "left alone: a sample finding (generated, not a real threat)",
    )
    assert principal_state(A, "deploy") == before


def test_a_principal_that_is_gone(core: Core) -> None:
    install_role(A, PERMISSIONS)
    core.prime(A)
    action = ContainPrincipal(core.sessions, core.settings)
    with enforced():
        user = action.run(key_finding(A, "AKIAGONE", "nobody"), {}, resume=False)
        role = action.run(
            key_finding(A, "ASIAGONE", "nobody-role", user_type="AssumedRole"), {}, resume=False
        )
    assert (user.state, user.reason) == (State.GONE, f"user nobody no longer exists in {A}")
    assert (role.state, role.reason) == (State.GONE, f"role nobody-role no longer exists in {A}")


def test_release_refuses_when_the_key_was_deleted_or_the_policy_changed(
    deploy: Containing,
) -> None:
    key = deploy.subject
    outcome = deploy.run()
    policy = outcome.attrs["policy_name"]
    iam = admin(A, "iam")
    iam.put_user_policy(
        UserName="deploy",
        PolicyName=policy,
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", '
        '"Action": "s3:*", "Resource": "*"}]}',
    )
    with pytest.raises(ActionFailed) as caught:
        deploy.release(outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.CHANGED,
        f"inline policy {policy} of user deploy is no longer remedy's revocation; not "
        "restoring anything",
    )
    assert principal_state(A, "deploy")["keys"] == [(key, "Inactive")]

    iam.delete_access_key(UserName="deploy", AccessKeyId=key)
    with pytest.raises(ActionFailed) as caught:
        deploy.release(outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.CHANGED,
        f"access key {key} of user deploy was deleted since; not restoring anything (the "
        "revocation stays)",
    )
    assert iam.list_user_policies(UserName="deploy")["PolicyNames"] == [policy]


@pytest.mark.parametrize("missing", sorted(PERMISSIONS - RELEASE_ONLY - ROLE_ONLY))
def test_role_without_a_declared_permission_is_denied(deploy: Containing, missing: str) -> None:
    install_policy(A, PERMISSIONS - {missing})
    before = principal_state(A, "deploy")
    outcome = deploy.run()
    assert outcome.state is State.DENIED
    assert outcome.reason.startswith(
        f"containing user deploy: the remediation role in {A} may not call {missing}; update "
        "the member stack so its role grants what the remediation actions declare"
    ), outcome.reason
    if missing in ("iam:GetUserPolicy", "iam:PutUserPolicy"):
        assert principal_state(A, "deploy") == before


@pytest.mark.parametrize("missing", sorted(ROLE_ONLY))
def test_role_containment_without_a_declared_permission_is_denied(core: Core, missing: str) -> None:
    install_role(A, PERMISSIONS)
    install_policy(A, PERMISSIONS - {missing})
    admin(A, "iam").create_role(RoleName="app-role", AssumeRolePolicyDocument="{}")
    core.prime(A)
    found = key_finding(A, "ASIAX", "app-role", user_type="AssumedRole")
    with enforced():
        outcome = ContainPrincipal(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.DENIED,
        f"containing role app-role: the remediation role in {A} may not call {missing}; "
        "update the member stack so its role grants what the remediation actions declare; "
        "nothing changed",
    )


def _remote_key_events(caller: str, key_id: str, user_id: str) -> list[dict[str, Any]]:
    """GuardDuty in A about credentials of another account (`caller`'s user ``deploy``,
    used on A's resources): natively (``remoteAccountDetails``) and in its ASFF copy
    (``Details.AwsIamAccessKey.AccountId``)."""
    native = load_json(CONFORMANCE / "guardduty-s3-pentest-parrotlinux.json")
    detail = native["detail"]
    native["account"] = detail["accountId"] = A
    detail["type"] = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    detail["severity"] = 8
    detail["service"]["additionalInfo"] = {}
    detail["resource"]["accessKeyDetails"] = {
        "accessKeyId": key_id,
        "principalId": user_id,
        "userType": "IAMUser",
        "userName": "deploy",
    }
    call = detail["service"]["action"]["awsApiCallAction"]
    call["remoteAccountDetails"] = {"accountId": caller, "affiliated": True}
    asff = load_json(EVENTS / "securityhub-guardduty-ec2-command-and-control.json")
    asff["account"] = A
    item = asff["detail"]["findings"][0]
    item["AwsAccountId"] = A
    item["Resources"] = [
        {
            "Type": "AwsIamAccessKey",
            "Id": f"AWS::IAM::AccessKey:{key_id}",
            "Details": {
                "AwsIamAccessKey": {
                    "AccessKeyId": key_id,
                    "AccountId": caller,
                    "PrincipalId": user_id,
                    "PrincipalName": "deploy",
                    "PrincipalType": "IAMUser",
                }
            },
        }
    ]
    return [native, asff]


def test_credentials_of_another_account_never_contain_a_namesake(core: Core) -> None:
    """Attack: B's user ``deploy`` misuses A's resources (a bucket policy lets it); GuardDuty
    in A reports B's key. A has a ``deploy`` of its own: remedy must not revoke its
    sessions, since a name is not who used the key."""
    install_role(A, PERMISSIONS)
    user_with_key(A)
    key_b = user_with_key(B)
    user_b = admin(B, "iam").get_user(UserName="deploy")["User"]["UserId"]
    core.prime(A)
    before, before_b = principal_state(A, "deploy"), principal_state(B, "deploy")
    action = ContainPrincipal(core.sessions, core.settings)
    for raw in _remote_key_events(B, key_b, user_b):
        (found,) = normalise(raw)
        assert found.account == A
        (key,) = [r for r in found.resources if r.kind not in (ResourceKind.S3_BUCKET,)]
        assert (key.kind, key.id, key.name, key.details) == (
            ResourceKind.OTHER,
            key_b,
            "deploy",
            {"owner_account": B},
        )
        with enforced(), recorded(core, A) as calls:
            outcome = action.run(found, {}, resume=False)
        assert (outcome.state, outcome.reason) == (
            State.FAILED,
            "the finding names no IAM user, role or access key; nothing changed",
        )
        assert calls.changes == []
    assert principal_state(A, "deploy") == before
    assert principal_state(B, "deploy") == before_b


def test_a_namesake_made_since_the_finding_is_refused(core: Core) -> None:
    """A user is a name and a unique id: the ``deploy`` GuardDuty saw was deleted and
    another made with its name; the new one is not the one whose key was stolen."""
    install_role(A, PERMISSIONS)
    old_key = user_with_key(A)
    found = key_finding(A, old_key, "deploy")
    seen = found.resources[0].details["principal_id"]
    iam = admin(A, "iam")
    iam.delete_access_key(UserName="deploy", AccessKeyId=old_key)
    iam.delete_user(UserName="deploy")
    user_with_key(A)
    now = iam.get_user(UserName="deploy")["User"]["UserId"]
    assert now != seen
    core.prime(A)
    before = principal_state(A, "deploy")
    with enforced(), recorded(core, A) as calls:
        outcome = ContainPrincipal(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"refused: the finding's credentials are principal {seen}, not user deploy in {A} "
        f"(id {now}): another principal of that name; nothing changed",
    )
    assert calls.changes == []
    assert principal_state(A, "deploy") == before
