"""RDS.7: deletion protection on an Aurora DB cluster.

Approval by default, as for instances (RDS.8). Release turns it off again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Finding


@register("rds-cluster-deletion-protection")
class RdsClusterDeletionProtection(SettingRemediation):
    """Set the cluster's ``DeletionProtection`` on."""

    controls = ("RDS.7",)
    service = "rds"
    noun = "DB cluster"
    arn = ("rds", ("cluster:",))
    types = frozenset({"AwsRdsDbCluster", "AWS::RDS::DBCluster"})
    id_prefix = ""
    setting = "DeletionProtection"
    permissions = frozenset({"rds:DescribeDBClusters", "rds:ModifyDBCluster"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("DBClusterNotFoundFault"):
            [found] = client.describe_db_clusters(DBClusterIdentifier=id)["DBClusters"]
        return {self.setting: bool(found[self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.modify_db_cluster(
            DBClusterIdentifier=id, ApplyImmediately=True, DeletionProtection=new[self.setting]
        )
