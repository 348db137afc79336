"""EC2.15: a subnet no longer gives instances a public IPv4 address at launch.

Approval by default: instances launched there without an explicit public address lose
their route to the internet. Running instances keep their addresses. Release switches
the attribute back on.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Missing, Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Finding


@register("subnet-no-public-ip")
class SubnetNoPublicIp(SettingRemediation):
    """Switch off ``MapPublicIpOnLaunch`` on the subnet."""

    controls = ("EC2.15",)
    service = "ec2"
    noun = "subnet"
    arn = ("ec2", ("subnet/",))
    types = frozenset({"AwsEc2Subnet", "AWS::EC2::Subnet"})
    id_prefix = "subnet-"
    setting = "MapPublicIpOnLaunch"
    compliant = False
    permissions = frozenset({"ec2:DescribeSubnets", "ec2:ModifySubnetAttribute"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("InvalidSubnetID.NotFound"):
            # Pinned: a subnet of another account (shared through RAM) is not found.
            found = client.describe_subnets(
                SubnetIds=[id], Filters=[{"Name": "owner-id", "Values": [finding.account]}]
            )["Subnets"]
        if not found:
            raise Missing
        return {self.setting: bool(found[0][self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.modify_subnet_attribute(
            SubnetId=id, MapPublicIpOnLaunch={"Value": new[self.setting]}
        )
