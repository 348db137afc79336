"""The shape of the RDS DB instance controls: one boolean of the instance, changed with
``ModifyDBInstance`` applied immediately (so a release is not left pending)."""

from __future__ import annotations

from typing import Any, ClassVar

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.model import Finding

INSTANCE_TYPES = frozenset({"AwsRdsDbInstance", "AWS::RDS::DBInstance"})


class RdsInstanceSetting(SettingRemediation):
    service = "rds"
    noun = "DB instance"
    arn = ("rds", ("db:",))
    types = INSTANCE_TYPES
    id_prefix = ""
    permissions: ClassVar[frozenset[str]] = frozenset(
        {"rds:DescribeDBInstances", "rds:ModifyDBInstance"}
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            [found] = client.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"]
        return {self.setting: bool(found[self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.modify_db_instance(
            DBInstanceIdentifier=id, ApplyImmediately=True, **{self.setting: new[self.setting]}
        )
