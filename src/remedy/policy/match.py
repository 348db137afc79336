"""A rule's ``match`` block compiled into small tests of a finding and its account.

Globs become one compiled regular expression per key and lists frozensets, so a test is a
few attribute reads; the rule set (`remedy.policy.rules`) orders and files them, and the
change freezes' ``where`` blocks (`remedy.policy.rails`) reuse them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from remedy.model import Finding, ResourceKind, Severity
from remedy.normalise.ocsf import OCSF
from remedy.normalise.products import is_custom, one_spelling
from remedy.policy.accounts import AccountInfo

Test = Callable[[Finding, AccountInfo], bool]
_S3_KINDS = (ResourceKind.S3_OBJECT, ResourceKind.S3_BUCKET)


def compile_globs(patterns: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str]:
    """One regular expression matching any of the shell-style `patterns` in full."""
    return re.compile(
        "|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE if ignore_case else 0
    )


def _in(attribute: str, values: Iterable[str]) -> Test:
    get = attrgetter(attribute)
    wanted = frozenset(values)

    def test(finding: Finding, account: AccountInfo) -> bool:
        return get(finding) in wanted

    return test


def _glob(attribute: str, patterns: Iterable[str], *, ignore_case: bool = False) -> Test:
    get = attrgetter(attribute)
    match = compile_globs(patterns, ignore_case=ignore_case).match

    def test(finding: Finding, account: AccountInfo) -> bool:
        value = get(finding)
        return value is not None and match(value) is not None

    return test


def _product_arn(patterns: Iterable[str]) -> Test:
    """ASFF's ``product/`` and the new Security Hub's ``productv2/`` name one product: a
    rule written in either spelling matches the finding in both formats."""
    match = compile_globs([one_spelling(p) for p in patterns]).match

    def test(finding: Finding, account: AccountInfo) -> bool:
        value = finding.product_arn
        return value is not None and match(one_spelling(value)) is not None

    return test


def _min_severity(value: str) -> Test:
    minimum = Severity[value]

    def test(finding: Finding, account: AccountInfo) -> bool:
        return finding.severity >= minimum

    return test


def _environment(values: Sequence[str]) -> Test:
    wanted = frozenset(values)

    def test(finding: Finding, account: AccountInfo) -> bool:
        return account.environment in wanted

    return test


def _ou(values: Sequence[str]) -> Test:
    """The account sits in one of the units, directly or below it: ids exactly, paths as
    globs (so ``Root/Workloads`` is one unit and ``Root/Workloads/*`` everything under it)."""
    ids = frozenset(v for v in values if v.startswith("ou-"))
    paths = [v for v in values if not v.startswith("ou-")]
    match = compile_globs(paths).match if paths else None

    def test(finding: Finding, account: AccountInfo) -> bool:
        for ou in account.ous:
            if ou.id in ids or (match is not None and match(ou.path) is not None):
                return True
        return False

    return test


def products_of(match: Mapping[str, Any]) -> Callable[[str], bool] | None:
    """The ``product`` and ``custom_product`` tests (as `_tests` builds them), on the
    product alone; None if the rule has neither."""
    # As in _tests: product names are written by people in several spellings.
    names = compile_globs(match["product"], ignore_case=True).match if "product" in match else None
    custom = match.get("custom_product")
    if names is None and custom is None:
        return None

    def test(product: str) -> bool:
        if names is not None and names(product) is None:
            return False
        return custom is None or is_custom(product) is custom

    return test


def _custom_product(wanted: bool) -> Test:
    def test(finding: Finding, account: AccountInfo) -> bool:
        return is_custom(finding.product) is wanted

    return test


def _public(wanted: bool) -> Test:
    def test(finding: Finding, account: AccountInfo) -> bool:
        return (finding.public is True) is wanted

    return test


def controls_of(patterns: Sequence[str]) -> Callable[[object], bool]:
    """Whether a finding's ``parameters["control_id"]`` matches one of `patterns`."""
    match = compile_globs(patterns).match

    def test(control: object) -> bool:
        return isinstance(control, str) and match(control) is not None

    return test


def _control_id(patterns: Sequence[str]) -> Test:
    matches = controls_of(patterns)

    def test(finding: Finding, account: AccountInfo) -> bool:
        return matches(finding.parameters.get("control_id"))

    return test


def _s3(buckets: Sequence[str] | None, keys: Sequence[str] | None) -> Test:
    """Any one S3 resource must match: its bucket (if given) and its key (if given).

    With a key pattern only S3 objects can match; with bucket patterns alone, buckets too.
    """
    bucket_match = compile_globs(buckets).match if buckets else None
    key_match = compile_globs(keys).match if keys else None
    kinds = (ResourceKind.S3_OBJECT,) if key_match else _S3_KINDS

    def test(finding: Finding, account: AccountInfo) -> bool:
        for resource in finding.resources:
            if resource.kind not in kinds or resource.bucket is None:
                continue
            if bucket_match is not None and bucket_match(resource.bucket) is None:
                continue
            if key_match is not None and (resource.key is None or key_match(resource.key) is None):
                continue
            return True
        return False

    return test


def _ocsf(wanted: bool) -> Test:
    def test(finding: Finding, account: AccountInfo) -> bool:
        return (finding.parameters.get("format") == OCSF) is wanted

    return test


def match_tests(match: Mapping[str, Any]) -> tuple[Test, ...]:
    """The tests of one match block (all must pass), cheapest first; ``source`` is filed."""
    tests: list[Test] = []
    for key, attribute in (
        ("action_name", "action_name"),
        ("category", "category"),
        ("workflow_status", "workflow_status"),
        ("accounts", "account"),
    ):
        if key in match:
            tests.append(_in(attribute, match[key]))
    if "sample" in match:
        tests.append(_in("sample", (match["sample"],)))
    if "min_severity" in match:
        tests.append(_min_severity(match["min_severity"]))
    if "environment" in match:
        tests.append(_environment(match["environment"]))
    if "ou" in match:
        tests.append(_ou(match["ou"]))
    if "product" in match:
        # Product names are written by people in several spellings ("GuardDuty", "Guardduty").
        tests.append(_glob("product", match["product"], ignore_case=True))
    if "custom_product" in match:
        tests.append(_custom_product(match["custom_product"]))
    if "public" in match:
        tests.append(_public(match["public"]))
    if "ocsf" in match:
        tests.append(_ocsf(match["ocsf"]))
    if "product_arn" in match:
        tests.append(_product_arn(match["product_arn"]))
    if "type" in match:
        tests.append(_glob("type", match["type"]))
    if "control_id" in match:
        tests.append(_control_id(match["control_id"]))
    if "bucket" in match or "key" in match:
        tests.append(_s3(match.get("bucket"), match.get("key")))
    return tuple(tests)
