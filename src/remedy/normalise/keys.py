"""Dedupe keys: one key per thing to remediate, whichever way its finding arrived.

A key is a short source prefix plus 32 hex digits of a 128-bit BLAKE2b digest (as strong as
needed for dedupe, and measured here at under half the cost of SHA-256 on short input), so it
fits in an STS RoleSessionName (64 characters of ``[A-Za-z0-9+=,.@_-]``) with room for a
prefix of our own.

- Macie, native or its Security Hub copy: what both copies carry, namely account, region,
  bucket, object key, version and Macie's finding type. Not the finding id: Macie reuses
  ids, and the copy in Security Hub has an id of its own.
- Other ASFF findings: ``ProductArn`` and ``Id``, which Security Hub keeps across updates.
- CloudTrail: the recipient account and the ``eventID``.
- Malware in an S3 object (GuardDuty's scan result, its ``Object:S3/MaliciousFile`` finding
  natively, through CSPM or through the new Security Hub): account, region, bucket, object
  key and version, so the scan result and the finding about the same upload are one thing.
"""

from __future__ import annotations

import hashlib


def _digest(*parts: str) -> str:
    # Length-prefixed so no choice of bucket/key text can make two tuples collide;
    # surrogatepass because a JSON string may hold a lone surrogate (never a crash).
    text = "".join(f"{len(part)}:{part}" for part in parts)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def macie_key(
    account: str,
    region: str,
    bucket: str,
    key: str | None,
    version_id: str | None,
    finding_type: str,
) -> str:
    return "m-" + _digest(account, region, bucket, key or "", version_id or "", finding_type)


def asff_key(product_arn: str, finding_id: str) -> str:
    return "sh-" + _digest(product_arn, finding_id)


def cloudtrail_key(account: str, event_id: str) -> str:
    return "ct-" + _digest(account, event_id)


def malware_key(
    account: str, region: str, bucket: str, key: str, version_id: str | None, status: str
) -> str:
    """`status` keeps a scan that could not run (UNSUPPORTED...) apart from a malware find."""
    return "gd-" + _digest(account, region, bucket, key, version_id or "", status)
