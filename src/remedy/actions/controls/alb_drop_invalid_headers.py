"""ELB.4: an Application Load Balancer drops HTTP headers with invalid names.

Approval by default: a client that sends such headers on purpose loses them. Release
lets them through again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Finding

ATTRIBUTE = "routing.http.drop_invalid_header_fields.enabled"
_PREFIX = "loadbalancer/app/"


@register("alb-drop-invalid-headers")
class AlbDropInvalidHeaders(SettingRemediation):
    """Set ``routing.http.drop_invalid_header_fields.enabled`` to true."""

    controls = ("ELB.4",)
    service = "elbv2"
    iam_service = "elasticloadbalancing"
    noun = "load balancer"
    arn = ("elasticloadbalancing", (_PREFIX,))
    setting = ATTRIBUTE
    permissions = frozenset(
        {
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
        }
    )

    def _arn(self, client: Any, id: str, finding: Finding) -> str:
        return self.own_arn(client, finding, _PREFIX + id)

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("LoadBalancerNotFound"):
            found = client.describe_load_balancer_attributes(
                LoadBalancerArn=self._arn(client, id, finding)
            )["Attributes"]
        value = next((a["Value"] for a in found if a["Key"] == ATTRIBUTE), "false")
        return {ATTRIBUTE: value == "true"}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.modify_load_balancer_attributes(
            LoadBalancerArn=self._arn(client, id, finding),
            Attributes=[{"Key": ATTRIBUTE, "Value": "true" if new[ATTRIBUTE] else "false"}],
        )
