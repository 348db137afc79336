"""IAM.7 and IAM.11 to IAM.17: the account password policy made strong enough.

Each requirement is raised to what the controls ask (or what the rule's options say) and
nothing already stricter is loosened; settings the controls do not cover are kept.
Approval by default: users must choose a new password that meets it at their next change,
and with an expiry, passwords expire. Release puts back the previous policy exactly, or
deletes the policy when the account had none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.controls.base import ControlRemediation, Setting
from remedy.actions.registry import register
from remedy.model import Finding

#: The fields UpdateAccountPasswordPolicy takes (GetAccountPasswordPolicy returns them too).
FIELDS = (
    "MinimumPasswordLength",
    "RequireSymbols",
    "RequireNumbers",
    "RequireUppercaseCharacters",
    "RequireLowercaseCharacters",
    "AllowUsersToChangePassword",
    "MaxPasswordAge",
    "PasswordReusePrevention",
    "HardExpiry",
)
_UNSET_AS_ZERO = ("MaxPasswordAge", "PasswordReusePrevention")
REQUIRED = (  # IAM.13, IAM.14, IAM.11, IAM.12
    "RequireSymbols",
    "RequireNumbers",
    "RequireUppercaseCharacters",
    "RequireLowercaseCharacters",
)


@register("iam-password-policy")
class IamPasswordPolicy(ControlRemediation):
    """Raise the account password policy to what IAM.7 and CIS's IAM.11 to IAM.17 ask.

    Options: ``minimum_length`` (IAM.15, default 14), ``reuse_prevention`` (IAM.16, default
    24) and ``max_age_days`` (IAM.17, default 90).
    """

    controls = ("IAM.7", "IAM.11", "IAM.12", "IAM.13", "IAM.14", "IAM.15", "IAM.16", "IAM.17")
    service = "iam"
    noun = "password policy"
    account_level = True
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "minimum_length": {"type": "integer", "minimum": 14, "maximum": 128},
            "reuse_prevention": {"type": "integer", "minimum": 24, "maximum": 24},
            "max_age_days": {"type": "integer", "minimum": 1, "maximum": 90},
        },
    }
    permissions = frozenset(
        {
            "iam:GetAccountPasswordPolicy",
            "iam:UpdateAccountPasswordPolicy",
            "iam:DeleteAccountPasswordPolicy",
        }
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        try:
            found = client.get_account_password_policy()["PasswordPolicy"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == "NoSuchEntity":
                return {}
            raise
        # An unset expiry or reuse limit may be reported as 0, which the update refuses.
        return {
            name: found[name]
            for name in FIELDS
            if name in found and not (name in _UNSET_AS_ZERO and found[name] == 0)
        }

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        new = {**setting, **dict.fromkeys(REQUIRED, True)}
        new["MinimumPasswordLength"] = max(
            setting.get("MinimumPasswordLength", 0), options.get("minimum_length", 14)
        )
        new["PasswordReusePrevention"] = max(
            setting.get("PasswordReusePrevention", 0), options.get("reuse_prevention", 24)
        )
        limit = options.get("max_age_days", 90)
        new["MaxPasswordAge"] = min(setting.get("MaxPasswordAge") or limit, limit)
        new.setdefault("AllowUsersToChangePassword", True)
        # Written explicitly, as IAM reports it back, so the release check compares like.
        new.setdefault("HardExpiry", False)
        return new

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        if new:
            # The call replaces the whole policy: every field is passed.
            client.update_account_password_policy(**new)
        else:
            client.delete_account_password_policy()
