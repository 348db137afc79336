"""Cutting an instance off the network, ending the connections it already has.

A security group change alone leaves tracked connections open: a reverse shell stays up.
Connections through a group that allows all traffic both ways are not tracked, and an
untracked flow is judged packet by packet. So each interface first goes to a transit
group that allows everything (its connections become untracked), then to the isolation
group, which has no rules at all: from then on nothing passes, the old flows included.
(AWS documents this under "untracked connections"; AWSSupport-ContainEC2Instance does
the same.)

Both groups are per VPC and created on demand. The isolation group never has a rule:
when found with some (created with EC2's default egress rule, or added since), they are
revoked. The transit group has its allow-all rules only while interfaces pass through
it: they are revoked once the move is done (and by any rerun), so no instance that is
merely isolated ever sees them. Each interface's groups go on its tags before it moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from remedy.actions.isolate_instance import records
from remedy.actions.sg_open_ingress import missing

ISOLATION_GROUP = "remedy-isolation"
TRANSIT_GROUP = "remedy-isolation-transit"
_DESCRIPTIONS = {
    ISOLATION_GROUP: "remedy: isolated instances; no rules, by design",
    TRANSIT_GROUP: "remedy: allows all only while an isolation ends tracked connections",
}
ALLOW_ALL: list[dict[str, Any]] = [
    {
        "IpProtocol": "-1",
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
    }
]


@dataclass(frozen=True, slots=True)
class Interface:
    id: str
    vpc_id: str
    groups: tuple[str, ...]
    #: Its groups before remedy, from its tags, when an earlier attempt wrote them.
    recorded: tuple[str, ...] | None
    tags: Mapping[str, str]

    def unrecorded(self) -> Interface:
        """This interface with no record of earlier groups: on a first attempt a
        ``remedy:prior-groups`` tag was written by someone else."""
        return replace(self, recorded=None)


def isolated(ec2: Any, instance: Mapping[str, Any], account: str) -> bool:
    """Whether every interface of `instance` is on its VPC's isolation group alone."""
    enis = interfaces(ec2, instance, account)
    if not enis:
        return False
    groups = groups_by_name(ec2, {e.vpc_id for e in enis}, account)
    return all(
        (e.vpc_id, ISOLATION_GROUP) in groups
        and e.groups == (groups[(e.vpc_id, ISOLATION_GROUP)]["GroupId"],)
        for e in enis
    )


def interfaces(ec2: Any, instance: Mapping[str, Any], account: str) -> list[Interface]:
    """The instance's attached interfaces as EC2 describes them now (tags included)."""
    ids = [n["NetworkInterfaceId"] for n in instance.get("NetworkInterfaces", [])]
    if not ids:
        return []
    found = ec2.describe_network_interfaces(
        NetworkInterfaceIds=ids, Filters=[{"Name": "owner-id", "Values": [account]}]
    )["NetworkInterfaces"]
    out = []
    for eni in sorted(found, key=lambda n: ids.index(n["NetworkInterfaceId"])):
        tags = records.tags_of(eni)
        recorded = records.joined(tags, records.PRIOR_GROUPS)
        out.append(
            Interface(
                eni["NetworkInterfaceId"],
                eni["VpcId"],
                tuple(g["GroupId"] for g in eni.get("Groups", [])),
                tuple(recorded.split()) if recorded is not None else None,
                tags,
            )
        )
    return out


def groups_by_name(
    ec2: Any, vpcs: Iterable[str], account: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """remedy's isolation and transit groups in `vpcs`, by (VPC, name)."""
    found = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": sorted(set(vpcs))},
            {"Name": "group-name", "Values": [ISOLATION_GROUP, TRANSIT_GROUP]},
            {"Name": "owner-id", "Values": [account]},
        ]
    )["SecurityGroups"]
    return {(g["VpcId"], g["GroupName"]): g for g in found}


def create(ec2: Any, vpc: str, name: str, account: str) -> dict[str, Any]:
    """A new group, described: EC2 gives it egress rules (IPv6 too in a dual-stack VPC)."""
    group_id = ec2.create_security_group(
        GroupName=name,
        Description=_DESCRIPTIONS[name],
        VpcId=vpc,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "remedy:purpose", "Value": name}]}
        ],
    )["GroupId"]
    found: dict[str, Any] = ec2.describe_security_groups(
        GroupIds=[group_id], Filters=[{"Name": "owner-id", "Values": [account]}]
    )["SecurityGroups"][0]
    return found


def empty(ec2: Any, group: Mapping[str, Any]) -> bool:
    """Revoke every rule of `group`; whether it had any."""
    ingress = [q for p in group.get("IpPermissions", []) for q in _pieces(p)]
    egress = [q for p in group.get("IpPermissionsEgress", []) for q in _pieces(p)]
    if ingress:
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=ingress)
    if egress:
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=egress)
    return bool(ingress or egress)


def allow_all(ec2: Any, group: Mapping[str, Any]) -> None:
    """Give `group` the allow-all rules both ways it does not have yet."""
    ingress = missing(group.get("IpPermissions", []), ALLOW_ALL)
    egress = missing(group.get("IpPermissionsEgress", []), ALLOW_ALL)
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=ingress)
    if egress:
        ec2.authorize_security_group_egress(GroupId=group["GroupId"], IpPermissions=egress)


_TARGETS = ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")


def _pieces(permission: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A described rule as revoke requests: one per kind of source, none empty (moto's
    egress revoke drops IPv6 ranges named beside IPv4 ones; EC2 takes either form)."""
    base = {k: v for k, v in permission.items() if k not in _TARGETS and v is not None}
    return [{**base, name: permission[name]} for name in _TARGETS if permission.get(name)]


def move(ec2: Any, eni: str, groups: Sequence[str]) -> None:
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=list(groups))


def names(groups: Sequence[str]) -> str:
    return ", ".join(groups) if groups else "no groups"
