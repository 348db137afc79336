"""The declared permissions under moto's IAM enforcement: the member role granted exactly
what a control remediation declares fixes and releases; granted all but one of the
permissions its calls in that account need, the call needing it is refused by moto's
policy evaluation and the outcome (or the refused release) names that permission, and
nothing is changed.

Every remediation but the S3 account-level one and the Lambda one: moto refuses S3 Control
requests from an assumed role whatever its policy grants (the request is answered with an
empty error), and answers every Lambda request under enforcement with
``SignatureDoesNotMatch``, so those two's refusals are injected per operation in
`test_action_controls.py` only.
"""

from __future__ import annotations

import json

import pytest

from control_calls import watching
from control_cases import CASES, Case
from control_events import control_finding
from fixtures_guard import MEMBERS, ROLE, Core, admin, enforced, install_role, running_core
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State

_core = pytest.fixture(name="core")(running_core)
A = MEMBERS[0]

ENFORCED = [c for c in CASES if c.action.service not in ("s3control", "lambda")]
#: JSON-protocol services, whose refusals moto answers in the XML of the query protocol:
#: botocore then reads the code as ``403``, so the outcome is FAILED (with moto's message
#: naming the permission) where AWS's ``AccessDeniedException`` gives DENIED, as the
#: injected refusals of `test_action_controls.py` show.
XML_DENIALS = frozenset({"kms", "cloudtrail", "sqs", "dynamodb", "ecr", "ssm"})


def grant(permissions: frozenset[str]) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(permissions), "Resource": "*"}],
    }
    admin(A, "iam").put_role_policy(
        RoleName=ROLE, PolicyName="remediation", PolicyDocument=json.dumps(policy)
    )


@pytest.mark.parametrize("case", ENFORCED, ids=[c.name for c in ENFORCED])
def test_exact_grant_suffices_and_each_missing_permission_is_named(core: Core, case: Case) -> None:
    case.setup(A)
    prior = case.observe(A)
    asff, ocsf = case.resources(A)
    found = control_finding("asff", A, case.control, asff=asff, ocsf=ocsf)
    action = case.action(core.sessions, core.settings)
    install_role(A, case.action.permissions)
    core.prime(A)
    # The admin reading the setting back is not enforced (its role is moto's fiction).
    with watching(core, action, A) as calls:
        with enforced():
            outcome = action.run(found, case.options, resume=False)
        assert outcome.state is State.QUARANTINED, outcome.reason
        fixed = case.observe(A)
        with enforced():
            action.release(found, outcome.attrs)
        assert case.observe(A) == prior
    needed = {
        action.iam_names.get(op, f"{action.iam_service or action.service}:{op}")
        for op in calls.made
    }
    for missing in sorted(needed):
        grant(case.action.permissions - {missing})
        with enforced():
            denied = action.run(found, case.options, resume=False)
        if denied.state is State.QUARANTINED:
            # Not needed to fix: needed to release.
            assert case.observe(A) == fixed
            with enforced(), pytest.raises(ActionFailed) as refused:
                action.release(found, denied.attrs)
            reason, state = refused.value.reason, refused.value.state
            assert case.observe(A) == fixed
            grant(case.action.permissions)
            with enforced():
                action.release(found, denied.attrs)
        else:
            reason, state = denied.reason, denied.state
        if case.action.service in XML_DENIALS:
            # moto refused the call, but in a shape this client cannot read as AccessDenied.
            assert (state, f"not authorized to perform: {missing}<" in reason) == (
                State.FAILED,
                True,
            ), reason
        else:
            assert state is State.DENIED, (missing, reason)
            assert f"may not call {missing};" in reason
        assert case.observe(A) == prior
