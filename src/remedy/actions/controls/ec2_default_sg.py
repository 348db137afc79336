"""EC2.2: a VPC's default security group left with no inbound and no outbound rule.

Every rule of the default group is revoked, ingress and egress, and each is recorded one
source at a time (a CIDR, an IPv6 CIDR, a prefix list or a referenced group, with its
description), so release authorizes exactly those again; if the group has any rule
remedy did not leave, release refuses and names it. A group that is not its VPC's default
group is refused: EC2.2 is about default groups only.

Removing the rules cuts off whatever uses the default group, so the fix waits for
approval, and its outcome says how many network interfaces use the group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from remedy.actions.controls.base import (
    ControlRemediation,
    Refused,
    Setting,
    Step,
    all_or_nothing,
    missing_on,
)
from remedy.actions.registry import register
from remedy.model import Action, Finding

#: Each kind of source of a described rule, and what of it a request can name.
_SOURCES = {
    "IpRanges": ("CidrIp", "Description"),
    "Ipv6Ranges": ("CidrIpv6", "Description"),
    "PrefixListIds": ("PrefixListId", "Description"),
    "UserIdGroupPairs": ("UserId", "GroupId", "VpcPeeringConnectionId", "Description"),
}
_DIRECTIONS = {"ingress": "IpPermissions", "egress": "IpPermissionsEgress"}


def rules(permissions: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Described ``IpPermissions`` as rules of one source each, in a stable order, in the
    shape revoke and authorize take."""
    out = []
    for permission in permissions:
        base = {k: permission[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in permission}
        for kind, fields in _SOURCES.items():
            for source in permission.get(kind) or []:
                out.append({**base, kind: [{f: source[f] for f in fields if source.get(f)}]})
    return sorted(out, key=lambda rule: json.dumps(rule, sort_keys=True))


@register("default-sg-closed")
class DefaultSecurityGroupClosed(ControlRemediation):
    """Revoke every ingress and egress rule of a VPC's default security group."""

    controls = ("EC2.2",)
    mode = Action.APPROVE
    service = "ec2"
    noun = "default security group"
    arn = ("ec2", ("security-group/",))
    types = frozenset({"AwsEc2SecurityGroup", "AWS::EC2::SecurityGroup"})
    id_prefix = "sg-"
    permissions = frozenset(
        {
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeNetworkInterfaces",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            # release: authorize exactly what was revoked.
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
        }
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("InvalidGroup.NotFound", "InvalidGroupId.NotFound"):
            [group] = client.describe_security_groups(GroupIds=[id])["SecurityGroups"]
        if group.get("GroupName") != "default":
            raise Refused(
                f"it is not its VPC's default group (it is named {group.get('GroupName')!r}); "
                "EC2.2 is about default groups only"
            )
        return {name: rules(group.get(field, [])) for name, field in _DIRECTIONS.items()}

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        return {name: [] for name in _DIRECTIONS}

    def note(self, client: Any, id: str, before: Setting, after: Setting, finding: Finding) -> str:
        pages = client.get_paginator("describe_network_interfaces").paginate(
            Filters=[{"Name": "group-id", "Values": [id]}]
        )
        used = sum(len(page["NetworkInterfaces"]) for page in pages)
        if not used:
            return "no network interface uses the group"
        if used == 1:
            return "1 network interface uses the group and loses the traffic its rules allowed"
        return f"{used} network interfaces use the group and lose the traffic its rules allowed"

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        steps: list[Step] = []
        for name in _DIRECTIONS:
            gone = [rule for rule in old[name] if rule not in new[name]]
            added = [rule for rule in new[name] if rule not in old[name]]
            revoke = getattr(client, f"revoke_security_group_{name}")
            authorize = getattr(client, f"authorize_security_group_{name}")
            if gone:
                steps.append(_step(revoke, authorize, id, gone))
            if added:
                steps.append(_step(authorize, revoke, id, added))
        all_or_nothing(steps)


def _step(do: Any, undo: Any, group: str, rules: list[dict[str, Any]]) -> Step:
    return (
        lambda: do(GroupId=group, IpPermissions=rules),
        lambda: undo(GroupId=group, IpPermissions=rules),
    )
