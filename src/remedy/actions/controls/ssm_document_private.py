"""SSM.4: an SSM document no longer shared with everyone.

The document loses its ``all`` share; shares with named accounts are kept. Release shares
it publicly again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("ssm-document-private")
class SsmDocumentPrivate(SettingRemediation):
    """Remove ``all`` from the document's share permission."""

    controls = ("SSM.4",)
    mode = Action.QUARANTINE
    service = "ssm"
    noun = "SSM document"
    arn = ("ssm", ("document/",))
    types = frozenset({"AwsSsmDocument", "AWS::SSM::Document"})
    id_prefix = ""
    setting = "public"
    compliant = False
    permissions = frozenset({"ssm:DescribeDocumentPermission", "ssm:ModifyDocumentPermission"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("InvalidDocument"):
            found = client.describe_document_permission(Name=id, PermissionType="Share")
        return {self.setting: "all" in found.get("AccountIds", [])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        change = "AccountIdsToAdd" if new[self.setting] else "AccountIdsToRemove"
        client.modify_document_permission(Name=id, PermissionType="Share", **{change: ["all"]})
