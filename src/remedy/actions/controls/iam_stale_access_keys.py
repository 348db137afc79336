"""IAM.3 and IAM.8: an IAM user's stale access keys deactivated, never deleted.

The finding's control says which keys are stale: IAM.3 (``access-keys-rotated``) an active
key created more than ``maxAccessKeyAge`` days ago; IAM.8
(``iam-user-unused-credentials-check``) an active key last used, or created if never
used, more than ``maxCredentialUsageAge`` days ago. Both default to 90; a value the
finding carries for its control (`remedy.normalise.control_parameters`) is used instead.

The setting is the status of every key of the user, so the record names each key and
its status before; release makes exactly the deactivated keys active again, and refuses,
naming the key, when one of them was deleted or its status changed since.

IAM.8 also covers the console password, which remedy leaves alone: removing a login
profile cannot be undone (the password is lost). The outcome names it for a person; a
finding whose only stale credential is the password is refused, nothing changed.

Deactivating a key stops whatever still signs with it, so the fix waits for approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.controls.base import (
    ControlRemediation,
    Refused,
    Setting,
    Step,
    all_or_nothing,
    missing_on,
)
from remedy.actions.registry import register
from remedy.model import Action, Finding
from remedy.normalise.control_parameters import CONTROL_PARAMETERS

ACTIVE, INACTIVE = "Active", "Inactive"
#: Each control's parameter naming its threshold in days, and which keys it condemns.
RULES = {
    "IAM.3": ("maxAccessKeyAge", "created"),
    "IAM.8": ("maxCredentialUsageAge", "last used, or created if never used,"),
}
DEFAULT_DAYS = 90
MAX_DAYS = 36500


def threshold(finding: Finding) -> tuple[int, str]:
    """The control's threshold in days, and where it comes from, in words."""
    name, _ = RULES[rule(finding)]
    given = (finding.parameters.get(CONTROL_PARAMETERS) or {}).get(name) or []
    if len(given) == 1 and given[0].isascii() and given[0].isdigit():
        days = int(given[0])
        # A century at most: more cannot be a date (and overflows one).
        if 0 < days <= MAX_DAYS:
            return days, f"{name} {days} from the finding"
    return DEFAULT_DAYS, f"the control's default {name} {DEFAULT_DAYS}"


def rule(finding: Finding) -> str:
    """The finding's control, IAM.3 or IAM.8: which keys are stale depends on it."""
    control = finding.parameters.get("control_id")
    if control not in RULES:
        raise Refused(
            f"the finding is of control {control or '(none)'}, not IAM.3 or IAM.8, so remedy "
            "cannot tell which access keys are stale; match this remediation to IAM.3 and "
            "IAM.8 only"
        )
    return str(control)


def _day(when: datetime) -> str:
    return when.astimezone(UTC).date().isoformat()


@register("iam-stale-access-keys")
class IamStaleAccessKeys(ControlRemediation):
    """Deactivate an IAM user's access keys that IAM.3 or IAM.8 finds stale.

    IAM.3: active keys created more than 90 days ago; IAM.8: active keys last used (or
    created, if never used) more than 90 days ago; the finding's own ``maxAccessKeyAge``
    or ``maxCredentialUsageAge`` replaces 90. Keys are deactivated, never deleted; a stale
    console password is named, not removed.
    """

    controls = ("IAM.3", "IAM.8")
    mode = Action.APPROVE
    service = "iam"
    noun = "IAM user"
    arn = ("iam", ("user/",))
    types = frozenset({"AwsIamUser", "AWS::IAM::User"})
    permissions = frozenset(
        {
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            # IAM.8: when each key and the console password were last used.
            "iam:GetAccessKeyLastUsed",
            "iam:GetLoginProfile",
            "iam:GetUser",
        }
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        return {key["AccessKeyId"]: key["Status"] for key in self._keys(client, id)}

    def target(
        self, client: Any, id: str, setting: Setting, options: Mapping[str, Any], finding: Finding
    ) -> Setting:
        rule(finding)
        days, _ = threshold(finding)
        since = datetime.now(UTC) - timedelta(days=days)
        stale = {
            key["AccessKeyId"]
            for key in self._keys(client, id)
            if setting.get(key["AccessKeyId"]) == ACTIVE
            and self._last(client, key, finding) < since
        }
        if not stale and (password := self._stale_password(client, id, finding)):
            raise Refused(f"no active access key is stale; {password}")
        return {key: INACTIVE if key in stale else status for key, status in setting.items()}

    def note(self, client: Any, id: str, before: Setting, after: Setting, finding: Finding) -> str:
        days, source = threshold(finding)
        _, measure = RULES[rule(finding)]
        said = f"deactivated the keys {measure} more than {days} days ago ({source})"
        password = self._stale_password(client, id, finding)
        return f"{said}; {password}" if password else said

    def restored(self, current: Setting, before: Setting, after: Setting) -> Setting | None:
        """The deactivated keys active again, other keys as they are now, unless one of the
        deactivated keys was deleted or its status changed since."""
        changed = [key for key in before if before[key] != after.get(key)]
        if any(current.get(key) != after[key] for key in changed):
            return None
        return {**current, **{key: before[key] for key in changed}}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        name = _user_name(id)

        def status(key: str, value: str) -> Any:
            return lambda: client.update_access_key(UserName=name, AccessKeyId=key, Status=value)

        steps: list[Step] = [
            (status(key, new[key]), status(key, old[key]))
            for key in old
            if key in new and new[key] != old[key]
        ]
        all_or_nothing(steps)

    def _keys(self, client: Any, id: str) -> list[dict[str, Any]]:
        with missing_on("NoSuchEntity"):
            pages = client.get_paginator("list_access_keys").paginate(UserName=_user_name(id))
            return [key for page in pages for key in page["AccessKeyMetadata"]]

    def _last(self, client: Any, key: Mapping[str, Any], finding: Finding) -> datetime:
        """When IAM.3 or IAM.8 counts the key's age from."""
        created: datetime = key["CreateDate"]
        if rule(finding) != "IAM.8":
            return created
        used = client.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
        last: datetime | None = used.get("AccessKeyLastUsed", {}).get("LastUsedDate")
        return last or created

    def _stale_password(self, client: Any, id: str, finding: Finding) -> str:
        """For IAM.8, the console password in words if it is stale, else ``""``."""
        if rule(finding) != "IAM.8":
            return ""
        name = _user_name(id)
        try:
            profile = client.get_login_profile(UserName=name)["LoginProfile"]
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == "NoSuchEntity":
                return ""
            raise
        with missing_on("NoSuchEntity"):
            user = client.get_user(UserName=name)["User"]
        days, _ = threshold(finding)
        used: datetime | None = user.get("PasswordLastUsed")
        last = used or profile["CreateDate"]
        if last >= datetime.now(UTC) - timedelta(days=days):
            return ""
        return f"console password unused since {_day(last)}: not removed, a person must"


def _user_name(id: str) -> str:
    """The user's name: the last part of the ARN's ``user/path/name``."""
    return id.rsplit("/", 1)[-1]
