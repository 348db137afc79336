"""EC2.2 beyond the shared control tests (`test_action_controls.py`): each rule recorded
exactly, one source at a time (a referenced group, a prefix list, IPv6, descriptions, tags)
and given back its tags on release; the
network interfaces using the group counted in the outcome; a group that is not a default
group refused; and release refusing, in so many words, when a rule was added since."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from control_cases import CASES, DEFAULT_SG_TAGS, MADE, default_sg_rules
from control_events import control_finding
from fixtures_guard import MEMBERS, REGION, Core, admin, running_core
from remedy.actions.controls.ec2_default_sg import DefaultSecurityGroupClosed
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding

_core = pytest.fixture(name="core")(running_core)
A, B = MEMBERS
[CASE] = [c for c in CASES if c.remediation == "default-sg-closed"]


def finding(account: str, group: str) -> Finding:
    arn = f"arn:aws:ec2:{REGION}:{account}:security-group/{group}"
    return control_finding(
        "asff",
        account,
        "EC2.2",
        asff=("AwsEc2SecurityGroup", arn),
        ocsf=("AWS::EC2::SecurityGroup", group, arn),
    )


def make(core: Core) -> DefaultSecurityGroupClosed:
    for account in MEMBERS:
        CASE.setup(account)
    core.prime(*MEMBERS)
    return DefaultSecurityGroupClosed(core.sessions, core.settings)


def test_every_rule_is_recorded_exactly_and_the_interfaces_using_the_group_are_counted(
    core: Core,
) -> None:
    action = make(core)
    sg = MADE[("default-sg", A)]
    outcome = action.run(finding(A, sg), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    # One source a rule, in a stable order (of each rule's JSON).
    assert outcome.attrs["before"] == {
        "ingress": [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "office"}],
                "Tags": DEFAULT_SG_TAGS,
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "PrefixListIds": [{"PrefixListId": "pl-12345678"}],
            },
            {
                "IpProtocol": "-1",
                "UserIdGroupPairs": [{"UserId": A, "GroupId": sg, "Description": "self"}],
            },
        ],
        "egress": [
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "dns"}],
            },
            # AWS's allow-all egress, both ways in a VPC with an IPv6 block.
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    }
    assert outcome.attrs["after"] == {"ingress": [], "egress": []}
    assert default_sg_rules(A) == []
    assert outcome.reason.endswith(
        "; 1 network interface uses the group and loses the traffic its rules allowed"
    )
    other = action.run(finding(B, MADE[("default-sg", B)]), {}, resume=False)
    assert other.reason.endswith("; no network interface uses the group")


def test_a_group_that_is_not_a_default_group_is_refused(core: Core) -> None:
    action = make(core)
    ec2 = admin(A, "ec2")
    [vpc] = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.2.0.0/16"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ingress = [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ingress)
    before = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    outcome = action.run(finding(A, group), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"default security group {group} in {A}: it is not its VPC's default group (it is "
        "named 'web'); EC2.2 is about default groups only; nothing changed",
    )
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"] == before


def test_release_names_the_rule_added_since_and_restores_nothing(core: Core) -> None:
    action = make(core)
    sg = MADE[("default-sg", B)]
    found = finding(B, sg)
    outcome = action.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    CASE.drift(B)
    drifted = default_sg_rules(B)
    with pytest.raises(ActionFailed) as refused:
        action.release(found, outcome.attrs)
    added = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
    }
    assert (refused.value.state, refused.value.reason) == (
        State.CHANGED,
        f"default security group {sg} in {B} changed since remedy fixed it (ingress was [] "
        f"as remedy left it, now [{added}]); nothing restored, to keep that change",
    )
    assert default_sg_rules(B) == drifted


def test_a_fault_on_the_egress_revoke_puts_the_ingress_rules_back(core: Core) -> None:
    """The fix is two calls (ingress, egress): when the second fails, the first is undone,
    so the redelivery records the same rules and release can restore them all."""
    action = make(core)
    sg = MADE[("default-sg", A)]
    prior = default_sg_rules(A)
    client = core.sessions.client("ec2", A, REGION, finding_key="prime")
    made: list[str] = []

    def fail_egress(model: object, **_: object) -> None:
        name = getattr(model, "name", "")
        made.append(name)
        if name == "RevokeSecurityGroupEgress":
            raise EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com")

    client.meta.events.register("before-call.ec2.*", fail_egress, unique_id="egress-fault")
    try:
        outcome = action.run(finding(A, sg), {}, resume=False)
    finally:
        client.meta.events.unregister("before-call.ec2.*", unique_id="egress-fault")
    assert outcome.state is State.FAILED
    assert "Could not connect to the endpoint URL" in outcome.reason
    # The undo authorizes the untagged rules, then the tagged one with its tags.
    assert made[-4:] == [
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
    ]
    assert default_sg_rules(A) == prior  # tags included


def test_release_gives_each_rule_back_its_own_tags_under_a_new_rule_id(core: Core) -> None:
    """A tagged rule comes back with exactly its tags, an untagged one with none; EC2 gives
    each a new ``sgr-`` id, which release cannot keep (the outcome's docs say so)."""
    action = make(core)
    sg = MADE[("default-sg", A)]
    ec2 = admin(A, "ec2")
    # A second tag set on an egress rule: one authorize call per set of tags.
    ec2.create_tags(
        Resources=[
            r["SecurityGroupRuleId"]
            for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [sg]}]
            )["SecurityGroupRules"]
            if r["IsEgress"] and r.get("CidrIpv6") == "::/0" and r["IpProtocol"] == "udp"
        ],
        Tags=[{"Key": "owner", "Value": "dns"}],
    )

    def described() -> dict[str, tuple[str, list[dict[str, str]]]]:
        found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])
        return {
            f"{r['IsEgress']} {r['IpProtocol']} {r.get('FromPort')} "
            f"{r.get('CidrIpv4') or r.get('CidrIpv6') or r.get('PrefixListId') or 'self'}": (
                r["SecurityGroupRuleId"],
                sorted(r["Tags"], key=lambda t: t["Key"]),
            )
            for r in found["SecurityGroupRules"]
        }

    prior = described()
    assert prior["False tcp 443 10.9.0.0/16"][1] == DEFAULT_SG_TAGS
    assert prior["True udp 53 ::/0"][1] == [{"Key": "owner", "Value": "dns"}]
    outcome = action.run(finding(A, sg), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert default_sg_rules(A) == []
    client = core.sessions.client("ec2", A, REGION, finding_key="prime")
    made: list[tuple[str, object]] = []

    def watch(model: object, params: dict[str, object], **_: object) -> None:
        made.append((getattr(model, "name", ""), params.get("TagSpecifications")))

    # The call's own parameters, before botocore serialises them.
    client.meta.events.register("provide-client-params.ec2.*", watch, unique_id="watch")
    try:
        action.release(finding(A, sg), outcome.attrs)
    finally:
        client.meta.events.unregister("provide-client-params.ec2.*", unique_id="watch")
    after = described()
    assert {k: tags for k, (_, tags) in after.items()} == {
        k: tags for k, (_, tags) in prior.items()
    }
    assert all(after[k][0] != prior[k][0] for k in prior)  # new rule ids
    spec = "security-group-rule"
    assert made == [
        ("DescribeSecurityGroups", None),
        ("DescribeSecurityGroupRules", None),
        # In the recorded rules' order, which here puts the tagged ones first.
        ("AuthorizeSecurityGroupIngress", [{"ResourceType": spec, "Tags": DEFAULT_SG_TAGS}]),
        ("AuthorizeSecurityGroupIngress", None),
        (
            "AuthorizeSecurityGroupEgress",
            [{"ResourceType": spec, "Tags": [{"Key": "owner", "Value": "dns"}]}],
        ),
        ("AuthorizeSecurityGroupEgress", None),
    ]
