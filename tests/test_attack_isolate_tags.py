"""Attacks on isolate-instance through the remedy:* tags a member (or the compromised
instance's own role) can write before remedy ever acts.

The tags are how a rerun learns what an attempt that died had recorded; a first attempt
has written none, so any it finds were written by someone else and must not steer it.
"""

from __future__ import annotations

import pytest

from fixtures_containment import (
    Isolating,
    groups_named,
    instance,
    instance_finding,
    isolating,
    member,
    state_of,
)
from fixtures_guard import MEMBERS, Core, admin, enforced, running_core
from remedy.actions.isolate_instance import IsolateInstance
from remedy.actions.isolate_instance.network import ISOLATION_GROUP
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State

_core = pytest.fixture(name="core")(running_core)
_isolating = pytest.fixture(name="isolating")(isolating)

A, B = MEMBERS


def test_a_forged_isolated_for_tag_does_not_close_the_finding(core: Core) -> None:
    """The attack: the instance tags itself ``remedy:isolated-for`` with any value, and
    remedy answered GONE ("already isolated"), closing the finding with the instance
    still on its network."""
    net, arn = member(A)
    net_b, arn_b = member(B)
    target = instance(A, net, arn)
    bystander = instance(B, net_b, arn_b)
    admin(A, "ec2").create_tags(
        Resources=[target], Tags=[{"Key": "remedy:isolated-for", "Value": "forged"}]
    )
    before, before_b = state_of(A, target), state_of(B, bystander)
    core.prime(A)
    with enforced():
        outcome = IsolateInstance(core.sessions, core.settings).run(
            instance_finding(A, target), {}, resume=False
        )
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"refused: instance {target} in {A} us-east-1 is tagged remedy:isolated-for=forged "
        f"but its interfaces are not on {ISOLATION_GROUP}: that isolation did not finish, or "
        "the tag was written in the account; nothing changed. Look up ledger entry forged; "
        "if there is none, delete the tag and approve again",
    )
    assert state_of(A, target) == before
    assert state_of(B, bystander) == before_b


def test_a_planted_termination_tag_does_not_make_release_unprotect(isolating: Isolating) -> None:
    """The attack: an instance with termination protection on is tagged
    ``remedy:prior-termination-protection=false`` before remedy acts; the isolation took
    the tag as its own record, and its release turned the protection off."""
    target = isolating.subject
    ec2 = admin(A, "ec2")
    ec2.modify_instance_attribute(InstanceId=target, DisableApiTermination={"Value": True})
    ec2.create_tags(
        Resources=[target],
        Tags=[{"Key": "remedy:prior-termination-protection", "Value": "false"}],
    )
    _assert_protection_kept(isolating)


def _assert_protection_kept(isolating: Isolating) -> None:
    """The isolation records the protection as on, and release leaves it on."""
    outcome = isolating.run()
    assert outcome.state is State.QUARANTINED
    assert outcome.attrs["termination_protection_before"] is True
    isolating.release(outcome.attrs)
    assert state_of(A, isolating.subject)["termination_protection"] is True


def test_a_planted_marker_with_the_ledger_key_does_not_vouch_for_the_tags(
    isolating: Isolating,
) -> None:
    """The attack, one step on: the member reads the GuardDuty finding in its account,
    computes the ledger key as remedy does and plants ``remedy:isolated-for`` with it
    beside the termination tag. On a first attempt (the ledger knows of none) no tag on
    the instance is remedy's."""
    target = isolating.subject
    ec2 = admin(A, "ec2")
    ec2.modify_instance_attribute(InstanceId=target, DisableApiTermination={"Value": True})
    ec2.create_tags(
        Resources=[target],
        Tags=[
            {"Key": "remedy:isolated-for", "Value": isolating.found.key},
            {"Key": "remedy:prior-termination-protection", "Value": "false"},
        ],
    )
    _assert_protection_kept(isolating)


def test_planted_prior_groups_are_not_what_release_restores(isolating: Isolating) -> None:
    """The attack: the member puts an interface on a group it named remedy-isolation and
    tags it ``remedy:prior-groups`` with a group open to the world; the isolation recorded
    that group as the interface's own, and release put the interface on it."""
    net, target = isolating.net, isolating.subject
    ec2 = admin(A, "ec2")
    own = ec2.create_security_group(GroupName=ISOLATION_GROUP, Description="x", VpcId=net.vpc)
    wide = ec2.create_security_group(GroupName="wide", Description="x", VpcId=net.vpc)
    eni = state_of(A, target)["interfaces"][0][0]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[own["GroupId"]])
    ec2.create_tags(
        Resources=[eni], Tags=[{"Key": "remedy:prior-groups", "Value": wide["GroupId"]}]
    )
    outcome = isolating.run()
    assert outcome.state is State.QUARANTINED
    recorded = {e["id"]: e["prior_groups"] for e in outcome.attrs["interfaces"]}
    assert recorded[eni] is None
    with pytest.raises(ActionFailed) as refused:
        isolating.release(outcome.attrs)
    assert refused.value.state is State.CHANGED
    assert f"the groups {eni} had before are not recorded" in str(refused.value)
    (isolation,) = groups_named(A, net.vpc, ISOLATION_GROUP)
    assert dict((e, g) for e, g, _ in state_of(A, target)["interfaces"])[eni] == (
        isolation["GroupId"],
    )
