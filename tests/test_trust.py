"""Principle 2: only the finding's own account or a trusted aggregator may deliver it."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_support import SHIPPED, cloudtrail, finding, policy_dir, securityhub
from remedy.model import Action, Finding, Severity
from remedy.policy import Policy, decide, load_policy
from remedy.policy.trust import UNTRUSTED, check


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy()


def test_own_account_is_trusted(shipped: Policy) -> None:
    assert check(finding(), shipped.aggregators) is None
    assert decide(finding(), shipped).action is Action.QUARANTINE


def test_aggregator_may_deliver_for_members(shipped: Policy) -> None:
    item = securityhub(account="222222222222", envelope_account="999999999999")
    assert check(item, shipped.aggregators) is None
    assert decide(item, shipped).rule == "notify-securityhub-high"


def test_forged_cross_account_event_is_rejected_naming_both_accounts(shipped: Policy) -> None:
    forged = finding(account="111111111111", envelope_account="333333333333")
    decision = decide(forged, shipped)
    assert decision.action is Action.REJECT
    assert decision.rule == UNTRUSTED
    assert decision.reason == (
        "envelope account 333333333333 is neither the finding's account 111111111111 "
        "nor a trusted aggregator: possible spoofing, nothing done"
    )
    assert decision.remediation is None


@pytest.mark.parametrize(
    "forged",
    [
        cloudtrail(error_code="AccessDenied", envelope_account="333333333333"),
        securityhub(severity=Severity.INFORMATIONAL, envelope_account="333333333333"),
        securityhub(record_state="ARCHIVED", envelope_account="333333333333"),
        securityhub(workflow_status="RESOLVED", envelope_account="333333333333"),
    ],
)
def test_rejection_comes_before_every_guard(shipped: Policy, forged: Finding) -> None:
    # A spoofing attempt is reported even when the finding itself would be ignored.
    assert decide(forged, shipped).action is Action.REJECT


def test_missing_envelope_account_is_rejected(shipped: Policy) -> None:
    decision = decide(finding(envelope_account=""), shipped)
    assert decision.action is Action.REJECT
    assert "envelope account (none)" in decision.reason


def test_added_aggregators_extend_those_of_accounts_yaml(shipped: Policy) -> None:
    item = finding(envelope_account="333333333333")
    widened = shipped.with_aggregators(["333333333333"])
    assert decide(item, widened).action is Action.QUARANTINE
    assert widened.aggregators == shipped.aggregators | {"333333333333"}
    # The loaded policy itself is unchanged.
    assert decide(item, shipped).action is Action.REJECT


def test_without_aggregators_only_own_account_is_trusted(tmp_path: Path) -> None:
    text = (SHIPPED / "accounts.yaml").read_text(encoding="utf-8")
    start = text.index("aggregators:")
    end = text.index("# Used for accounts not listed")
    policy = load_policy(policy_dir(tmp_path, accounts=text[:start] + text[end:]))
    assert policy.aggregators == frozenset()
    item = securityhub(account="222222222222", envelope_account="999999999999")
    assert decide(item, policy).action is Action.REJECT
