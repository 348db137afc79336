"""revoke-open-ingress on moto: a core and two member accounts, the role's policy enforced."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import CONFORMANCE, load_json
from fixtures_guard import (
    MEMBERS,
    REGION,
    Core,
    admin,
    enforced,
    finding,
    install_role,
    resource,
    running_core,
)
from remedy.actions.reversible import ActionFailed
from remedy.actions.sg_open_ingress import RevokeOpenIngress
from remedy.ledger.base import State
from remedy.model import ResourceKind, Source
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS
PERMISSIONS = RevokeOpenIngress.permissions


def make_group(account: str) -> str:
    """A group with SSH open to the world (v4 and v6) and from 10/8, HTTPS open, and Postgres
    from 10/8 only."""
    ec2 = admin(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [
                    {"CidrIp": "0.0.0.0/0", "Description": "temporary debug"},
                    {"CidrIp": "10.0.0.0/8", "Description": "office"},
                ],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            },
        ],
    )
    return group


def rules(account: str, group: str) -> list[tuple[str, Any, Any, str, str]]:
    """The group's ingress as sorted (protocol, from, to, cidr, description) rows."""
    ec2 = admin(account, "ec2")
    perms = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    rows = []
    for p in perms:
        for r in p.get("IpRanges", []):
            rows.append(
                (
                    p["IpProtocol"],
                    p.get("FromPort"),
                    p.get("ToPort"),
                    r["CidrIp"],
                    r.get("Description", ""),
                )
            )
        for r in p.get("Ipv6Ranges", []):
            rows.append(
                (
                    p["IpProtocol"],
                    p.get("FromPort"),
                    p.get("ToPort"),
                    r["CidrIpv6"],
                    r.get("Description", ""),
                )
            )
    return sorted(rows)


def ssh_call(account: str, group: str) -> Any:
    """The recorded CloudTrail event (SSH opened to the world), pointed at our group."""
    event = copy.deepcopy(
        load_json(CONFORMANCE / "cloudtrail-ec2-authorizesecuritygroupingress-ssh-world.json")
    )
    event["account"] = account
    event["detail"]["recipientAccountId"] = account
    event["detail"]["requestParameters"]["groupId"] = group
    [found] = normalise(event)
    return found


def both_open_call(account: str, group: str) -> Any:
    """SSH opened to 0.0.0.0/0 and ::/0 in one call (the recorded open-world event's shape)."""
    event = copy.deepcopy(
        load_json(CONFORMANCE / "cloudtrail-ec2-authorizesecuritygroupingress-open-world.json")
    )
    event["account"] = account
    event["detail"]["userIdentity"]["accountId"] = account
    params = event["detail"]["requestParameters"]
    params["groupId"] = group
    for item in params["ipPermissions"]["items"]:
        item["fromPort"] = item["toPort"] = 22
    [found] = normalise(event)
    return found


SSH_WORLD = ("tcp", 22, 22, "0.0.0.0/0", "temporary debug")
SSH_WORLD6 = ("tcp", 22, 22, "::/0", "")


def test_cloudtrail_call_revokes_exactly_what_it_opened_then_release_restores(core: Core) -> None:
    for account in MEMBERS:
        install_role(account, PERMISSIONS)
    group_a, group_b = make_group(A), make_group(B)
    before_a, before_b = rules(A, group_a), rules(B, group_b)
    core.prime(A)
    action = RevokeOpenIngress(core.sessions, core.settings)
    found = both_open_call(A, group_a)

    with enforced():
        outcome = action.run(found, {}, resume=False)

    assert outcome.state is State.QUARANTINED
    assert outcome.reason == (
        f"revoked tcp 22 from 0.0.0.0/0, ::/0 on security group {group_a} in {A} {REGION}; "
        "its other rules are unchanged"
    )
    assert rules(A, group_a) == sorted(set(before_a) - {SSH_WORLD, SSH_WORLD6})
    assert rules(B, group_b) == before_b  # the other account is untouched
    assert outcome.attrs == {
        "group_id": group_a,
        "region": REGION,
        "revoked": [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "temporary debug"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
    }

    # A redelivery finds nothing left to do.
    with enforced():
        again = action.run(found, {}, resume=True)
    assert (again.state, again.reason) == (
        State.GONE,
        f"already fixed: security group {group_a} in {A} {REGION} has no ingress open to the "
        "world on ports 22, 3389, 3306, 5432, 1433, 6379, 9200, 27017 from this call",
    )

    with enforced():
        undo = action.release(found, outcome.attrs)
    assert undo.reason == f"restored tcp 22 from 0.0.0.0/0, ::/0 on security group {group_a}"
    assert rules(A, group_a) == before_a  # descriptions included
    with enforced():
        undo = action.release(found, outcome.attrs)
    assert undo.reason == f"already restored: tcp 22 from 0.0.0.0/0, ::/0 is open on {group_a}"


def test_call_revokes_only_its_own_cidrs(core: Core) -> None:
    """The recorded SSH call opened only 0.0.0.0/0; the ::/0 rule was there before."""
    install_role(A, PERMISSIONS)
    group = make_group(A)
    before = rules(A, group)
    core.prime(A)
    found = ssh_call(A, group)
    with enforced():
        outcome = RevokeOpenIngress(core.sessions, core.settings).run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED
    assert rules(A, group) == sorted(set(before) - {SSH_WORLD})


def test_security_hub_control_revokes_world_open_listed_ports(core: Core) -> None:
    install_role(B, PERMISSIONS)
    group = make_group(B)
    before = rules(B, group)
    core.prime(B)
    action = RevokeOpenIngress(core.sessions, core.settings)
    found = finding(
        B,
        source=Source.SECURITYHUB,
        type="Software and Configuration Checks/Industry and Regulatory Standards",
        resources=(resource(ResourceKind.SECURITY_GROUP, group),),
        parameters={"control_id": "EC2.19"},
    )

    with enforced():
        outcome = action.run(found, {"ports": [22, 3389]}, resume=False)
    assert outcome.reason == (
        f"revoked tcp 22 from 0.0.0.0/0, ::/0 on security group {group} in {B} {REGION}; "
        "its other rules are unchanged"
    )
    assert rules(B, group) == sorted(set(before) - {SSH_WORLD, SSH_WORLD6})

    # HTTPS stays open to the world but is off the list: the outcome must not say "fixed".
    with enforced():
        off_list = action.run(found, {"ports": [22, 3389]}, resume=True)
    assert (off_list.state, off_list.reason) == (
        State.GONE,
        f"left open: security group {group} in {B} {REGION} is open to the world on tcp 443 "
        "from 0.0.0.0/0, which is not on ports 22, 3389; add the port to the rule's `ports` "
        "option to close it",
    )
    assert rules(B, group) == sorted(set(before) - {SSH_WORLD, SSH_WORLD6})

    # "all" also takes HTTPS; the 10/8 rules stay.
    with enforced():
        outcome_all = action.run(found, {"ports": "all"}, resume=False)
    assert outcome_all.reason == (
        f"revoked tcp 443 from 0.0.0.0/0 on security group {group} in {B} {REGION}; "
        "its other rules are unchanged"
    )
    assert rules(B, group) == [
        ("tcp", 22, 22, "10.0.0.0/8", "office"),
        ("tcp", 5432, 5432, "10.0.0.0/8", ""),
    ]

    with enforced():
        nothing = action.run(found, {"ports": "all"}, resume=False)
    assert (nothing.state, nothing.reason) == (
        State.GONE,
        f"already fixed: security group {group} in {B} {REGION} has no ingress open to the "
        "world on any port",
    )


def test_all_traffic_rule_exposes_every_listed_port(core: Core) -> None:
    install_role(A, PERMISSIONS)
    ec2 = admin(A, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="any", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    core.prime(A)
    found = finding(
        A,
        source=Source.SECURITYHUB,
        type="x",
        resources=(resource(ResourceKind.SECURITY_GROUP, group),),
    )
    with enforced():
        outcome = RevokeOpenIngress(core.sessions, core.settings).run(
            found, {"ports": [22]}, resume=False
        )
    assert outcome.reason.startswith(
        f"revoked all traffic from 0.0.0.0/0 on security group {group}"
    )
    assert rules(A, group) == []


def test_group_gone(core: Core) -> None:
    install_role(A, PERMISSIONS)
    core.prime(A)
    found = finding(
        A,
        source=Source.SECURITYHUB,
        type="x",
        resources=(resource(ResourceKind.SECURITY_GROUP, "sg-0123456789abcdef0"),),
    )
    with enforced():
        outcome = RevokeOpenIngress(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"security group sg-0123456789abcdef0 no longer exists in {A} {REGION}; nothing to revoke",
    )


@pytest.mark.parametrize("missing", sorted(PERMISSIONS - {"ec2:AuthorizeSecurityGroupIngress"}))
def test_role_without_a_declared_permission_is_denied_and_nothing_changes(
    core: Core, missing: str
) -> None:
    install_role(A, PERMISSIONS - {missing})
    group = make_group(A)
    before = rules(A, group)
    core.prime(A)
    found = both_open_call(A, group)
    with enforced():
        outcome = RevokeOpenIngress(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.DENIED,
        f"revoking ingress on {group}: the remediation role in {A} may not call {missing}; "
        "update the member stack so its role grants what the remediation actions declare",
    )
    assert rules(A, group) == before


def test_release_needs_authorize(core: Core) -> None:
    install_role(A, PERMISSIONS - {"ec2:AuthorizeSecurityGroupIngress"})
    group = make_group(A)
    core.prime(A)
    action = RevokeOpenIngress(core.sessions, core.settings)
    found = both_open_call(A, group)
    with enforced():
        outcome = action.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED
    after = rules(A, group)
    with enforced(), pytest.raises(ActionFailed) as caught:
        action.release(found, outcome.attrs)
    assert caught.value.state is State.DENIED
    assert caught.value.reason == (
        f"restoring ingress on {group}: the remediation role in {A} may not call "
        "ec2:AuthorizeSecurityGroupIngress; update the member stack so its role grants what "
        "the remediation actions declare"
    )
    assert rules(A, group) == after


def test_options_schema() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(RevokeOpenIngress.schema)
    assert validator.is_valid({"ports": "all"})
    assert validator.is_valid({"ports": [22, 3389]})
    assert not validator.is_valid({"ports": []})
    assert not validator.is_valid({"ports": [70000]})
    assert not validator.is_valid({"port": 22})
