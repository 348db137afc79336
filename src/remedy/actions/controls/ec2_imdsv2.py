"""EC2.8: an instance requires IMDSv2 (session tokens for the metadata service).

Approval by default: software reading instance metadata without a token (old SDKs and
agents) stops getting credentials. Release puts back the previous ``HttpTokens``.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Missing, Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Finding


@register("ec2-require-imdsv2")
class Ec2RequireImdsv2(SettingRemediation):
    """Set the instance's ``HttpTokens`` to ``required``."""

    controls = ("EC2.8",)
    service = "ec2"
    noun = "instance"
    arn = ("ec2", ("instance/",))
    types = frozenset({"AwsEc2Instance", "AWS::EC2::Instance"})
    id_prefix = "i-"
    setting = "HttpTokens"
    compliant = "required"
    permissions = frozenset({"ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("InvalidInstanceID.NotFound"):
            # Pinned: an instance of another account is not found.
            found = client.describe_instances(
                InstanceIds=[id], Filters=[{"Name": "owner-id", "Values": [finding.account]}]
            )
        instances = [i for r in found["Reservations"] for i in r["Instances"]]
        if not instances:
            raise Missing
        return {self.setting: instances[0]["MetadataOptions"]["HttpTokens"]}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.modify_instance_metadata_options(InstanceId=id, HttpTokens=new[self.setting])
