"""Dedupe keys are stored in the ledger: each key function frames its own parts (for speed,
bench/decide.py), and every one must give exactly the key the one shared framing gives, or
findings already recorded would get new keys and be remediated again."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from remedy.normalise.keys import (
    MACIE_PREFIX,
    MALWARE_PREFIX,
    asff_key,
    cloudtrail_key,
    imported_key,
    invalid_key,
    malware_key,
    s3_object_key,
)

# Any text a member can write, lone surrogates included (JSON allows them).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


def framed(*parts: str) -> str:
    """The key digest as it was first defined: parts length-prefixed, then BLAKE2b-128."""
    text = "".join(f"{len(part)}:{part}" for part in parts)
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@given(TEXT, TEXT)
def test_two_part_keys_are_the_shared_framing(one: str, other: str) -> None:
    assert asff_key(one, other) == "sh-" + framed(one, other)
    assert imported_key(one, other, one) == "sh-" + framed(one, other, one)
    assert cloudtrail_key(one, other) == "ct-" + framed(one, other)
    assert invalid_key(one, other) == "x-" + framed(one, other)


@given(TEXT, TEXT, TEXT, st.none() | TEXT, TEXT)
def test_object_keys_are_the_shared_framing(
    account: str, region: str, bucket: str, key: str | None, topic: str
) -> None:
    assert s3_object_key(MACIE_PREFIX, account, region, bucket, key, topic) == (
        MACIE_PREFIX + framed(account, region, bucket, key or "", topic)
    )
    if key is not None:
        assert malware_key(account, region, bucket, key, topic) == (
            MALWARE_PREFIX + framed(account, region, bucket, key, topic)
        )


def test_keys_are_the_ones_recorded_before() -> None:
    # Computed by the code before the framing moved into each key function.
    guardduty = "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    assert asff_key(guardduty, "id-1") == "sh-97e27df4eea1ed4593a2c65112d478dc"
    assert (
        s3_object_key(
            MACIE_PREFIX,
            "111111111111",
            "eu-west-1",
            "bucket",
            "people/2026/contract.pdf",
            "SensitiveData:S3Object/Personal",
        )
        == "m-376ee14e86cab47547e8ec649ec4cf58"
    )
    assert cloudtrail_key("111111111111", "e-1") == "ct-0a9888d5bd919c70216891d92c8a3128"
    # A lone surrogate, as JSON text may carry.
    assert invalid_key("111111111111", '{"x": "\udc80"}') == "x-6c143f453812fef58d6b25c4f3188a9c"


def test_parts_that_spell_the_same_text_get_other_keys() -> None:
    # Without the lengths, ("a1:b", "c") and ("a", "1:bc") would be one text.
    assert cloudtrail_key("a1:b", "c") != cloudtrail_key("a", "1:bc")
    assert s3_object_key(MACIE_PREFIX, "1", "r", "b/k", None, "") != s3_object_key(
        MACIE_PREFIX, "1", "r", "b", "/k", ""
    )
