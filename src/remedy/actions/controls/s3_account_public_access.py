"""S3.1: the account's Block Public Access settings all on (``s3control``).

The account-level setting covers every bucket of the account at once, so it cannot break
a bucket that is meant to be public only where the bucket-level settings would too; a
bucket allow-list does not apply (use the bucket remediation for that). Release puts back
the previous settings, or deletes the configuration when there was none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.controls.base import ControlRemediation, Setting
from remedy.actions.registry import register
from remedy.actions.s3_block_public import ALL_ON, SETTINGS
from remedy.model import Action, Finding

_NONE = "NoSuchPublicAccessBlockConfiguration"


@register("s3-account-block-public-access")
class S3AccountBlockPublicAccess(ControlRemediation):
    """All four account-level Block Public Access settings on."""

    controls = ("S3.1",)
    mode = Action.QUARANTINE
    service = "s3control"
    iam_service = "s3"
    noun = "Block Public Access"
    account_level = True
    iam_names = {
        "GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
        "PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
        "DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    }
    permissions = frozenset({"s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        try:
            found = client.get_public_access_block(AccountId=id)["PublicAccessBlockConfiguration"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _NONE:
                return {}
            raise
        return {name: bool(found.get(name, False)) for name in SETTINGS}

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        return dict(ALL_ON)

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        if new:
            client.put_public_access_block(AccountId=id, PublicAccessBlockConfiguration=new)
        else:
            client.delete_public_access_block(AccountId=id)
