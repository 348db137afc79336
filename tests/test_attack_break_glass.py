"""Attacks on contain-principal's break-glass list: a principal the rule protects must be
refused however the finding names it.

GuardDuty names a user by its name alone, so the path a break-glass ARN glob names
(``user/emergency/*``) is IAM's to say; and IAM names are case-insensitive (``BreakGlass``
and ``breakglass`` are one role: IAM refuses to create the second), so a list written
in one case protects the principal in any.
"""

from __future__ import annotations

import pytest

from fixtures_containment import key_finding, principal_state, recorded
from fixtures_guard import MEMBERS, Core, admin, enforced, install_role, running_core
from remedy.actions.contain_principal import ContainPrincipal
from remedy.ledger.base import State

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS


def test_a_break_glass_user_on_a_path_is_refused(core: Core) -> None:
    """The attack: the finding names the user ``oncall`` (GuardDuty gives no path);
    remedy took its path to be ``/``, so the rule's ``user/emergency/*`` never matched and
    the break-glass user's key was deactivated."""
    install_role(A, ContainPrincipal.permissions)
    for account in (A, B):
        admin(account, "iam").create_user(UserName="oncall", Path="/emergency/")
    key = admin(A, "iam").create_access_key(UserName="oncall")["AccessKey"]["AccessKeyId"]
    before, before_b = principal_state(A, "oncall"), principal_state(B, "oncall")
    core.prime(A)
    with enforced(), recorded(core, A) as calls:
        outcome = ContainPrincipal(core.sessions, core.settings).run(
            key_finding(A, key, "oncall"),
            {"break_glass": ["arn:aws:iam::*:user/emergency/*"]},
            resume=False,
        )
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        "refused: user oncall is a break-glass principal (the rule's break_glass lists "
        "arn:aws:iam::*:user/emergency/*); a person must decide whether to lock it out; "
        "nothing changed",
    )
    assert calls.changes == []
    assert principal_state(A, "oncall") == before
    assert principal_state(B, "oncall") == before_b


@pytest.mark.parametrize("listed", ["BreakGlass", "arn:aws:iam::*:role/BreakGlass"])
def test_a_break_glass_role_named_in_another_case_is_refused(core: Core, listed: str) -> None:
    """The attack (or a careless rule): the role is ``breakglass``, the rule lists
    ``BreakGlass``; IAM takes them for one name, remedy compared them case by case and
    revoked the break-glass role's sessions."""
    install_role(A, ContainPrincipal.permissions)
    admin(A, "iam").create_role(RoleName="breakglass", AssumeRolePolicyDocument="{}")
    core.prime(A)
    with enforced(), recorded(core, A) as calls:
        outcome = ContainPrincipal(core.sessions, core.settings).run(
            key_finding(A, "ASIAEXAMPLE", "breakglass", user_type="AssumedRole"),
            {"break_glass": [listed]},
            resume=False,
        )
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"refused: role breakglass is a break-glass principal (the rule's break_glass lists "
        f"{listed}); a person must decide whether to lock it out; nothing changed",
    )
    assert calls.changes == []
    assert admin(A, "iam").list_role_policies(RoleName="breakglass")["PolicyNames"] == []


def test_remedys_own_role_named_in_another_case_is_refused(core: Core) -> None:
    """remedy's own role, named in capitals by a finding a member wrote (IAM would act on
    the same role)."""
    install_role(A, ContainPrincipal.permissions)
    core.prime(A)
    with enforced(), recorded(core, A) as calls:
        outcome = ContainPrincipal(core.sessions, core.settings).run(
            key_finding(A, "ASIAEXAMPLE", "REMEDY-REMEDIATION", user_type="AssumedRole"),
            {},
            resume=False,
        )
    assert outcome.state is State.FAILED
    assert "is remedy's own role, changed only by its stack" in outcome.reason
    assert calls.changes == []
