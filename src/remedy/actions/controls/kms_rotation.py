"""KMS.4: automatic rotation of a customer managed KMS key.

Rotation keeps the old key material for decryption, so nothing encrypted before stops
working. Release turns rotation off again.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("kms-key-rotation")
class KmsKeyRotation(SettingRemediation):
    """Turn on automatic key rotation."""

    controls = ("KMS.4",)
    mode = Action.QUARANTINE
    service = "kms"
    noun = "KMS key"
    arn = ("kms", ("key/",))
    types = frozenset({"AwsKmsKey", "AWS::KMS::Key"})
    id_prefix = ""
    setting = "KeyRotationEnabled"
    permissions = frozenset(
        {"kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:DisableKeyRotation"}
    )

    def _key(self, client: Any, id: str, finding: Finding) -> str:
        # The key's ARN in the finding's account: KMS would act on another account's key
        # given its ARN, if that key's policy allowed.
        return self.own_arn(client, finding, f"key/{id}")

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("NotFoundException"):
            found = client.get_key_rotation_status(KeyId=self._key(client, id, finding))
        return {self.setting: bool(found[self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        call = client.enable_key_rotation if new[self.setting] else client.disable_key_rotation
        call(KeyId=self._key(client, id, finding))
