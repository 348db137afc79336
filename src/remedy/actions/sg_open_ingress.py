"""Revoke the world-open ingress a security group should not have, and nothing else.

Triggers: CloudTrail ``AuthorizeSecurityGroupIngress`` (the request names what was
opened) and Security Hub controls EC2.18 / EC2.19 (the finding names only the group). In
both cases the group is read first (``DescribeSecurityGroups``) and only permissions that
are there now, open to ``0.0.0.0/0`` or ``::/0``, on a listed port, are revoked; for a
CloudTrail call, only those the call itself added. The group's other rules, and other
CIDRs of the same rule, are left alone. What was revoked (descriptions included) goes to
the ledger, and ``remedy release`` authorizes exactly that again.

A rule covering a listed port is revoked whole (``tcp 0-65535`` open to the world exposes
22): a range cannot be revoked in part. Protocol ``-1`` (all traffic) exposes every port.

Example policy rules::

    - id: close-world-open-admin-ports
      match:
        source: [cloudtrail]
        type: ["ec2:AuthorizeSecurityGroupIngress"]
      action: quarantine
      remediation: revoke-open-ingress
      options:
        ports: [22, 3389, 3306, 5432, 1433, 6379, 9200, 27017]
    - id: close-world-open-high-risk-ports
      match:
        source: [securityhub]
        control_id: [EC2.18, EC2.19]
      action: quarantine
      remediation: revoke-open-ingress
      options:
        ports: all
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.ledger.base import State
from remedy.model import Finding, ResourceKind

#: Remote administration and data stores: what nobody should reach from the whole internet.
DEFAULT_PORTS: tuple[int, ...] = (22, 3389, 3306, 5432, 1433, 6379, 9200, 27017)
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_GONE_CODES = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.Malformed"})


def _protocol(value: object) -> str:
    text = str(value).lower()
    return _PROTOCOL_NAMES.get(text, text)


def _is_world(cidr: str) -> bool:
    return cidr.endswith("/0")


def exposes(protocol: str, from_port: int | None, to_port: int | None, ports: object) -> bool:
    """Whether a rule reaches one of `ports` (a list, or ``"all"``)."""
    if ports == "all" or protocol == "-1":
        return True
    if protocol not in ("tcp", "udp") or from_port is None or to_port is None:
        return False
    assert isinstance(ports, list | tuple)
    return any(from_port <= port <= to_port for port in ports)


def _same_rule(permission: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    protocol = _protocol(permission["IpProtocol"])
    if protocol != _protocol(wanted.get("protocol")):
        return False
    if protocol == "-1":
        return True
    return (permission.get("FromPort"), permission.get("ToPort")) == (
        wanted.get("from_port"),
        wanted.get("to_port"),
    )


def world_open(
    group_permissions: Iterable[Mapping[str, Any]],
    ports: object,
    requested: list[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The world-open parts of the group's rules on `ports`, as ``IpPermissions`` items.

    With `requested` (a CloudTrail call's permissions), only CIDRs that call opened count.
    """
    out = []
    for permission in group_permissions:
        protocol = _protocol(permission["IpProtocol"])
        if not exposes(protocol, permission.get("FromPort"), permission.get("ToPort"), ports):
            continue
        v4 = [r for r in permission.get("IpRanges", []) if _is_world(r["CidrIp"])]
        v6 = [r for r in permission.get("Ipv6Ranges", []) if _is_world(r["CidrIpv6"])]
        if requested is not None:
            asked = [w for w in requested if _same_rule(permission, w)]
            v4 = [r for r in v4 if any(r["CidrIp"] in w.get("cidrs_v4", ()) for w in asked)]
            v6 = [r for r in v6 if any(r["CidrIpv6"] in w.get("cidrs_v6", ()) for w in asked)]
        if not v4 and not v6:
            continue
        item: dict[str, Any] = {"IpProtocol": permission["IpProtocol"]}
        for name in ("FromPort", "ToPort"):
            if name in permission:
                item[name] = permission[name]
        if v4:
            item["IpRanges"] = v4
        if v6:
            item["Ipv6Ranges"] = v6
        out.append(item)
    return out


def missing(
    group_permissions: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The parts of `wanted` (``IpPermissions`` items) the group does not have now."""
    present = {
        (_protocol(p["IpProtocol"]), p.get("FromPort"), p.get("ToPort"), cidr)
        for p in group_permissions
        for cidr in [r["CidrIp"] for r in p.get("IpRanges", [])]
        + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
    }
    out = []
    for item in wanted:
        rule = (_protocol(item["IpProtocol"]), item.get("FromPort"), item.get("ToPort"))
        v4 = [r for r in item.get("IpRanges", []) if (*rule, r["CidrIp"]) not in present]
        v6 = [r for r in item.get("Ipv6Ranges", []) if (*rule, r["CidrIpv6"]) not in present]
        if v4 or v6:
            rest = {k: v for k, v in item.items() if k not in ("IpRanges", "Ipv6Ranges")}
            out.append(
                {**rest, **({"IpRanges": v4} if v4 else {}), **({"Ipv6Ranges": v6} if v6 else {})}
            )
    return out


def describe(permissions: Iterable[Mapping[str, Any]]) -> str:
    """``tcp 22 from 0.0.0.0/0, ::/0``: one phrase per rule, for reasons and Slack."""
    parts = []
    for p in permissions:
        protocol = _protocol(p["IpProtocol"])
        if protocol == "-1":
            what = "all traffic"
        elif p.get("FromPort") == p.get("ToPort"):
            what = f"{protocol} {p.get('FromPort')}"
        else:
            what = f"{protocol} {p.get('FromPort')}-{p.get('ToPort')}"
        cidrs = [r["CidrIp"] for r in p.get("IpRanges", [])]
        cidrs += [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        parts.append(f"{what} from {', '.join(cidrs)}")
    return "; ".join(parts)


@register("revoke-open-ingress")
class RevokeOpenIngress(ReversibleAction):
    """Revoke world-open ingress on listed ports (CloudTrail call or EC2.18/EC2.19)."""

    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ports": {
                "description": 'Ports that must not be open to the world, or "all".',
                "oneOf": [
                    {"const": "all"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                    },
                ],
            }
        },
    }
    permissions = frozenset(
        {
            "ec2:DescribeSecurityGroups",
            "ec2:RevokeSecurityGroupIngress",
            # release: put back exactly what was revoked.
            "ec2:AuthorizeSecurityGroupIngress",
        }
    )
    resource_kinds = frozenset({ResourceKind.SECURITY_GROUP.value})

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        ports = options.get("ports", list(DEFAULT_PORTS))
        group_id, group_name, region = _target(finding)
        if group_id is None and group_name is None:
            return Outcome(State.FAILED, "the finding names no security group; nothing changed")
        shown = group_id or group_name
        requested: list[Mapping[str, Any]] | None = None
        if "permissions" in finding.parameters:
            requested = [p for p in finding.parameters["permissions"] if p.get("open_to_world")]
        account = finding.account
        where = f"in {account} {region}"
        try:
            ec2 = self.sessions.client("ec2", account, region, finding_key=finding.key)
            query = {"GroupIds": [group_id]} if group_id else {"GroupNames": [group_name]}
            group = _describe(ec2, query)
            if group is None:
                return Outcome(
                    State.GONE,
                    f"security group {shown} no longer exists {where}; nothing to revoke",
                )
            group_id = group["GroupId"]
            revoke = world_open(group.get("IpPermissions", []), ports, requested)
            if not revoke:
                # World-open on a port off the list is a choice the policy made, not "fixed":
                # say so, so nobody reads the outcome as "closed".
                elsewhere = world_open(group.get("IpPermissions", []), "all", requested)
                if elsewhere:
                    return Outcome(
                        State.GONE,
                        f"left open: security group {group_id} {where} is open to the world "
                        f"on {describe(elsewhere)}, which is not on {_ports_text(ports)}; add "
                        "the port to the rule's `ports` option to close it",
                    )
                return Outcome(
                    State.GONE,
                    f"already fixed: security group {group_id} {where} has no ingress open to "
                    f"the world on {_ports_text(ports)}"
                    + (" from this call" if requested is not None else ""),
                )
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=revoke)
        except aws_errors.AWS_ERRORS as error:
            return aws_errors.failure(
                error, account=account, doing=f"revoking ingress on {shown}", service="ec2"
            )
        return Outcome(
            State.QUARANTINED,
            f"revoked {describe(revoke)} on security group {group_id} {where}; its other "
            "rules are unchanged",
            {"group_id": group_id, "region": region, "revoked": revoke},
        )

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        group_id, region, revoked = attrs["group_id"], attrs["region"], attrs["revoked"]
        account = finding.account
        try:
            ec2 = self.sessions.client("ec2", account, region, finding_key=finding.key)
            group = _describe(ec2, {"GroupIds": [group_id]})
            if group is None:
                raise ActionFailed(
                    State.GONE,
                    f"security group {group_id} no longer exists in {account} {region}; "
                    "nothing restored",
                )
            restore = missing(group.get("IpPermissions", []), revoked)
            if restore:
                ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=restore)
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error, account=account, doing=f"restoring ingress on {group_id}", service="ec2"
            ) from error
        if not restore:
            return Undo(f"already restored: {describe(revoked)} is open on {group_id}")
        return Undo(f"restored {describe(restore)} on security group {group_id}")


def _target(finding: Finding) -> tuple[str | None, str | None, str]:
    """(group id, group name, region) from the request, else the finding's resource."""
    params = finding.parameters
    group = next((r for r in finding.resources if r.kind is ResourceKind.SECURITY_GROUP), None)
    region = (group.region if group is not None else None) or finding.region
    group_id = params.get("group_id") or None
    group_name = params.get("group_name") or None
    if group_id is None and group_name is None and group is not None:
        group_id = group.id
    return group_id, group_name, region


def _describe(ec2: Any, query: Mapping[str, Any]) -> dict[str, Any] | None:
    """The group, or None when it no longer exists."""
    try:
        groups: list[dict[str, Any]] = ec2.describe_security_groups(**query)["SecurityGroups"]
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) in _GONE_CODES:
            return None
        raise
    return groups[0] if groups else None


def _ports_text(ports: object) -> str:
    if ports == "all":
        return "any port"
    assert isinstance(ports, list | tuple)
    return "ports " + ", ".join(str(p) for p in ports)
