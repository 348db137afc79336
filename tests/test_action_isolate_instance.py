"""isolate-instance on moto: two member accounts, the role's policy enforced.

Each instance is a workload as it runs (two interfaces, two volumes, an instance profile
whose role has its own policy, in an Auto Scaling group); the findings are built with
the Finding model in the shape the GuardDuty normaliser gives them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures_containment import (
    GROUP,
    Isolating,
    Network,
    groups_named,
    install_policy,
    instance,
    instance_finding,
    isolating,
    member,
    recorded,
    revocation,
    snapshots,
    state_of,
)
from fixtures_guard import MEMBERS, REGION, Core, admin, enforced, install_role, running_core
from remedy.actions.isolate_instance import IsolateInstance
from remedy.actions.isolate_instance.network import ISOLATION_GROUP, TRANSIT_GROUP
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State

_core = pytest.fixture(name="core")(running_core)
_isolating = pytest.fixture(name="isolating")(isolating)

A, B = MEMBERS
PERMISSIONS = IsolateInstance.permissions
RELEASE_ONLY = {"autoscaling:ExitStandby", "ec2:DeleteTags", "iam:DeleteRolePolicy"}


def rules(account: str, vpc: str, name: str) -> list[Any]:
    (group,) = groups_named(account, vpc, name)
    return list(group["IpPermissions"]) + list(group["IpPermissionsEgress"])


def assert_isolated(account: str, net: Network, instance_id: str, key: str) -> None:
    (isolation,) = groups_named(account, net.vpc, ISOLATION_GROUP)
    now = state_of(account, instance_id)
    assert [groups for _, groups, _ in now["interfaces"]] == [(isolation["GroupId"],)] * 2
    assert now["termination_protection"] is True
    assert now["auto_scaling"] == [(GROUP, "Standby")]
    assert len(now["role_policies"]) == 2
    assert len(snapshots(account, key)) == 2
    assert rules(account, net.vpc, ISOLATION_GROUP) == []
    assert rules(account, net.vpc, TRANSIT_GROUP) == []


def test_isolate_then_release_across_accounts(core: Core) -> None:
    net, arn = member(A)
    net_b, arn_b = member(B)
    target = instance(A, net, arn)
    bystander = instance(B, net_b, arn_b)
    before, before_b = state_of(A, target), state_of(B, bystander)
    core.prime(A)
    action = IsolateInstance(core.sessions, core.settings)
    found = instance_finding(A, target)

    with enforced():
        outcome = action.run(found, {}, resume=False)

    assert outcome.state is State.QUARANTINED
    taken = snapshots(A, found.key)
    (isolation,) = groups_named(A, net.vpc, ISOLATION_GROUP)
    iso = isolation["GroupId"]
    # In the instance's order (device index), as the action reads them.
    first, second = outcome.attrs["interfaces"]
    assert sorted((e["id"], tuple(e["prior_groups"])) for e in (first, second)) == [
        (eni, groups) for eni, groups, _ in before["interfaces"]
    ]
    assert {first["vpc_id"], second["vpc_id"]} == {net.vpc}
    assert sorted((s["volume_id"], s["snapshot_id"]) for s in outcome.attrs["snapshots"]) == sorted(
        (s["VolumeId"], s["SnapshotId"]) for s in taken
    )
    profile_attrs = outcome.attrs["profile"]
    policy, stamp = profile_attrs["policy_name"], profile_attrs["revoked_before"]
    assert outcome.reason == (
        f"isolated instance {target} in {A} us-east-1. Evidence: snapshots "
        + ", ".join(f"{s['snapshot_id']} of {s['volume_id']}" for s in outcome.attrs["snapshots"])
        + " (tagged with the finding and ledger key); termination protection on. Network: "
        f"moved {first['id']} from {', '.join(first['prior_groups'])} to {iso}; {second['id']} "
        f"from {', '.join(second['prior_groups'])} to {iso} (remedy-isolation, no rules; "
        "through allow-all first, so tracked connections ended too). Auto Scaling group web: "
        "in standby (desired capacity lowered by 1). Credentials: sessions of instance "
        f"profile role web-role issued before {stamp} revoked ({policy}). Release would put "
        f"each interface's groups back, return it to service in web, remove {policy}, turn "
        "termination protection off; the snapshots are kept"
    )
    assert outcome.attrs["auto_scaling"] == {
        "group": GROUP,
        "state": "InService",
        "decremented": True,
    }
    assert_isolated(A, net, target, found.key)
    for snapshot in taken:
        tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
        assert tags == {
            "remedy:finding": found.id,
            "remedy:ledger-key": found.key,
            "remedy:instance": target,
            "remedy:volume": snapshot["VolumeId"],
        }
    document = admin(A, "iam").get_role_policy(RoleName="web-role", PolicyName=policy)
    assert document["PolicyDocument"]["Statement"] == revocation(stamp)
    assert state_of(B, bystander) == before_b

    with enforced():
        undo = action.release(found, outcome.attrs)
    kept = ", ".join(s["snapshot_id"] for s in outcome.attrs["snapshots"])
    assert undo.reason == (
        f"released instance {target}: {first['id']} is back on "
        f"{', '.join(first['prior_groups'])}; {second['id']} is back on "
        f"{', '.join(second['prior_groups'])}; in service again in Auto Scaling group web; "
        f"sessions of role web-role issued before {stamp} work again; termination protection "
        f"off again; snapshots {kept} are kept as evidence"
    )
    assert state_of(A, target) == before
    assert [s["SnapshotId"] for s in snapshots(A, found.key)] == [s["SnapshotId"] for s in taken]

    with enforced():
        again = action.release(found, outcome.attrs)
    assert again.reason == (
        f"already restored: instance {target} is as it was; snapshots {kept} are kept as evidence"
    )


def test_redelivery_acts_once(core: Core, isolating: Isolating) -> None:
    target = isolating.subject
    first = isolating.run()
    isolated = state_of(A, target)
    with recorded(core, A) as calls:
        second = isolating.run(resume=True)
    assert calls.changes == []
    assert second.state is State.QUARANTINED
    assert second.attrs == first.attrs
    assert state_of(A, target) == isolated
    assert_isolated(A, isolating.net, target, isolating.found.key)


def fault_rounds(core: Core, prefix: str) -> Iterator[tuple[Isolating, dict[str, Any]]]:
    """A fault loop's rounds, without end: each a new instance in A (the member set up
    once), isolate-instance and a finding on it keyed ``<prefix>-<round>``, and the
    instance's state before."""
    net, arn = member(A)
    core.prime(A)
    action = IsolateInstance(core.sessions, core.settings)
    for index in itertools.count():
        target = instance(A, net, arn)
        found = instance_finding(A, target, key=f"{prefix}-{index}")
        yield Isolating(action, found, target, net, arn), state_of(A, target)


def test_a_fault_at_every_call_then_the_redelivery(core: Core) -> None:
    """Whatever call fails, what was changed is recorded (in the outcome and on the
    instance), the redelivery finishes the isolation once, and release restores exactly.
    Call N fails on the Nth instance, until an isolation makes fewer than N calls."""
    for index, (case, before) in enumerate(fault_rounds(core, "fault")):
        action, found, target = case.action, case.found, case.subject
        with recorded(core, A, fail_at=index) as calls:
            failed = action.run(found, {}, resume=False)
        if len(calls.names) <= index:
            assert failed.state is State.QUARANTINED
            break
        name = calls.names[index]
        assert failed.state is State.FAILED, name
        assert failed.reason.startswith(
            f"isolating instance {target}: ServiceUnavailable: injected fault"
        ), failed.reason
        _assert_recorded(before, state_of(A, target), failed.attrs, name)

        done = action.run(found, {}, resume=True)
        assert done.state is State.QUARANTINED, (name, done.reason)
        assert_isolated(A, case.net, target, found.key)
        action.release(found, done.attrs)
        assert state_of(A, target) == before, name
    assert index >= 25, calls.names


def _assert_recorded(
    before: dict[str, Any], now: dict[str, Any], attrs: dict[str, Any], call: str
) -> None:
    """Every change the failed attempt made has its prior state recorded."""
    tags = dict(now["tags"])
    for (eni, groups, _), (_, groups_now, eni_tags) in zip(
        before["interfaces"], now["interfaces"], strict=True
    ):
        if groups_now != groups:
            assert dict(eni_tags)["remedy:prior-groups"] == " ".join(groups), (call, eni)
            assert {
                "id": eni,
                "vpc_id": attrs["interfaces"][0]["vpc_id"],
                "prior_groups": list(groups),
            } in attrs["interfaces"]
    if now["termination_protection"] != before["termination_protection"]:
        assert tags["remedy:prior-termination-protection"] == "false", call
    if now["auto_scaling"] != before["auto_scaling"]:
        assert tags["remedy:prior-auto-scaling"] == f"InService yes {GROUP}", call
    if now["role_policies"] != before["role_policies"]:
        assert len(now["role_policies"]) == 2, call
    if now != before:
        assert "remedy:isolated-for" in tags, call


def test_a_fault_at_every_release_call_then_the_retry(core: Core) -> None:
    for index, (case, before) in enumerate(fault_rounds(core, "release-fault")):
        action, found, target = case.action, case.found, case.subject
        outcome = action.run(found, {}, resume=False)
        with recorded(core, A, fail_at=index) as calls:
            try:
                action.release(found, outcome.attrs)
            except ActionFailed as failed:
                assert (failed.state, failed.reason) == (
                    State.FAILED,
                    f"releasing instance {target}: ServiceUnavailable: injected fault",
                ), calls.names[index]
            else:
                assert len(calls.names) <= index
                break
        action.release(found, outcome.attrs)
        assert state_of(A, target) == before, calls.names[index]
    assert index >= 10, calls.names


def test_release_refuses_when_the_instance_changed(isolating: Isolating) -> None:
    net, target = isolating.net, isolating.subject
    outcome = isolating.run()
    (primary, *_), _ = state_of(A, target)["interfaces"]
    admin(A, "ec2").modify_network_interface_attribute(NetworkInterfaceId=primary, Groups=[net.ssh])
    admin(A, "autoscaling").exit_standby(InstanceIds=[target], AutoScalingGroupName=GROUP)
    admin(A, "autoscaling").enter_standby(
        InstanceIds=[target], AutoScalingGroupName=GROUP, ShouldDecrementDesiredCapacity=True
    )
    admin(A, "autoscaling").detach_instances(
        InstanceIds=[target], AutoScalingGroupName=GROUP, ShouldDecrementDesiredCapacity=False
    )
    changed = state_of(A, target)
    iso = outcome.attrs["isolation_groups"][net.vpc]
    with pytest.raises(ActionFailed) as caught:
        isolating.release(outcome.attrs)
    kept = ", ".join(s["snapshot_id"] for s in outcome.attrs["snapshots"])
    assert (caught.value.state, caught.value.reason) == (
        State.CHANGED,
        f"instance {target} changed since it was isolated: interface {primary} is now on "
        f"{net.ssh}, not {iso}; it is no longer in Auto Scaling group {GROUP}. Nothing "
        f"restored; snapshots {kept} are kept as evidence",
    )
    assert state_of(A, target) == changed


def test_release_of_a_terminated_instance_keeps_the_snapshots(core: Core) -> None:
    net, arn = member(A)
    target = instance(A, net, arn, in_group=False)
    core.prime(A)
    action = IsolateInstance(core.sessions, core.settings)
    found = instance_finding(A, target)
    with enforced():
        outcome = action.run(found, {}, resume=False)
    assert "auto_scaling" not in outcome.attrs
    ec2 = admin(A, "ec2")
    ec2.modify_instance_attribute(InstanceId=target, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[target])
    with enforced(), pytest.raises(ActionFailed) as caught:
        action.release(found, outcome.attrs)
    kept = ", ".join(s["snapshot_id"] for s in outcome.attrs["snapshots"])
    assert (caught.value.state, caught.value.reason) == (
        State.GONE,
        f"instance {target} is terminated in {A} us-east-1; nothing restored; snapshots "
        f"{kept} are kept as evidence",
    )
    assert len(snapshots(A, found.key)) == 2


def test_refusals_change_nothing(core: Core, isolating: Isolating) -> None:
    target = isolating.subject
    before = state_of(A, target)
    cases = [
        (
            instance_finding(A, target, sample=True),
            State.GONE,
            "left alone: a sample finding (generated, not a real threat)",
        ),
        (
            instance_finding(B, target),
            State.GONE,
            f"instance {target} no longer exists in {B} us-east-1",
        ),
        (
            instance_finding(A, "i-0123456789abcdef0"),
            State.GONE,
            f"instance i-0123456789abcdef0 no longer exists in {A} us-east-1",
        ),
    ]
    foreign = instance_finding(A, target)
    foreign.resources[0].id = f"arn:aws:ec2:us-east-1:{B}:instance/{target}"
    cases.append(
        (
            foreign,
            State.FAILED,
            f"refused: arn:aws:ec2:us-east-1:{B}:instance/{target} is in account {B}, not {A} "
            "where the finding is; nothing changed",
        )
    )
    nameless = instance_finding(A, target)
    nameless.resources = ()
    cases.append((nameless, State.FAILED, "the finding names no EC2 instance; nothing changed"))
    install_role(B, PERMISSIONS)
    core.prime(B)
    for found, state, reason in cases:
        isolating.found = found
        outcome = isolating.run()
        assert (outcome.state, outcome.reason) == (state, reason)
    assert state_of(A, target) == before
    assert snapshots(A, "gd-c2-1") == []


def test_an_instance_isolated_for_another_finding_is_left_alone(isolating: Isolating) -> None:
    target = isolating.subject
    isolating.found = instance_finding(A, target, key="first")
    isolating.run()
    isolated = state_of(A, target)
    isolating.found = instance_finding(A, target, key="second")
    outcome = isolating.run()
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"instance {target} in {A} us-east-1 is already isolated for ledger entry first; "
        "nothing changed",
    )
    assert state_of(A, target) == isolated
    assert snapshots(A, "second") == []


def test_a_break_glass_profile_role_is_isolated_without_revoking(isolating: Isolating) -> None:
    target, arn = isolating.subject, isolating.profile
    outcome = isolating.run({"break_glass": ["web-*"]})
    assert outcome.state is State.QUARANTINED
    why = (
        "role web-role is a break-glass principal (the rule's break_glass lists web-*); a "
        "person must decide whether to lock it out"
    )
    assert f"sessions not revoked: {why}" in outcome.reason
    assert outcome.attrs["profile"] == {"arn": arn, "role": "web-role", "refused": why}
    assert state_of(A, target)["role_policies"] == ["app"]


def test_at_the_groups_minimum_standby_keeps_the_desired_capacity(isolating: Isolating) -> None:
    target = isolating.subject
    admin(A, "autoscaling").update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=1)
    before = state_of(A, target)
    outcome = isolating.run()
    assert outcome.attrs["auto_scaling"] == {
        "group": GROUP,
        "state": "InService",
        "decremented": False,
    }
    assert "Auto Scaling group web: in standby." in outcome.reason
    isolating.release(outcome.attrs)
    assert state_of(A, target)["auto_scaling"] == before["auto_scaling"]


def test_rules_someone_gave_the_isolation_group_are_revoked(core: Core) -> None:
    net, arn = member(A)
    ec2 = admin(A, "ec2")
    planted = ec2.create_security_group(
        GroupName=ISOLATION_GROUP, Description="not remedy's", VpcId=net.vpc
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=planted,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    target = instance(A, net, arn)
    core.prime(A)
    with enforced():
        outcome = IsolateInstance(core.sessions, core.settings).run(
            instance_finding(A, target), {}, resume=False
        )
    assert outcome.attrs["isolation_groups"] == {net.vpc: planted}
    assert rules(A, net.vpc, ISOLATION_GROUP) == []


@pytest.mark.parametrize("missing", sorted(PERMISSIONS - RELEASE_ONLY))
def test_role_without_a_declared_permission_is_denied(core: Core, missing: str) -> None:
    net, arn = member(A)
    core.prime(A)
    if missing != "ec2:CreateSecurityGroup":
        # Not the VPC's first isolation: the transit group exists, emptied, and needs its
        # allow-all rules again (a new group comes with the egress ones).
        earlier = instance_finding(A, instance(A, net, arn), key="earlier")
        action = IsolateInstance(core.sessions, core.settings)
        action.release(earlier, action.run(earlier, {}, resume=False).attrs)
    install_policy(A, PERMISSIONS - {missing})
    target = instance(A, net, arn)
    with enforced():
        outcome = IsolateInstance(core.sessions, core.settings).run(
            instance_finding(A, target), {}, resume=False
        )
    assert outcome.state is State.DENIED
    assert outcome.reason.startswith(
        f"isolating instance {target}: the remediation role in {A} may not call {missing}; "
        "update the member stack so its role grants what the remediation actions declare"
    ), outcome.reason


@pytest.mark.parametrize("missing", sorted(RELEASE_ONLY))
def test_release_without_a_declared_permission_is_denied(
    isolating: Isolating, missing: str
) -> None:
    outcome = isolating.run()
    install_policy(A, PERMISSIONS - {missing})
    with pytest.raises(ActionFailed) as caught:
        isolating.release(outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.DENIED,
        f"releasing instance {isolating.subject}: the remediation role in {A} may not call "
        f"{missing}; update the member stack so its role grants what the remediation actions "
        "declare",
    )


def test_every_describe_pins_the_owner(core: Core, isolating: Isolating) -> None:
    """EC2 has no owner parameter on its changes; every read that finds what they act on
    is confined to the finding's account (moto does not enforce the filter)."""
    ec2 = core.sessions.client("ec2", A, REGION, finding_key="x")
    seen: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))

    ec2.meta.events.register("provide-client-params.ec2.*", keep)
    isolating.release(isolating.run().attrs)
    ec2.meta.events.unregister("provide-client-params.ec2.*", keep)
    reads = [(name, params) for name, params in seen if name.startswith("Describe")]
    assert {name for name, _ in reads} == {
        "DescribeInstances",
        "DescribeSnapshots",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeInstanceAttribute",
    }
    for name, params in reads:
        if name == "DescribeSnapshots":
            assert params["OwnerIds"] == [A]
        elif name != "DescribeInstanceAttribute":  # names the instance found above
            assert {"Name": "owner-id", "Values": [A]} in params["Filters"], (name, params)
