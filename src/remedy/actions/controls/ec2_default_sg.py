"""EC2.2: a VPC's default security group left with no inbound and no outbound rule.

Every rule of the default group is revoked, ingress and egress, and each is recorded one
source at a time (a CIDR, an IPv6 CIDR, a prefix list or a referenced group, with its
description and its tags), so release authorizes exactly those again, each with its tags;
if the group has any rule remedy did not leave, release refuses and names it. A rule
authorized again gets a new ``sgr-`` id from EC2: whatever names a rule by its old id
must be pointed at the new one. A group that is not its VPC's default
group is refused: EC2.2 is about default groups only.

Removing the rules cuts off whatever uses the default group, so the fix waits for
approval, and its outcome says how many network interfaces use the group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
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
#: The field naming a rule's source, in a described permission and in a described rule.
_NAMED_BY = {
    "IpRanges": ("CidrIp", "CidrIpv4"),
    "Ipv6Ranges": ("CidrIpv6", "CidrIpv6"),
    "PrefixListIds": ("PrefixListId", "PrefixListId"),
    "UserIdGroupPairs": ("GroupId", "ReferencedGroupInfo"),
}

Key = tuple[Any, ...]


def rules(
    permissions: list[Mapping[str, Any]], tags: Mapping[Key, list[dict[str, str]]] | None = None
) -> list[dict[str, Any]]:
    """Described ``IpPermissions`` as rules of one source each, in a stable order, in the
    shape revoke and authorize take, each with its ``Tags`` (from `tags`, by `key`) if any."""
    out = []
    for permission in permissions:
        base = {k: permission[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in permission}
        for kind, fields in _SOURCES.items():
            for source in permission.get(kind) or []:
                rule = {**base, kind: [{f: source[f] for f in fields if source.get(f)}]}
                found = (tags or {}).get(key(rule))
                out.append({**rule, "Tags": found} if found else rule)
    return sorted(out, key=lambda rule: json.dumps(rule, sort_keys=True))


def key(rule: Mapping[str, Any]) -> Key:
    """What tells a rule from the group's others: protocol, ports (none for all
    protocols) and source."""
    [kind] = [k for k in _SOURCES if k in rule]
    ports = () if rule["IpProtocol"] == "-1" else (rule.get("FromPort"), rule.get("ToPort"))
    return (rule["IpProtocol"], *ports, kind, rule[kind][0].get(_NAMED_BY[kind][0]))


def _tags(described: list[Mapping[str, Any]]) -> dict[tuple[bool, Key], list[dict[str, str]]]:
    """Each described rule's tags (``DescribeSecurityGroupRules``), by direction and `key`."""
    out = {}
    for rule in described:
        if not rule.get("Tags"):
            continue
        for kind, (field, there) in _NAMED_BY.items():
            source = rule.get(there)
            if source is None:
                continue
            name = source.get("GroupId") if isinstance(source, Mapping) else source
            shaped = {
                "IpProtocol": rule["IpProtocol"],
                "FromPort": rule.get("FromPort"),
                "ToPort": rule.get("ToPort"),
                kind: [{field: name}],
            }
            tags = sorted(rule["Tags"], key=lambda tag: (tag["Key"], tag["Value"]))
            out[(bool(rule["IsEgress"]), key(shaped))] = tags
    return out


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
            # each rule's tags, recorded with it.
            "ec2:DescribeSecurityGroupRules",
            "ec2:DescribeNetworkInterfaces",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            # release: authorize exactly what was revoked.
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            # release: the rules' tags, given with the authorize call.
            "ec2:CreateTags",
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
        pages = client.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": [id]}]
        )
        tags = _tags([rule for page in pages for rule in page["SecurityGroupRules"]])
        return {
            name: rules(
                group.get(field, []),
                {k: v for (egress, k), v in tags.items() if egress == (name == "egress")},
            )
            for name, field in _DIRECTIONS.items()
        }

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
                steps.append((_revoking(revoke, id, gone), _authorizing(authorize, id, gone)))
            # One authorize per set of tags: EC2 gives the call's tags to every rule it makes.
            for same in _by_tags(added):
                steps.append((_authorizing(authorize, id, same), _revoking(revoke, id, same)))
        all_or_nothing(steps)


def _by_tags(rules: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(json.dumps(rule.get("Tags", [])), []).append(rule)
    return list(groups.values())


def _bare(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in rule.items() if k != "Tags"} for rule in rules]


def _revoking(revoke: Any, group: str, rules: list[dict[str, Any]]) -> Callable[[], object]:
    return lambda: revoke(GroupId=group, IpPermissions=_bare(rules))


def _authorizing(authorize: Any, group: str, rules: list[dict[str, Any]]) -> Callable[[], object]:
    def call() -> None:
        for same in _by_tags(rules):
            tags = same[0].get("Tags")
            spec = {"TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": tags}]}
            authorize(GroupId=group, IpPermissions=_bare(same), **(spec if tags else {}))

    return call
