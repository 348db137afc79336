"""Lambda.1 beyond the shared control tests (`test_action_controls.py`): which statements
count as public (AWS Config's reading, the rule behind Lambda.1); only those removed, each
recorded whole; a public statement ``lambda:AddPermission`` could not make again is left
and named; release refusing when a removed statement's Sid is taken since, and when the
function is gone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from control_cases import CASES, FUNCTION, function_policy
from control_events import control_finding
from fixtures_guard import MEMBERS, REGION, Core, admin, running_core
from remedy.actions.controls.lambda_public_policy import LambdaPolicyNotPublic, public
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding

_core = pytest.fixture(name="core")(running_core)
A, B = MEMBERS
[CASE] = [c for c in CASES if c.remediation == "lambda-policy-not-public"]
ARN = f"arn:aws:lambda:{REGION}:{A}:function:{FUNCTION}"
ANYONE = {
    "Sid": "Anyone",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "lambda:InvokeFunction",
    "Resource": ARN,
}


def allow(principal: Any, condition: Any = None, effect: str = "Allow") -> dict[str, Any]:
    statement = {"Sid": "S", "Effect": effect, "Principal": principal, "Action": "lambda:*"}
    return statement if condition is None else {**statement, "Condition": condition}


@pytest.mark.parametrize(
    "statement,expected",
    [
        (allow("*"), True),
        (allow({"AWS": "*"}), True),
        (allow({"AWS": ["arn:aws:iam::333333333333:root", "*"]}), True),
        (allow({"AWS": "arn:aws:iam::*:root"}), True),
        (allow(""), True),
        # A bucket of any account (AWS Config: NON_COMPLIANT without AWS:SourceAccount).
        (allow({"Service": "s3.amazonaws.com"}), True),
        (allow({"AWS": "arn:aws:iam::333333333333:root"}), False),
        (allow("*", effect="Deny"), False),
        (allow("*", {"StringEquals": {"AWS:SourceAccount": "333333333333"}}), False),
        (allow("*", {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}}), False),
        (allow("*", {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}), False),
        (allow("*", {"StringEquals": {"aws:principalorgid": ["o-abc123", "o-def456"]}}), False),
        # Wildcards and policy variables are not fixed values.
        (allow("*", {"StringLike": {"AWS:SourceAccount": "33333333*"}}), True),
        (allow("*", {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::${aws:username}"}}), True),
        # Negated and IfExists operators let a request without the key through.
        (allow("*", {"StringNotEquals": {"AWS:SourceAccount": "333333333333"}}), True),
        (allow("*", {"StringEqualsIfExists": {"AWS:SourceAccount": "333333333333"}}), True),
        # A condition on something that is not who calls confines nothing.
        (allow("*", {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}), True),
    ],
)
def test_public_reads_statements_as_aws_config_does(
    statement: dict[str, Any], expected: bool
) -> None:
    assert public(statement) is expected


def finding(account: str) -> Finding:
    asff, ocsf = CASE.resources(account)
    return control_finding("asff", account, "Lambda.1", asff=asff, ocsf=ocsf)


def make(core: Core) -> LambdaPolicyNotPublic:
    for account in MEMBERS:
        CASE.setup(account)
    core.prime(*MEMBERS)
    return LambdaPolicyNotPublic(core.sessions, core.settings)


def add_url_statement(account: str) -> None:
    """A public function URL grant: AddPermission cannot make it again from the statement."""
    admin(account, "lambda").add_permission(
        FunctionName=FUNCTION,
        StatementId="Url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )


def test_only_public_statements_go_each_recorded_whole_and_release_adds_them_back(
    core: Core,
) -> None:
    action = make(core)
    prior = function_policy(A)
    [uploads] = [s for s in prior if s["Sid"] == "Uploads"]
    outcome = action.run(finding(A), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["before"] == {"public": [ANYONE], "others": ["Uploads"]}
    assert outcome.attrs["after"] == {"public": [], "others": ["Uploads"]}
    assert function_policy(A) == [uploads]
    assert json.loads(json.dumps(outcome.attrs)) == outcome.attrs  # goes to the ledger as is
    action.release(finding(A), outcome.attrs)
    assert function_policy(A) == prior


def test_a_statement_add_permission_cannot_make_again_is_left_and_named(core: Core) -> None:
    action = make(core)
    add_url_statement(A)
    prior = function_policy(A)
    outcome = action.run(finding(A), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.reason.endswith(
        "; left public statement Url, which lambda:AddPermission could not put back exactly; "
        "remove by hand what should go"
    )
    assert [s["Sid"] for s in function_policy(A)] == ["Uploads", "Url"]
    action.release(finding(A), outcome.attrs)
    assert function_policy(A) == prior


def test_nothing_is_removed_when_no_public_statement_can_be_made_again(core: Core) -> None:
    action = make(core)
    admin(A, "lambda").remove_permission(FunctionName=FUNCTION, StatementId="Anyone")
    add_url_statement(A)
    prior = function_policy(A)
    outcome = action.run(finding(A), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"Lambda function {FUNCTION} in {A}: lambda:AddPermission could not put back exactly "
        "statement Url, so remedy removes nothing; remove by hand what should go; nothing "
        "changed",
    )
    assert function_policy(A) == prior


def test_release_refuses_when_a_removed_statements_sid_is_taken_since(core: Core) -> None:
    action = make(core)
    outcome = action.run(finding(A), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    # Someone reuses the Sid for a grant to one account: adding ours back would collide.
    admin(A, "lambda").add_permission(
        FunctionName=FUNCTION,
        StatementId="Anyone",
        Action="lambda:InvokeFunction",
        Principal="333333333333",
    )
    taken = function_policy(A)
    with pytest.raises(ActionFailed) as refused:
        action.release(finding(A), outcome.attrs)
    assert (refused.value.state, refused.value.reason) == (
        State.CHANGED,
        f"Lambda function {FUNCTION} in {A} changed since remedy fixed it (others was "
        "[Uploads] as remedy left it, now [Anyone, Uploads]); nothing restored, to keep that "
        "change",
    )
    assert function_policy(A) == taken


def test_a_statement_added_since_is_kept_by_release(core: Core) -> None:
    action = make(core)
    outcome = action.run(finding(B), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    admin(B, "lambda").add_permission(
        FunctionName=FUNCTION,
        StatementId="Partner",
        Action="lambda:InvokeFunction",
        Principal="333333333333",
    )
    action.release(finding(B), outcome.attrs)
    assert [s["Sid"] for s in function_policy(B)] == ["Anyone", "Partner"]


def test_release_of_a_deleted_function_says_it_is_gone(core: Core) -> None:
    action = make(core)
    outcome = action.run(finding(A), {}, resume=False)
    admin(A, "lambda").delete_function(FunctionName=FUNCTION)
    with pytest.raises(ActionFailed) as gone:
        action.release(finding(A), outcome.attrs)
    assert (gone.value.state, gone.value.reason) == (
        State.GONE,
        f"Lambda function {FUNCTION} in {A} no longer exists; nothing restored",
    )
