"""Every control remediation on moto across two member accounts, through the same tests.

For each case in `control_cases` (one per remediation), from findings read by the real
normalisers in both Security Hub formats: the fix in one account leaves the other alone;
a rerun finds it compliant; release restores the prior setting exactly, and a second
release says so; release refuses, naming what changed, when someone changed the setting
since; a fault at each call of the fix (and of the release) leaves the setting as it was,
and the redelivery then completes with the same prior setting; each refused call is named
by the IAM permission it needs, that permission is declared, and every declared one is used.
"""

from __future__ import annotations

import pytest

from control_calls import watching
from control_cases import CASES, Case
from control_events import FORMATS, asff_event, control_finding
from fixtures_guard import MEMBERS, Core, running_core
from remedy.actions.controls.base import ControlRemediation
from remedy.actions.outcome import Outcome
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS
BY_NAME = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def finding_for(case: Case, account: str, fmt: str = "asff", key: str = "f1") -> Finding:
    asff, ocsf = case.resources(account)
    return control_finding(fmt, account, case.control, asff=asff, ocsf=ocsf, key=key)


def make(core: Core, case: Case) -> ControlRemediation:
    for account in MEMBERS:
        case.setup(account)
    core.prime(*MEMBERS)
    return case.action(core.sessions, core.settings)


@BY_NAME
@pytest.mark.parametrize("fmt", FORMATS)
def test_fix_rerun_release(core: Core, case: Case, fmt: str) -> None:
    action = make(core, case)
    prior_a, prior_b = case.observe(A), case.observe(B)
    found = finding_for(case, A, fmt)
    with watching(core, action, A) as calls_a, watching(core, action, B) as calls_b:
        outcome = action.run(found, case.options, resume=False)
        assert outcome.state is State.QUARANTINED, outcome.reason
        assert outcome.reason.startswith(f"fixed {case.control}")
        fixed = case.observe(A)
        assert fixed != prior_a
        assert case.observe(B) == prior_b  # the other account untouched

        again = action.run(found, case.options, resume=False)
        assert again.state is State.GONE
        assert again.reason.startswith("already compliant: ")
        resumed = action.run(found, case.options, resume=True)
        assert resumed.reason.endswith(
            "(an earlier attempt may have fixed it; the setting before it was not recorded)"
        )
        assert case.observe(A) == fixed

        undo = action.release(found, outcome.attrs)
        assert undo.reason.startswith("restored ")
        assert case.observe(A) == prior_a
        assert action.release(found, outcome.attrs).reason.startswith("already restored: ")
        assert case.observe(B) == prior_b

        # B's own fix records B's prior setting, and its release puts back exactly that.
        other = action.run(finding_for(case, B, fmt), case.options, resume=False)
        assert other.state is State.QUARANTINED, other.reason
        action.release(finding_for(case, B, fmt), other.attrs)
        assert (case.observe(A), case.observe(B)) == (prior_a, prior_b)
    # Each account starts from another prior where the API allows (one with a setting, one
    # without), so between them every declared permission is used, and nothing else.
    used = {_iam_name(action, op) for op in calls_a.made + calls_b.made}
    if calls_a.tagged or calls_b.tagged:
        used.add("ec2:CreateTags")
    assert used == case.permissions


@BY_NAME
def test_release_refused_when_changed_since(core: Core, case: Case) -> None:
    action = make(core, case)
    found = finding_for(case, A)
    outcome = action.run(found, case.options, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    case.drift(A)
    drifted = case.observe(A)
    if not case.drift_refused:
        # One switch, switched back by someone: nothing left to restore, nothing written.
        with watching(core, action, A) as calls:
            undo = action.release(found, outcome.attrs)
        assert undo.reason.startswith("already restored: ")
        assert len(calls.made) == len(dict.fromkeys(calls.made)) or calls.made
        assert case.observe(A) == drifted
        return
    with pytest.raises(ActionFailed) as refused:
        action.release(found, outcome.attrs)
    assert refused.value.state is State.CHANGED
    assert " changed since remedy fixed it (" in refused.value.reason
    assert refused.value.reason.endswith("); nothing restored, to keep that change")
    assert " as remedy left it, now " in refused.value.reason
    assert case.observe(A) == drifted


def fix_and_release(
    action: ControlRemediation, case: Case, found: Finding, made: list[str]
) -> tuple[Outcome, list[str], list[str]]:
    """Fix and release once: the fix's outcome, the calls of each."""
    outcome = action.run(found, case.options, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    fix_ops = list(made)
    action.release(found, outcome.attrs)
    return outcome, fix_ops, made[len(fix_ops) :]


@BY_NAME
def test_fault_at_each_call_then_redelivery(core: Core, case: Case) -> None:
    action = make(core, case)
    prior = case.observe(A)
    found = finding_for(case, A)
    with watching(core, action, A) as calls:
        first, fix_ops, release_ops = fix_and_release(action, case, found, calls.made)
        fix_calls, release_calls = len(fix_ops), len(release_ops)
        assert case.observe(A) == prior
        for at in range(fix_calls):
            calls.made.clear()
            calls.fail_at = at
            failed = action.run(found, case.options, resume=False)
            assert failed.state is State.FAILED, (at, failed.reason)
            assert "InternalError: injected" in failed.reason
            assert case.observe(A) == prior, at
            calls.fail_at = None
            redelivered = action.run(found, case.options, resume=True)
            assert redelivered.state is State.QUARANTINED, (at, redelivered.reason)
            assert redelivered.attrs == first.attrs
            fixed = case.observe(A)
            for release_at in range(release_calls):
                calls.made.clear()
                calls.fail_at = release_at
                with pytest.raises(ActionFailed) as error:
                    action.release(found, redelivered.attrs)
                assert error.value.state is State.FAILED
                assert case.observe(A) == fixed
            calls.fail_at = None
            action.release(found, redelivered.attrs)
            assert case.observe(A) == prior


def _iam_name(action: ControlRemediation, operation: str) -> str:
    return action.iam_names.get(operation, f"{action.iam_service or action.service}:{operation}")


@BY_NAME
def test_each_refused_call_names_its_declared_permission(core: Core, case: Case) -> None:
    action = make(core, case)
    prior = case.observe(A)
    found = finding_for(case, A)
    with watching(core, action, A) as calls:
        outcome, fix_ops, release_ops = fix_and_release(action, case, found, calls.made)
        calls.code = "AccessDenied"
        for operation in dict.fromkeys(fix_ops):
            calls.fail_op = operation
            denied = action.run(found, case.options, resume=False)
            assert (denied.state, denied.reason) == (
                State.DENIED,
                f"fixing {denied.reason.removeprefix('fixing ').split(': ')[0]}: the remediation "
                f"role in {A} may not call {_iam_name(action, operation)}; update the member "
                "stack so its role grants what the remediation actions declare",
            )
            assert case.observe(A) == prior
        calls.fail_op = None
        outcome = action.run(found, case.options, resume=False)
        fixed = case.observe(A)
        for operation in dict.fromkeys(release_ops):
            calls.fail_op = operation
            with pytest.raises(ActionFailed) as error:
                action.release(found, outcome.attrs)
            assert error.value.state is State.DENIED
            assert f"may not call {_iam_name(action, operation)};" in error.value.reason
            assert case.observe(A) == fixed
    used = {_iam_name(action, op) for op in fix_ops + release_ops}
    assert used <= action.permissions, sorted(used - action.permissions)


# Account-level controls act on the finding's account itself; S3 bucket ARNs carry no
# account (every S3 call pins ExpectedBucketOwner instead, checked by `s3_owner`).
FOREIGN = [c for c in CASES if not c.action.account_level and c.action.arn[0] != "s3"]


@pytest.mark.parametrize("case", FOREIGN, ids=[c.name for c in FOREIGN])
def test_finding_naming_another_accounts_resource_changes_nothing(core: Core, case: Case) -> None:
    action = make(core, case)
    prior_a, prior_b = case.observe(A), case.observe(B)
    # A finding in A whose resource ARN is B's resource.
    asff, _ = case.resources(B)
    [found] = normalise(asff_event(A, case.control, *asff))
    outcome = action.run(found, case.options, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"the finding in {A} names a {action.noun} of account {B}; remedy acts only in the "
        "finding's own account; nothing changed",
    )
    assert (case.observe(A), case.observe(B)) == (prior_a, prior_b)
