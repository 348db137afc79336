"""Attack on contain-principal through the ``remedy:key-status:<key id>`` tag on a user.

The tag is how a rerun learns a key's status before remedy deactivated it; it is
written after the sessions are revoked, so an attempt that finds no revocation of its
own has written none, and a tag already on the user was put there by someone else.
"""

from __future__ import annotations

import pytest

from fixtures_containment import key_finding
from fixtures_guard import MEMBERS, Core, admin, enforced, install_role, running_core
from remedy.actions.contain_principal import ContainPrincipal
from remedy.ledger.base import State

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS


def keys(account: str, user: str) -> list[tuple[str, str]]:
    found = admin(account, "iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return [(k["AccessKeyId"], k["Status"]) for k in found]


def test_a_planted_key_status_tag_does_not_make_release_activate_a_key(core: Core) -> None:
    """The attack: an old key an administrator deactivated is tagged
    ``remedy:key-status:<key>=Active`` on its user; remedy took the tag for its own record
    of the key's prior status, and its release activated the key."""
    install_role(A, ContainPrincipal.permissions)
    iam = admin(A, "iam")
    iam.create_user(UserName="deploy")
    old = iam.create_access_key(UserName="deploy")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="deploy", AccessKeyId=old, Status="Inactive")
    iam.tag_user(UserName="deploy", Tags=[{"Key": f"remedy:key-status:{old}", "Value": "Active"}])
    admin(B, "iam").create_user(UserName="deploy")
    core.prime(A)
    action = ContainPrincipal(core.sessions, core.settings)
    found = key_finding(A, old, "deploy")
    with enforced():
        outcome = action.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED
    assert outcome.attrs["access_key"] == {"id": old, "prior_status": "Inactive"}
    assert f"access key {old} was already Inactive" in outcome.reason
    with enforced():
        action.release(found, outcome.attrs)
    assert keys(A, "deploy") == [(old, "Inactive")]
    assert admin(B, "iam").list_user_policies(UserName="deploy")["PolicyNames"] == []
