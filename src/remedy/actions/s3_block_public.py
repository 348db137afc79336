"""Turn on all four Block Public Access settings of a bucket made public.

Triggers: CloudTrail ``PutBucketPolicy``, ``PutBucketAcl`` or ``DeletePublicAccessBlock``
making a bucket public; Macie ``Policy:IAMUser/S3BucketPublic*``; Security Hub S3.2,
S3.3 and S3.8. The bucket-level setting is used (``PutPublicAccessBlock`` on the bucket),
not the account-level one, so one finding changes one bucket.

Every call pins ``ExpectedBucketOwner`` to the finding's account: a bucket of the same
name in another account is refused by S3 (DENIED), never changed. The first call, reading
the settings, so proves who owns the bucket, and only then is the allow-list consulted,
under that owner's account.

A bucket on ``policies/public-bucket-allowlist.yaml`` (static websites, public data
sets) is left as it is and the outcome says why. Otherwise the previous configuration
(or none) goes to the ledger, and ``remedy release`` puts exactly that back: the saved
settings, or no configuration at all. Release refuses when someone has changed the
settings since, rather than overwrite their change.

Example policy rules::

    - id: block-public-buckets
      match:
        source: [cloudtrail]
        type: ["s3:PutBucketPolicy", "s3:PutBucketAcl", "s3:DeletePublicAccessBlock"]
        min_severity: HIGH
      action: quarantine
      remediation: s3-block-public-access
    - id: block-public-buckets-reported
      match:
        control_id: [S3.2, S3.3, S3.8]
      action: quarantine
      remediation: s3-block-public-access
    - id: block-public-buckets-macie
      match:
        product: [Macie]
        type: ["Policy:IAMUser/S3BucketPublic*"]
      action: quarantine
      remediation: s3-block-public-access
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.errors import PolicyError
from remedy.ledger.base import State
from remedy.model import Finding, ResourceKind
from remedy.policy_files import BucketAllowlist, load_allowlist

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_ON: dict[str, bool] = dict.fromkeys(SETTINGS, True)
# S3's operations are authorised under other IAM names.
IAM_NAMES = {
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}
_NONE = "NoSuchPublicAccessBlockConfiguration"


def bucket_of(finding: Finding) -> str | None:
    """The bucket a finding is about: its S3 bucket (or object) resource, else the request."""
    for kind in (ResourceKind.S3_BUCKET, ResourceKind.S3_OBJECT):
        for resource in finding.resources:
            if resource.kind is kind and resource.bucket:
                return resource.bucket
    bucket = finding.parameters.get("bucket")
    return bucket if isinstance(bucket, str) and bucket else None


def _shown(config: Mapping[str, bool] | None) -> str:
    if config is None:
        return "no configuration"
    on = [name for name in SETTINGS if config.get(name)]
    return ", ".join(on) + " on" if on else "all four off"


@register("s3-block-public-access")
class S3BlockPublicAccess(ReversibleAction):
    """Turn on the bucket's four Block Public Access settings unless it is allow-listed."""

    schema = {"type": "object", "additionalProperties": False, "properties": {}}
    permissions = frozenset(
        {
            "s3:GetBucketPublicAccessBlock",
            # PutPublicAccessBlock and DeletePublicAccessBlock (release) both need this.
            "s3:PutBucketPublicAccessBlock",
            # The managed-as-code rail reads the bucket's tags first (remedy.rails.managed).
            "s3:GetBucketTagging",
        }
    )
    resource_kinds = frozenset({ResourceKind.S3_BUCKET.value})

    @cached_property
    def allowlist(self) -> BucketAllowlist:
        return load_allowlist()

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        bucket = bucket_of(finding)
        account, region = finding.account, finding.region
        if bucket is None:
            return Outcome(State.FAILED, "the finding names no bucket; nothing changed")
        try:
            allowlist = self.allowlist
        except PolicyError as error:
            return Outcome(State.FAILED, f"the allow-list cannot be read; nothing changed: {error}")
        try:
            s3 = self.sessions.client("s3", account, region, finding_key=finding.key)
            # Pinned: from here on the bucket is known to be `account`'s.
            previous = _current(s3, bucket, account)
            why = allowlist.reason(account, bucket)
            if why is not None:
                return Outcome(
                    State.GONE,
                    f"left public: bucket {bucket} in {account} is on the public-bucket "
                    f"allow-list ({why})",
                    {"bucket": bucket, "allowlisted": why},
                )
            if previous == ALL_ON:
                earlier = (
                    " (an earlier attempt may have turned them on; the configuration before it "
                    "was not recorded)"
                    if resume
                    else ""
                )
                return Outcome(
                    State.GONE,
                    f"already fixed: all four Block Public Access settings are on for bucket "
                    f"{bucket} in {account}{earlier}",
                )
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON, ExpectedBucketOwner=account
            )
        except _Gone:
            return Outcome(State.GONE, f"bucket {bucket} no longer exists in {account}")
        except aws_errors.AWS_ERRORS as error:
            return aws_errors.failure(
                error,
                account=account,
                doing=f"blocking public access to bucket {bucket}",
                service="s3",
                iam_names=IAM_NAMES,
            )
        return Outcome(
            State.QUARANTINED,
            f"turned on all four Block Public Access settings for bucket {bucket} in {account} "
            f"(before: {_shown(previous)})",
            {"bucket": bucket, "region": region, "previous": previous},
        )

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        bucket, previous = attrs["bucket"], attrs["previous"]
        account = finding.account
        try:
            s3 = self.sessions.client("s3", account, attrs["region"], finding_key=finding.key)
            current = _current(s3, bucket, account)
            if current == previous:
                return Undo(f"already restored: bucket {bucket} has {_shown(previous)}")
            if current != ALL_ON:
                raise ActionFailed(
                    State.CHANGED,
                    f"bucket {bucket}'s Block Public Access settings changed since remedy set "
                    f"them (now {_shown(current)}); nothing restored, to keep that change",
                )
            if previous is None:
                s3.delete_public_access_block(Bucket=bucket, ExpectedBucketOwner=account)
            else:
                s3.put_public_access_block(
                    Bucket=bucket,
                    PublicAccessBlockConfiguration=previous,
                    ExpectedBucketOwner=account,
                )
        except _Gone as error:
            raise ActionFailed(
                State.GONE, f"bucket {bucket} no longer exists in {account}; nothing restored"
            ) from error
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(
                error,
                account=account,
                doing=f"restoring public access settings of bucket {bucket}",
                service="s3",
                iam_names=IAM_NAMES,
            ) from error
        return Undo(f"restored bucket {bucket} to {_shown(previous)}")


class _Gone(Exception):
    """The bucket does not exist (any more)."""


def _current(s3: Any, bucket: str, owner: str) -> dict[str, bool] | None:
    """The Block Public Access configuration of `owner`'s `bucket`, or None when it has none."""
    try:
        response = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) == _NONE:
            return None
        if aws_errors.code(error) == "NoSuchBucket":
            raise _Gone from error
        raise
    config = response["PublicAccessBlockConfiguration"]
    return {name: bool(config.get(name, False)) for name in SETTINGS}
