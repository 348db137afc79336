"""EC2.7: EBS encryption by default, in the finding's region.

New volumes are then encrypted with the account's default EBS key; existing ones are not
touched. Approval by default: a launch from an AMI or snapshot whose key the account
cannot use fails once this is on. Release turns it off again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation
from remedy.actions.registry import register
from remedy.model import Finding


@register("ebs-default-encryption")
class EbsDefaultEncryption(SettingRemediation):
    """Turn on EBS encryption by default."""

    controls = ("EC2.7",)
    service = "ec2"
    noun = "EBS encryption by default"
    account_level = True
    setting = "EbsEncryptionByDefault"
    permissions = frozenset(
        {
            "ec2:GetEbsEncryptionByDefault",
            "ec2:EnableEbsEncryptionByDefault",
            "ec2:DisableEbsEncryptionByDefault",
        }
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        return {self.setting: bool(client.get_ebs_encryption_by_default()[self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        if new[self.setting]:
            client.enable_ebs_encryption_by_default()
        else:
            client.disable_ebs_encryption_by_default()
