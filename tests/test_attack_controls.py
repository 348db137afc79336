"""Attacks on the control remediations EC2.2, Lambda.1 and IAM.3/IAM.8 that found a weakness
(each written failing first), on moto across two member accounts.

- A fix of several calls whose later call fails, and whose undo of the earlier calls fails
  too (a throttle, a lost connection, a role without the undo's permission), used to leave
  the earlier change in place with nothing recorded: the redelivery then recorded the
  half-changed setting as the one it found, and what the first calls removed could never
  be put back. Now it is recorded as a partial fix, and release restores all of it.
- Only AWS Security Hub's own product names a control: any other AWS product (AWS Config,
  whose custom rules a member writes) does not, whatever its Compliance says.
- Lambda.1: a ``Null`` or ``ForAllValues:`` condition on a confining key lets any caller
  through, so the statement is public; a bucket's service principal without a confining
  condition is public too (AWS Config's rule says so).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from control_cases import CASES, FUNCTION, MADE, function_policy, user_keys
from control_events import asff_event, control_finding, ocsf_event
from fixtures_guard import MEMBERS, REGION, Core, admin, running_core
from remedy.actions.controls.base import ControlRemediation, Refused
from remedy.actions.controls.iam_stale_access_keys import IamStaleAccessKeys
from remedy.actions.controls.lambda_public_policy import LambdaPolicyNotPublic, public
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)
A, B = MEMBERS
_BY_NAME = {c.remediation: c for c in reversed(CASES)}  # the first case of each


class Faults:
    """Fails calls by operation: `codes[op](n)` is the error code of the `n`-th call of `op`
    (counted from 1), or None to let it through."""

    def __init__(self, **codes: Callable[[int], str | None]) -> None:
        self.codes = codes
        self.seen: dict[str, int] = {}
        self.made: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.made.append(model.name)
        n = self.seen[model.name] = self.seen.get(model.name, 0) + 1
        code = self.codes[model.name](n) if model.name in self.codes else None
        if code is not None:
            raise _injected(model.name, code)


def _injected(operation: str, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}, operation
    )


@contextmanager
def faults(core: Core, action: ControlRemediation, account: str, hook: Faults) -> Iterator[None]:
    client = core.sessions.client(action.service, account, REGION, finding_key="prime")
    client.meta.events.register("before-call.*.*", hook, unique_id="attack-faults")
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.*.*", unique_id="attack-faults")


def made(core: Core, remediation: str) -> Any:
    case = _BY_NAME[remediation]
    for account in MEMBERS:
        case.setup(account)
    core.prime(*MEMBERS)
    return case.action(core.sessions, core.settings)


def finding_for(remediation: str, account: str, control: str) -> Any:
    asff, ocsf = _BY_NAME[remediation].resources(account)
    return control_finding("asff", account, control, asff=asff, ocsf=ocsf)


# -- a fix whose undo fails ----------------------------------------------------------------


def test_lambda_fix_whose_undo_fails_is_recorded_as_a_partial_fix_release_restores(
    core: Core,
) -> None:
    action: LambdaPolicyNotPublic = made(core, "lambda-policy-not-public")
    lam = admin(A, "lambda")
    lam.add_permission(
        FunctionName=FUNCTION, StatementId="Reads", Action="lambda:GetFunction", Principal="*"
    )
    prior = function_policy(A)
    [anyone, reads] = [s for s in prior if s["Sid"] in ("Anyone", "Reads")]
    [uploads] = [s for s in prior if s["Sid"] == "Uploads"]
    found = finding_for("lambda-policy-not-public", A, "Lambda.1")
    # Statements go in the order of their JSON: Reads (lambda:GetFunction), then Anyone.
    # The second removal fails, and so does adding Reads back.
    hook = Faults(
        RemovePermission=lambda n: "InternalError" if n == 2 else None,
        AddPermission=lambda n: "ThrottlingException",
    )
    with faults(core, action, A, hook):
        outcome = action.run(found, {}, resume=False)
    assert hook.made[-4:] == ["RemovePermission", "RemovePermission", "AddPermission", "GetPolicy"]
    assert outcome.attrs == {
        "resource": FUNCTION,
        "region": REGION,
        "before": {"public": [reads, anyone], "others": ["Uploads"]},
        "after": {"public": [anyone], "others": ["Uploads"]},
    }
    # As the ledger shows them: each statement as Lambda gave it.
    was, now = outcome.attrs["before"]["public"], outcome.attrs["after"]["public"]
    label = f"Lambda function {FUNCTION} in {A}"
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"partly fixed Lambda.1: {label} now has public [{now[0]}], others [Uploads] (before: "
        f"public [{was[0]}, {was[1]}], others [Uploads]); the rest failed (fixing {label}: "
        f"InternalError: injected) and undoing what was done failed too (fixing {label}: "
        "ThrottlingException: injected); release puts back what it found",
    )
    assert function_policy(A) == [anyone, uploads]
    untouched = function_policy(B)
    action.release(found, outcome.attrs)
    assert function_policy(A) == prior
    assert function_policy(B) == untouched


def test_an_undo_that_went_through_though_it_failed_leaves_a_plain_failure(core: Core) -> None:
    """The undo's answer is lost (the call was made): what is read after says nothing is
    left changed, so the attempt is an ordinary FAILED one, retried as usual."""
    action: LambdaPolicyNotPublic = made(core, "lambda-policy-not-public")
    admin(A, "lambda").add_permission(
        FunctionName=FUNCTION, StatementId="Reads", Action="lambda:GetFunction", Principal="*"
    )
    prior = function_policy(A)
    found = finding_for("lambda-policy-not-public", A, "Lambda.1")
    hook = Faults(RemovePermission=lambda n: "InternalError" if n == 2 else None)
    client = core.sessions.client("lambda", A, REGION, finding_key="prime")

    def lost(**_: Any) -> None:
        raise _injected("AddPermission", "RequestTimeout")

    client.meta.events.register("after-call.lambda.AddPermission", lost, unique_id="lost")
    try:
        with faults(core, action, A, hook):
            outcome = action.run(found, {}, resume=False)
    finally:
        client.meta.events.unregister("after-call.lambda.AddPermission", unique_id="lost")
    assert (outcome.state, outcome.reason, outcome.attrs) == (
        State.FAILED,
        f"fixing Lambda function {FUNCTION} in {A}: InternalError: injected",
        {},
    )
    assert function_policy(A) == prior


def test_a_release_whose_undo_fails_says_what_to_put_back_by_hand(core: Core) -> None:
    """Release is several calls too: one failing after the first, whose undo fails, is a
    FAILED release naming what it was to restore, not an exception nobody catches."""
    action: LambdaPolicyNotPublic = made(core, "lambda-policy-not-public")
    admin(A, "lambda").add_permission(
        FunctionName=FUNCTION, StatementId="Reads", Action="lambda:GetFunction", Principal="*"
    )
    found = finding_for("lambda-policy-not-public", A, "Lambda.1")
    outcome = action.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    hook = Faults(
        AddPermission=lambda n: "InternalError" if n == 2 else None,
        RemovePermission=lambda n: "ThrottlingException",
    )
    with faults(core, action, A, hook), pytest.raises(ActionFailed) as failed:
        action.release(found, outcome.attrs)
    label = f"Lambda function {FUNCTION} in {A}"
    reads, anyone = outcome.attrs["before"]["public"]
    assert (failed.value.state, failed.value.reason) == (
        State.FAILED,
        f"{label}: restoring public [{reads}, {anyone}], others [Uploads] went part-way: the "
        f"rest failed (restoring {label}: InternalError: injected) and undoing what was done "
        f"failed too (restoring {label}: ThrottlingException: injected); put back by hand "
        "what is missing",
    )
    assert [s["Sid"] for s in function_policy(A)] == ["Reads", "Uploads"]


def test_iam_fix_whose_undo_fails_is_recorded_as_a_partial_fix_release_restores(
    core: Core,
) -> None:
    action: IamStaleAccessKeys = made(core, "iam-stale-access-keys")
    # In B both keys are older than 90 days: IAM.3 deactivates both, in one call each.
    prior, untouched = user_keys(B), user_keys(A)
    first, second = sorted(prior)
    found = finding_for("iam-stale-access-keys", B, "IAM.3")
    # The second deactivation fails, and so does the reactivation after it.
    hook = Faults(UpdateAccessKey=lambda n: {2: "InternalError", 3: "ThrottlingException"}.get(n))
    with faults(core, action, B, hook):
        outcome = action.run(found, {}, resume=False)
    assert hook.made.count("UpdateAccessKey") == 3
    order = [k for k in prior if k in (first, second)]
    done, failed = order[0], order[1]
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.reason.startswith(
        f"partly fixed IAM.3: IAM user build-bot in {B} now has {done} Inactive, "
        f"{failed} Active (before: {done} Active, {failed} Active); the rest failed ("
    )
    assert outcome.reason.endswith("; release puts back what it found")
    assert outcome.attrs["before"] == prior
    assert outcome.attrs["after"] == {done: "Inactive", failed: "Active"}
    assert user_keys(B) == {done: "Inactive", failed: "Active"}
    action.release(found, outcome.attrs)
    assert user_keys(B) == prior
    assert user_keys(A) == untouched
    assert MADE[("old-key", B)] in prior


# -- only Security Hub names a control -----------------------------------------------------


@pytest.mark.parametrize("product", ["config", "inspector", "guardduty"])
def test_another_aws_product_claiming_a_control_names_none(product: str) -> None:
    event = asff_event(A, "IAM.3", "AwsIamUser", f"arn:aws:iam::{A}:user/build-bot")
    item = event["detail"]["findings"][0]
    item["Compliance"]["SecurityControlParameters"] = [{"Name": "maxAccessKeyAge", "Value": ["1"]}]
    genuine = copy.deepcopy(event)
    item["ProductArn"] = f"arn:aws:securityhub:{REGION}::product/aws/{product}"
    [found] = normalise(event)
    assert "control_id" not in found.parameters
    assert "control_parameters" not in found.parameters
    # The same finding from Security Hub itself names it.
    [real] = normalise(genuine)
    assert real.parameters["control_id"] == "IAM.3"
    assert real.parameters["control_parameters"] == {"maxAccessKeyAge": ["1"]}


@pytest.mark.parametrize("product", ["config", "inspector"])
def test_another_aws_products_ocsf_finding_claiming_a_control_names_none(product: str) -> None:
    event = ocsf_event(A, "IAM.3", "AWS::IAM::User", f"arn:aws:iam::{A}:user/build-bot")
    genuine = copy.deepcopy(event)
    metadata = event["detail"]["findings"][0]["metadata"]
    metadata["product"]["uid"] = f"arn:aws:securityhub:{REGION}::productv2/aws/{product}"
    [found] = normalise(event)
    assert "control_id" not in found.parameters
    [real] = normalise(genuine)
    assert real.parameters["control_id"] == "IAM.3"


# -- Lambda.1: what is public ----------------------------------------------------------------


def _allow(principal: Any, condition: Any = None) -> dict[str, Any]:
    statement = {"Sid": "S", "Effect": "Allow", "Principal": principal, "Action": "lambda:*"}
    return statement if condition is None else {**statement, "Condition": condition}


@pytest.mark.parametrize(
    "statement,expected",
    [
        # Null false asks only that the key be there: any account's bucket has one.
        (_allow("*", {"Null": {"AWS:SourceAccount": "false"}}), True),
        # ForAllValues with the key absent is true: an anonymous caller passes.
        (_allow("*", {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}), True),
        (_allow("*", {"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}), False),
        # A bucket pinned to an account is not public; another service is not read as open.
        (
            _allow({"Service": "s3.amazonaws.com"}, {"StringEquals": {"AWS:SourceAccount": A}}),
            False,
        ),
        (_allow({"Service": "sns.amazonaws.com"}), False),
    ],
)
def test_public_as_aws_config_reads_it(statement: dict[str, Any], expected: bool) -> None:
    assert public(statement) is expected


def test_a_bucket_of_any_account_may_invoke_it_removed_and_added_back_exactly(
    core: Core,
) -> None:
    action: LambdaPolicyNotPublic = made(core, "lambda-policy-not-public")
    lam = admin(A, "lambda")
    lam.remove_permission(FunctionName=FUNCTION, StatementId="Anyone")
    lam.add_permission(
        FunctionName=FUNCTION,
        StatementId="AnyBucket",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    prior = function_policy(A)
    [any_bucket] = [s for s in prior if s["Sid"] == "AnyBucket"]
    [uploads] = [s for s in prior if s["Sid"] == "Uploads"]
    found = finding_for("lambda-policy-not-public", A, "Lambda.1")
    outcome = action.run(found, {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert outcome.attrs["before"] == {"public": [any_bucket], "others": ["Uploads"]}
    assert function_policy(A) == [uploads]
    action.release(found, outcome.attrs)
    assert function_policy(A) == prior


def test_a_null_condition_is_not_taken_for_a_confined_caller(core: Core) -> None:
    """Before, the statement read as not public: "already compliant", which it is not. It has
    a condition AddPermission cannot make again, so remedy names it and changes nothing."""
    action: LambdaPolicyNotPublic = made(core, "lambda-policy-not-public")
    lam = admin(A, "lambda")
    lam.remove_permission(FunctionName=FUNCTION, StatementId="Anyone")
    statement = {
        "Sid": "AnyOwner",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:{REGION}:{A}:function:{FUNCTION}",
        "Condition": {"Null": {"AWS:SourceAccount": "false"}},
    }
    assert json.loads(json.dumps(statement)) == statement
    assert public(statement)
    # moto's AddPermission writes no Null condition, so the read is checked directly.
    setting = {"public": [statement], "others": ["Uploads"]}
    prior = function_policy(A)
    with pytest.raises(Refused) as refused:
        action.fixed(FUNCTION, setting, {})
    assert str(refused.value) == (
        "lambda:AddPermission could not put back exactly statement AnyOwner, so remedy "
        "removes nothing; remove by hand what should go"
    )
    assert function_policy(A) == prior
