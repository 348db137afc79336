"""EC2.1: the account's EBS snapshots restorable by anyone made private, in one region.

Security Hub reports EC2.1 on the account, so every snapshot the account owns in the
finding's region that grants ``createVolumePermission`` to ``all`` is changed; shares
with named accounts are kept. Release makes exactly those snapshots public again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from remedy.actions.controls.base import Setting, SettingRemediation
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("ebs-snapshots-private")
class EbsSnapshotsPrivate(SettingRemediation):
    """Remove the public ``createVolumePermission`` of the account's snapshots."""

    controls = ("EC2.1",)
    mode = Action.QUARANTINE
    service = "ec2"
    noun = "public EBS snapshots"
    account_level = True
    setting = "public"
    compliant: ClassVar[list[str]] = []
    permissions = frozenset(
        {"ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute"}
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        public = []
        # Pinned twice (OwnerIds and the owner-id filter): only snapshots this account owns,
        # never those shared with it. RestorableByUserIds "all" lists the public ones; each
        # is confirmed by its attribute, which is what the change and the release act on.
        pages = client.get_paginator("describe_snapshots").paginate(
            OwnerIds=[id],
            RestorableByUserIds=["all"],
            Filters=[{"Name": "owner-id", "Values": [id]}],
        )
        for page in pages:
            for snapshot in page["Snapshots"]:
                grants = client.describe_snapshot_attribute(
                    SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission"
                )["CreateVolumePermissions"]
                if any(g.get("Group") == "all" for g in grants):
                    public.append(snapshot["SnapshotId"])
        return {"public": sorted(public)}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        for snapshot, change in [
            *((s, "remove") for s in old["public"] if s not in new["public"]),
            *((s, "add") for s in new["public"] if s not in old["public"]),
        ]:
            client.modify_snapshot_attribute(
                SnapshotId=snapshot,
                Attribute="createVolumePermission",
                OperationType=change,
                GroupNames=["all"],
            )
