"""AWS regions: their syntax, their partition, and what to use when a payload's is not one.

A region a member wrote (a resource's ``Region``) is a claim like any other: it goes into
console hosts and boto3 endpoints only once it has the syntax of a region.
"""

from __future__ import annotations

import re
from typing import TypeGuard

# Every AWS region: two-letter area, one or more words, a number (us-gov-west-1, il-central-1).
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
#: For messages: what a region looks like.
A_REGION = "an AWS region such as us-east-1"


#: Regions already seen to be well formed: most events name one of a few (bench/decide.py).
_SEEN: set[str] = set()


def is_region(text: object) -> TypeGuard[str]:
    if not isinstance(text, str):
        return False
    if text in _SEEN:
        return True
    if REGION.fullmatch(text) is None:
        return False
    if len(_SEEN) < 64:
        _SEEN.add(text)
    return True


def region_or(candidate: object, fallback: str) -> str:
    """`candidate` if it is a region, else `fallback` (the finding's own, validated)."""
    return candidate if is_region(candidate) else fallback


def partition_of(region: str) -> str:
    """The ARN partition of a region, for ARNs the payload does not spell out."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
