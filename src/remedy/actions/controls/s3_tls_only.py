"""S3.5: a bucket policy statement denying every request not made over TLS.

The statement (Sid ``RemedyDenyInsecureTransport``) is added to whatever policy the
bucket has; a bucket whose policy already denies insecure transport complies. Release
removes only that statement, exactly as remedy added it, and keeps any statement added
since (deleting the policy when nothing else is left and there was none before); it
refuses when the statement was changed or removed.

Every call pins ``ExpectedBucketOwner`` to the finding's account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from remedy.actions import aws_errors
from remedy.actions.controls.base import ControlRemediation, Missing, Setting
from remedy.actions.registry import register
from remedy.model import Action, Finding

SID = "RemedyDenyInsecureTransport"
_NO_POLICY = "NoSuchBucketPolicy"


def statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _denies_plain_http(item: Mapping[str, Any]) -> bool:
    condition = item.get("Condition", {}).get("Bool", {})
    return item.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")) == "false"


@register("s3-require-tls")
class S3RequireTls(ControlRemediation):
    """Deny requests to the bucket that are not made over TLS."""

    controls = ("S3.5",)
    mode = Action.QUARANTINE
    service = "s3"
    noun = "bucket policy of"
    arn = ("s3", ("",))
    types = frozenset({"AwsS3Bucket", "AWS::S3::Bucket"})
    id_prefix = ""
    permissions = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        try:
            text = client.get_bucket_policy(Bucket=id, ExpectedBucketOwner=finding.account)
        except aws_errors.AWS_ERRORS as error:
            if aws_errors.code(error) == _NO_POLICY:
                return {"policy": None}
            if aws_errors.code(error) == "NoSuchBucket":
                raise Missing from error
            raise
        return {"policy": json.loads(text["Policy"])}

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        policy = setting["policy"] or {"Version": "2012-10-17", "Statement": []}
        statements = _statements(policy)
        if any(_denies_plain_http(s) for s in statements):
            return setting
        return {"policy": {**policy, "Statement": [*statements, statement(id)]}}

    def restored(self, current: Setting, before: Setting, after: Setting) -> Setting | None:
        policy = current["policy"]
        ours = next(s for s in _statements(after["policy"]) if s.get("Sid") == SID)
        if policy is None or ours not in _statements(policy):
            return None
        rest = [s for s in _statements(policy) if s != ours]
        if not rest and before["policy"] is None:
            return {"policy": None}
        return {"policy": {**policy, "Statement": rest}}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        if new["policy"] is None:
            client.delete_bucket_policy(Bucket=id, ExpectedBucketOwner=finding.account)
        else:
            client.put_bucket_policy(
                Bucket=id, Policy=json.dumps(new["policy"]), ExpectedBucketOwner=finding.account
            )


def _statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return list(found) if isinstance(found, list) else [found]
