"""DynamoDB.2: point-in-time recovery on a table.

Continuous backups change nothing for readers and writers. Release turns PITR off again,
which drops the recovery window built up meanwhile (a backup, not the table's data).
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("dynamodb-pitr")
class DynamoDbPitr(SettingRemediation):
    """Turn on point-in-time recovery."""

    controls = ("DynamoDB.2",)
    mode = Action.QUARANTINE
    service = "dynamodb"
    noun = "DynamoDB table"
    arn = ("dynamodb", ("table/",))
    types = frozenset({"AwsDynamoDbTable", "AWS::DynamoDB::Table"})
    id_prefix = ""
    setting = "PointInTimeRecoveryEnabled"
    permissions = frozenset(
        {"dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups"}
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("TableNotFoundException"):
            found = client.describe_continuous_backups(TableName=id)
        status = found["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        return {self.setting: status["PointInTimeRecoveryStatus"] == "ENABLED"}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.update_continuous_backups(
            TableName=id,
            PointInTimeRecoverySpecification={self.setting: new[self.setting]},
        )
