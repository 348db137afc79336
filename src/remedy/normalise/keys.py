"""Dedupe keys: one key per thing to remediate, whichever way its finding arrived.

A key is a short source prefix plus 32 hex digits of a 128-bit BLAKE2b digest (as strong as
needed for dedupe, and measured here at under half the cost of SHA-256 on short input), so it
fits in an STS RoleSessionName (64 characters of ``[A-Za-z0-9+=,.@_-]``) with room for a
prefix of our own.

A key names a problem at a place; the ledger tells its occurrences apart (the object
written again at the same key, a control that fails again after it was fixed) and numbers
them (``remedy.occurrences``; README "Occurrences").

- S3 objects (`s3_object_key`): account, region, bucket and object key. Which bytes are
  there (`object_identity`: version id and ETag) tells its occurrences apart, in the
  ledger: a new write at the key (a nightly export) is the next occurrence of the key.
  Both copies of a Macie finding carry them: the native event in
  ``resourcesAffected.s3Object`` (``versionId`` "" when unversioned, ``eTag``), the
  Security Hub copy in ``Resources[].Details.AwsS3Object`` (``VersionId``, ``ETag``).
- Macie, native or its Security Hub copy: the object's key plus Macie's finding type.
  Not the finding id: Macie reuses ids, and the copy in Security Hub has an id of its own.
- Other ASFF findings: ``ProductArn`` and ``Id``, which Security Hub keeps across updates
  (so its occurrences are told apart by the ledger, not by the key); for a product that is
  not AWS's own (`imported_key`), the account too.
- CloudTrail: the recipient account and the ``eventID``.
- Malware in an S3 object (GuardDuty's scan result, its ``Object:S3/MaliciousFile`` finding
  natively, through CSPM or through the new Security Hub): account, region, bucket, object
  key and the scan status, so the scan result and the finding about the same upload are one
  thing; which bytes (version, ETag) is the occurrence, as for Macie.
- A finding that cannot be read (`invalid_key`): who sent it and its exact text.
"""

from __future__ import annotations

import hashlib

#: Copied for each key: cheaper than parsing blake2b's keywords each time.
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)


def _digest(framed: str) -> str:
    """The digest of parts framed as ``f"{len(part)}:{part}"`` one after the other.

    Length-prefixed so no choice of bucket/key text can make two tuples collide. Each key
    frames its own parts in one f-string: a comprehension over ``*parts`` cost twice the
    hash itself, on every finding (bench/decide.py). surrogatepass because a JSON string
    may hold a lone surrogate (never a crash).
    """
    hasher = _BLAKE2B_128.copy()
    hasher.update(framed.encode("utf-8", "surrogatepass"))
    return hasher.hexdigest()


#: The prefix of Macie findings' keys (native or the Security Hub copy), for `s3_object_key`.
MACIE_PREFIX = "m-"


def s3_object_key(
    prefix: str, account: str, region: str, bucket: str, key: str | None, topic: str = ""
) -> str:
    """The key of an object (or of a bucket, when `key` is None) for every source that
    reports it: `prefix` names the source family, `topic` what about the object it reports
    (Macie's finding type). Which bytes are there is the occurrence (`object_identity`)."""
    key = key or ""
    return prefix + _digest(
        f"{len(account)}:{account}{len(region)}:{region}{len(bucket)}:{bucket}"
        f"{len(key)}:{key}{len(topic)}:{topic}"
    )


def object_identity(version_id: str | None, etag: str | None) -> tuple[str, str]:
    """Which bytes a finding saw at an object's key: its version id and ETag, "" when not
    known. S3 quotes ETags and Macie does not; "" is also Macie's word for no version."""
    return version_id or "", (etag or "").strip('"')


def same_bytes(one: tuple[str, str], other: tuple[str, str]) -> bool:
    """Two findings saw the same bytes unless a field both know differs (a copy that
    leaves a field out cannot be told apart from the other copy, and is taken as it)."""
    return all(a == b for a, b in zip(one, other, strict=True) if a and b)


def asff_key(product_arn: str, finding_id: str) -> str:
    return "sh-" + _digest(f"{len(product_arn)}:{product_arn}{len(finding_id)}:{finding_id}")


def imported_key(product_arn: str, finding_id: str, account: str) -> str:
    """A custom or partner product's finding: whoever imports it chooses its Id, and
    Security Hub keeps each account's findings apart, so another account's import of the
    same Id is another finding (never a duplicate of this one)."""
    return "sh-" + _digest(
        f"{len(product_arn)}:{product_arn}{len(finding_id)}:{finding_id}{len(account)}:{account}"
    )


def cloudtrail_key(account: str, event_id: str) -> str:
    return "ct-" + _digest(f"{len(account)}:{account}{len(event_id)}:{event_id}")


#: The prefix of GuardDuty malware findings' keys (scan result, native, CSPM, OCSF).
MALWARE_PREFIX = "gd-"


def malware_key(account: str, region: str, bucket: str, key: str, status: str) -> str:
    """`status` keeps a scan that could not run (UNSUPPORTED...) apart from a malware find."""
    return s3_object_key(MALWARE_PREFIX, account, region, bucket, key, status)


def invalid_key(sender: str, text: str) -> str:
    """A finding that could not be read: the same text from the same sender is one record."""
    return "x-" + _digest(f"{len(sender)}:{sender}{len(text)}:{text}")
