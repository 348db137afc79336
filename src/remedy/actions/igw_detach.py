"""Detach an internet gateway someone attached to a VPC, once a person has approved.

Trigger: CloudTrail ``AttachInternetGateway``. Detaching cuts the VPC off the internet,
so this runs only on approval (``action: approve`` in the rule). The gateway and VPC go to
the ledger, and ``remedy release`` attaches the gateway to the same VPC again.

AWS refuses to detach while the VPC has public addresses mapped (Elastic IPs, public
IPv4 on instances or load balancers); the outcome is FAILED with AWS's words and what to do.

Example policy rule::

    - id: approve-internet-gateway
      match:
        source: [cloudtrail]
        type: ["ec2:AttachInternetGateway"]
      action: approve
      remediation: detach-internet-gateway
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.ledger.base import State
from remedy.model import Finding, ResourceKind

_GONE = "InvalidInternetGatewayID.NotFound"
_ATTACHED = frozenset({"attached", "available", "attaching"})


def _target(finding: Finding) -> tuple[str | None, str | None, str]:
    """(gateway id, VPC id, region) from the request, else the finding's resource."""
    params = finding.parameters
    gateway = next((r for r in finding.resources if r.kind is ResourceKind.INTERNET_GATEWAY), None)
    region = (gateway.region if gateway is not None else None) or finding.region
    gateway_id = params.get("internet_gateway_id") or (gateway.id if gateway else None)
    vpc_id = params.get("vpc_id") or (gateway.details.get("vpc_id") if gateway else None)
    return gateway_id, vpc_id, region


def _attached_to(ec2: Any, gateway_id: str) -> list[str] | None:
    """The VPCs the gateway is attached to, or None when it no longer exists."""
    try:
        found = ec2.describe_internet_gateways(InternetGatewayIds=[gateway_id])
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) == _GONE:
            return None
        raise
    gateways = found["InternetGateways"]
    if not gateways:
        return None
    return [a["VpcId"] for a in gateways[0].get("Attachments", []) if a.get("State") in _ATTACHED]


@register("detach-internet-gateway")
class DetachInternetGateway(ReversibleAction):
    """Detach the internet gateway from the VPC the call attached it to."""

    schema = {"type": "object", "additionalProperties": False, "properties": {}}
    permissions = frozenset(
        {
            "ec2:DescribeInternetGateways",
            "ec2:DetachInternetGateway",
            # release: attach it again.
            "ec2:AttachInternetGateway",
        }
    )
    resource_kinds = frozenset({ResourceKind.INTERNET_GATEWAY.value})

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        gateway_id, vpc_id, region = _target(finding)
        if gateway_id is None:
            return Outcome(State.FAILED, "the finding names no internet gateway; nothing changed")
        account = finding.account
        where = f"in {account} {region}"
        try:
            ec2 = self.sessions.client("ec2", account, region, finding_key=finding.key)
            attached = _attached_to(ec2, gateway_id)
            if attached is None:
                return Outcome(
                    State.GONE, f"internet gateway {gateway_id} no longer exists {where}"
                )
            # Without a VPC in the finding, the gateway's one attachment is the one.
            vpc_id = vpc_id or (attached[0] if attached else None)
            if vpc_id is None or vpc_id not in attached:
                now = f" (attached to {', '.join(attached)})" if attached else ""
                return Outcome(
                    State.GONE,
                    f"already fixed: internet gateway {gateway_id} {where} is not attached to "
                    f"{vpc_id or 'a VPC'}{now}",
                )
            ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == "DependencyViolation":
                return Outcome(
                    State.FAILED,
                    f"AWS refused to detach internet gateway {gateway_id} from {vpc_id} {where}: "
                    f"{aws_errors.message(error)}; release the VPC's public addresses (Elastic "
                    "IPs, public IPv4) first, then retry",
                )
            return aws_errors.failure(
                error,
                account=account,
                doing=f"detaching internet gateway {gateway_id}",
                service="ec2",
            )
        return Outcome(
            State.QUARANTINED,
            f"detached internet gateway {gateway_id} from {vpc_id} {where}",
            {"internet_gateway_id": gateway_id, "vpc_id": vpc_id, "region": region},
        )

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        gateway_id, vpc_id = attrs["internet_gateway_id"], attrs["vpc_id"]
        account = finding.account
        try:
            ec2 = self.sessions.client("ec2", account, attrs["region"], finding_key=finding.key)
            attached = _attached_to(ec2, gateway_id)
            if attached is None:
                raise ActionFailed(
                    State.GONE,
                    f"internet gateway {gateway_id} no longer exists in {account}; nothing "
                    "restored",
                )
            if vpc_id in attached:
                return Undo(f"already restored: internet gateway {gateway_id} is on {vpc_id}")
            if attached:
                raise ActionFailed(
                    State.CHANGED,
                    f"internet gateway {gateway_id} is now attached to {', '.join(attached)}; "
                    f"not moving it back to {vpc_id}",
                )
            ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error,
                account=account,
                doing=f"attaching internet gateway {gateway_id} again",
                service="ec2",
            ) from error
        return Undo(f"attached internet gateway {gateway_id} to {vpc_id} again")
