"""The restricted-action question on policy documents: examples, properties, the list file."""

from __future__ import annotations

import itertools
import json
import re
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import POLICIES
from remedy.actions.iam_documents import (
    InvalidPolicyDocument,
    covered,
    overlaps,
    restricted_matches,
)
from remedy.errors import PolicyError
from remedy.policy_files import Restricted, load_restricted

LIST = (
    Restricted("iam:PutRolePolicy", "escalation"),
    Restricted("s3:DeleteBucket", "destroys data"),
    Restricted("s3:Delete*", "destroys data"),
    Restricted("securityhub:Disable*", "blinds detection"),
)


def doc(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def hits(document: object, restricted: tuple[Restricted, ...] = LIST) -> set[tuple[str, int]]:
    return {(m.restricted, m.statement) for m in restricted_matches(document, restricted)}  # type: ignore[arg-type]


# --- examples ------------------------------------------------------------------------------


def test_document_wildcard_matches_concrete_restricted_action() -> None:
    assert hits(doc(allow("s3:*"))) == {("s3:DeleteBucket", 0), ("s3:Delete*", 0)}


def test_restricted_wildcard_matches_concrete_document_action() -> None:
    assert hits(doc(allow("s3:DeleteObject"))) == {("s3:Delete*", 0)}


def test_star_matches_everything_and_case_is_ignored() -> None:
    assert hits(doc(allow("*"))) == {(r.action, 0) for r in LIST}
    assert hits(doc(allow("IAM:putrolepolicy"))) == {("iam:PutRolePolicy", 0)}


def test_wildcards_on_both_sides_overlap() -> None:
    assert hits(doc(allow("securityhub:*Hub"))) == {("securityhub:Disable*", 0)}
    assert hits(doc(allow(["s3:Get*", "s3:List*", "iam:Get*"]))) == set()


def test_action_list_and_single_statement_object() -> None:
    single = {"Version": "2012-10-17", "Statement": allow(["s3:GetObject", "iam:Put*"])}
    matches = restricted_matches(single, LIST)
    assert [(m.restricted, m.granted, m.via) for m in matches] == [
        ("iam:PutRolePolicy", ("iam:Put*",), "Action")
    ]


def test_deny_statements_do_not_count() -> None:
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert hits(doc(deny)) == set()
    assert hits(doc(deny, allow("s3:DeleteBucket"))) == {
        ("s3:DeleteBucket", 1),
        ("s3:Delete*", 1),
    }


def test_not_action_allows_what_it_does_not_exclude() -> None:
    not_iam = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert hits(doc(not_iam)) == {
        ("s3:DeleteBucket", 0),
        ("s3:Delete*", 0),
        ("securityhub:Disable*", 0),
    }


def test_not_action_wildcard_overlap_remains_allowed() -> None:
    # iam:* minus iam:Get* still leaves iam:PutRolePolicy and friends.
    restricted = (Restricted("iam:*", "all of IAM"),)
    excl_get = {"Effect": "Allow", "NotAction": "iam:Get*", "Resource": "*"}
    assert hits(doc(excl_get), restricted) == {("iam:*", 0)}
    # ... but iam:* minus iam:* leaves nothing of it.
    excl_all = {"Effect": "Allow", "NotAction": ["iam:Get*", "IAM:*"], "Resource": "*"}
    assert hits(doc(excl_all), restricted) == set()
    # s3:Delete* is fully excluded by the union s3:DeleteB* + s3:Delete?* + s3:Delete.
    s3_all = {
        "Effect": "Allow",
        "NotAction": ["s3:DeleteB*", "s3:Delete?*", "s3:Delete"],
        "Resource": "*",
    }
    assert hits(doc(s3_all), (Restricted("s3:Delete*", "x"),)) == set()
    s3_gap = {"Effect": "Allow", "NotAction": ["s3:DeleteB*", "s3:Delete"], "Resource": "*"}
    assert hits(doc(s3_gap), (Restricted("s3:Delete*", "x"),)) == {("s3:Delete*", 0)}


def test_match_says_which_statement_and_why() -> None:
    document = doc(
        allow("s3:GetObject", Sid="Read"),
        {"Sid": "Most", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    )
    described = [m.describe() for m in restricted_matches(document, LIST[1:2])]
    assert described == [
        "s3:DeleteBucket is allowed by statement 1 (Most): NotAction iam:* leaves it allowed;"
        " destroys data"
    ]


def test_restricted_resources_count_only_broad_grants() -> None:
    assume_any = (Restricted("sts:AssumeRole", "any role", resources=("*",)),)
    one_role = allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/deployer")
    assert hits(doc(one_role), assume_any) == set()
    assert hits(doc(allow("sts:*", "*")), assume_any) == {("sts:AssumeRole", 0)}
    assert hits(doc(allow("sts:AssumeRole", ["arn:aws:iam::1:role/a", "*"])), assume_any) == {
        ("sts:AssumeRole", 0)
    }
    not_res = {"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": "arn:aws:iam::*:x"}
    assert hits(doc(not_res), assume_any) == set()
    keys_any_user = (
        Restricted("iam:CreateAccessKey", "keys", resources=("arn:aws:iam::*:user/*",)),
    )
    self_service = allow("iam:CreateAccessKey", "arn:aws:iam::*:user/${aws:username}")
    assert hits(doc(self_service), keys_any_user) == set()
    assert hits(doc(allow("iam:*", "arn:aws:iam::*:user/*")), keys_any_user) == {
        ("iam:CreateAccessKey", 0)
    }
    # ARNs are case-sensitive: USER/* is not user/*.
    assert hits(doc(allow("iam:*", "arn:aws:iam::*:USER/*")), keys_any_user) == set()


def test_json_string_and_url_encoded_documents() -> None:
    document = doc(allow("s3:DeleteBucket"))
    text = json.dumps(document)
    assert hits(text) == hits(document) == hits(quote(text, safe="")) != set()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at character 1"),
        ("[1]", "expected a JSON object, got list"),
        (42, "expected a JSON object or string, got int"),
        ({"Version": "2012-10-17"}, "policy document Statement: missing"),
        ({"Statement": "x"}, "policy document Statement: must be an object or a list of objects"),
        ({"Statement": [1]}, "policy document Statement[0]: must be an object"),
        (
            {"Statement": [{"Effect": "allow", "Action": "*"}]},
            "policy document Statement[0].Effect: must be Allow or Deny, got 'allow'",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "s3:*"}]},
            "policy document Statement[0]: needs exactly one of Action and NotAction",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": ["s3:*", 3]}]},
            "policy document Statement[0].Action: must be a string or a list of strings",
        ),
    ],
)
def test_invalid_documents_say_what_and_where(document: object, message: str) -> None:
    with pytest.raises(InvalidPolicyDocument) as caught:
        restricted_matches(document, LIST)  # type: ignore[arg-type]
    assert str(caught.value) == message


# --- properties ----------------------------------------------------------------------------

_ALPHA = "ab:"
glob = st.text(alphabet=_ALPHA + "*?", min_size=0, max_size=3)
name = st.text(alphabet=_ALPHA + "c", min_size=0, max_size=6)
action_name = st.builds(
    "{}:{}".format,
    st.sampled_from(["iam", "s3", "kms", "sts", "ec2", "cloudtrail"]),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=12),
)


def _regex(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | re.IGNORECASE)


def _names(max_len: int) -> list[str]:
    return [
        "".join(p) for n in range(max_len + 1) for p in itertools.product(_ALPHA + "c", repeat=n)
    ]


_SMALL_NAMES = _names(6)


@settings(max_examples=300, deadline=None)
@given(glob, glob)
def test_overlap_agrees_with_brute_force(a: str, b: str) -> None:
    # A shortest common name never needs more characters than the two patterns' non-stars.
    ra, rb = _regex(a), _regex(b)
    expected = any(ra.fullmatch(n) and rb.fullmatch(n) for n in _SMALL_NAMES)
    assert overlaps(a, b) == expected == overlaps(b, a)


@settings(max_examples=300, deadline=None)
@given(glob, st.lists(glob, max_size=3))
def test_covered_is_never_contradicted_by_a_name(subject: str, by: list[str]) -> None:
    mine, theirs = _regex(subject), [_regex(p) for p in by]
    gap = any(mine.fullmatch(n) and not any(t.fullmatch(n) for t in theirs) for n in _SMALL_NAMES)
    if gap:
        assert not covered(subject, by)
    if "*" in by:
        assert covered(subject, by)


@settings(max_examples=200, deadline=None)
@given(st.lists(action_name, min_size=1, max_size=5, unique=True), st.data())
def test_document_allowing_a_listed_action_always_matches(
    actions: list[str], data: st.DataObject
) -> None:
    restricted = tuple(Restricted(a, "listed") for a in actions)
    chosen = data.draw(st.sampled_from(actions))
    spelled = data.draw(st.sampled_from([chosen, chosen.upper(), chosen.lower()]))
    assert (chosen, 0) in hits(doc(allow(spelled)), restricted)


statement_strategy = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"])},
    optional={"Sid": st.text(max_size=4)},
).flatmap(
    lambda base: st.one_of(
        st.builds(lambda a: {**base, "Action": a}, st.lists(action_name | st.just("*"))),
        st.builds(lambda a: {**base, "NotAction": a}, action_name | st.just("*")),
    )
)


@settings(max_examples=200, deadline=None)
@given(st.lists(statement_strategy, min_size=1, max_size=4), st.lists(action_name, min_size=1))
def test_deny_only_documents_never_match(statements: list[dict[str, object]], listed: list[str]):
    for statement in statements:
        statement["Effect"] = "Deny"
    assert hits(doc(*statements), tuple(Restricted(a, "x") for a in listed)) == set()


@settings(max_examples=200, deadline=None)
@given(st.lists(action_name | glob.map(lambda g: "s3:" + g), min_size=1, max_size=5))
def test_not_action_of_everything_never_matches(listed: list[str]) -> None:
    nothing = {"Effect": "Allow", "NotAction": "*", "Resource": "*"}
    assert hits(doc(nothing), tuple(Restricted(a, "x") for a in listed)) == set()


# --- the list in policies/ -----------------------------------------------------------------


def test_shipped_list_loads_and_catches_broad_grants() -> None:
    restricted = load_restricted(POLICIES)
    actions = {r.action for r in restricted}
    assert {"iam:Put*Policy", "kms:ScheduleKeyDeletion", "cloudtrail:StopLogging"} <= actions
    admin = doc(allow("*"))
    assert {m.restricted for m in restricted_matches(admin, restricted)} == actions
    read_only = doc(allow(["iam:Get*", "iam:List*", "s3:Get*", "ec2:Describe*"]))
    assert restricted_matches(read_only, restricted) == ()


def test_bad_list_gives_file_path_message(tmp_path: Path) -> None:
    path = tmp_path / "restricted-actions.yaml"
    path.write_text(
        "version: 1\nrestricted:\n  - why: x\n    actions: ['iam Put', 's3:*']\n  - actions: []\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        load_restricted(tmp_path)
    assert caught.value.problems == [
        f"{path}:restricted[0].actions[0]: 'iam Put' does not match "
        "'^(\\\\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$'",
        f"{path}:restricted[1]: 'why' is a required property",
        f"{path}:restricted[1].actions: [] should be non-empty",
    ]
