"""RDS.1: a DB snapshot or DB cluster snapshot no longer restorable by anyone.

The ``restore`` attribute loses ``all``; shares with named accounts are kept. Release
adds ``all`` back. (RDS.4 is snapshot encryption, which cannot be changed in place.)
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding

#: The ARN prefix of each snapshot kind -> its resource types and the API's noun.
_KINDS = {
    "snapshot:": (frozenset({"AwsRdsDbSnapshot", "AWS::RDS::DBSnapshot"}), "DBSnapshot"),
    "cluster-snapshot:": (
        frozenset({"AwsRdsDbClusterSnapshot", "AWS::RDS::DBClusterSnapshot"}),
        "DBClusterSnapshot",
    ),
}


@register("rds-snapshots-private")
class RdsSnapshotsPrivate(SettingRemediation):
    """Remove ``all`` from the snapshot's ``restore`` attribute."""

    controls = ("RDS.1",)
    mode = Action.QUARANTINE
    service = "rds"
    noun = "RDS snapshot"
    arn = ("rds", tuple(_KINDS))
    keep_prefix = True
    types = frozenset().union(*(types for types, _ in _KINDS.values()))
    id_prefix = ""
    setting = "public"
    compliant = False
    permissions = frozenset(
        {
            "rds:DescribeDBSnapshotAttributes",
            "rds:ModifyDBSnapshotAttribute",
            "rds:DescribeDBClusterSnapshotAttributes",
            "rds:ModifyDBClusterSnapshotAttribute",
        }
    )

    def bare(self, ref: str, type: str) -> str | None:
        name = super().bare(ref, type)
        prefix = next(p for p, (types, _) in _KINDS.items() if type in types)
        return prefix + name if name else None

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        noun, name = _split(id)
        with missing_on(f"{noun}NotFound", f"{noun}NotFoundFault"):
            result = getattr(client, f"describe_{_snake(noun)}_attributes")(
                **{f"{noun}Identifier": name}
            )[f"{noun}AttributesResult"][f"{noun}Attributes"]
        restore: list[str] = next(
            (a["AttributeValues"] for a in result if a["AttributeName"] == "restore"), []
        )
        return {self.setting: "all" in restore}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        noun, name = _split(id)
        change = "ValuesToAdd" if new[self.setting] else "ValuesToRemove"
        getattr(client, f"modify_{_snake(noun)}_attribute")(
            **{f"{noun}Identifier": name, "AttributeName": "restore", change: ["all"]}
        )


def _split(id: str) -> tuple[str, str]:
    prefix, _, name = id.partition(":")
    return _KINDS[prefix + ":"][1], name


def _snake(noun: str) -> str:
    return {"DBSnapshot": "db_snapshot", "DBClusterSnapshot": "db_cluster_snapshot"}[noun]
