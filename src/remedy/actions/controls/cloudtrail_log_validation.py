"""CloudTrail.4: log file validation on a trail.

CloudTrail then also delivers hourly digest files beside the logs; nothing that reads
the logs changes. Release turns validation off again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("cloudtrail-log-validation")
class CloudTrailLogValidation(SettingRemediation):
    """Turn on the trail's log file validation."""

    controls = ("CloudTrail.4",)
    mode = Action.QUARANTINE
    service = "cloudtrail"
    noun = "trail"
    arn = ("cloudtrail", ("trail/",))
    types = frozenset({"AwsCloudTrailTrail", "AWS::CloudTrail::Trail"})
    id_prefix = ""
    setting = "LogFileValidationEnabled"
    permissions = frozenset({"cloudtrail:GetTrail", "cloudtrail:UpdateTrail"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("TrailNotFoundException"):
            found = client.get_trail(Name=self.own_arn(client, finding, f"trail/{id}"))["Trail"]
        return {self.setting: bool(found.get(self.setting, False))}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.update_trail(
            Name=self.own_arn(client, finding, f"trail/{id}"),
            EnableLogFileValidation=new[self.setting],
        )
