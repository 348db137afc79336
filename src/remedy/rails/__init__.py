"""The safety rails: limits a security team sets on what remedy does by itself.

Applied by the pipeline between the policy's decision and the ledger (docs/safety-rails.md):

- `review` (each finding): a dry run (``mode: dry-run`` on the rule, or on the account or
  its unit in accounts.yaml) is recorded with its plan and not carried out; else an
  automatic remediation in a change freeze, or one that would change the configuration
  of a resource managed as code, waits for approval (``Mode.HOLD``) or, with
  ``managed: notify``, only tells people.
- `admit` (each new ledger entry that would act by itself): the circuit breaker counts
  it, or holds it for approval when a limit is reached or a breaker is open.

"Automatic" is a quarantine decision, or an approve decision whose remediation contains
first. A held decision keeps its remediation and options: approving it carries them out.
Nothing is dropped: every rail turns acting into asking, telling or recording.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from remedy.model import Action, ApprovalDeadline, Decision, Finding, Mode, ResourceKind
from remedy.notify.base import no_count
from remedy.policy import Policy
from remedy.policy.rails import Managed
from remedy.policy.rules import DEFAULT_DEADLINE_HOURS
from remedy.rails import managed
from remedy.rails.breaker import Breaker, Opening

log = logging.getLogger(__name__)

#: Counted once per breaker opened; the core template's BreakerOpenAlarm watches it.
BREAKER_OPEN_METRIC = "BreakerOpen"
#: Counted for each automatic remediation a rail held for approval, by rail.
HELD_METRIC = "HeldByRail"
#: The remediation that moves objects: not a configuration change (the managed rail).
OBJECT_KINDS = frozenset({ResourceKind.S3_OBJECT})


def _no_alert(opening: Opening, finding: Finding) -> None:
    return None


def hold(decision: Decision, why: str, hours: float = DEFAULT_DEADLINE_HOURS) -> Decision:
    """`decision` turned into an approval that asks first, saying why (an approve rule's
    deadline kept, else `hours`)."""
    hours = decision.deadline.hours if decision.deadline else hours
    return replace(
        decision,
        action=Action.APPROVE,
        reason=f"{decision.reason}; waits for approval: {why}",
        # Held by a rail: the deadline only reminds, it never acts in the person's place.
        deadline=ApprovalDeadline(hours),
        mode=Mode.HOLD,
    )


@dataclass
class Rails:
    """`dynamodb` and `table`: the ledger table the breaker counts in (None: no breaker);
    `clients(service, account, region, finding key)`: member-account clients to read tags
    with (None: the managed rail cannot read them, and holds)."""

    dynamodb: Any = None
    table: str = ""
    clients: managed.Clients | None = None
    alert: Callable[[Opening, Finding], None] = _no_alert
    count: Callable[[str], None] = no_count
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _breaker: Breaker | None = field(default=None, init=False, repr=False)

    def review(
        self, finding: Finding, decision: Decision, policy: Policy, actions: Mapping[str, Any]
    ) -> Decision:
        if decision.remediation is None or decision.action not in (
            Action.QUARANTINE,
            Action.APPROVE,
        ):
            return decision
        rule = policy.rails.rule(decision.rule)
        account = policy.accounts.get(finding.account)
        if rule.mode is Mode.DRY_RUN or account.mode is Mode.DRY_RUN:
            where = (
                f"rule {decision.rule}"
                if rule.mode is Mode.DRY_RUN
                else f"account {finding.account}"
            )
            return replace(
                decision,
                reason=f"{decision.reason}; dry run ({where}): recorded what would be done, "
                "nothing done",
                mode=Mode.DRY_RUN,
            )
        action = actions.get(decision.remediation)
        if not automatic(decision, action):
            return decision
        now = self.clock()
        for window in policy.rails.freezes:
            why = window.applies(finding, account, now)
            if why is not None:
                self.count(f"{HELD_METRIC}Freeze")
                return hold(decision, why, policy.rails.deadline_hours)
        kinds = frozenset(map(ResourceKind, action.resource_kinds)) if action else frozenset()
        if rule.managed is Managed.ACT or (kinds and kinds <= OBJECT_KINDS):
            return decision
        return self._managed(finding, decision, kinds, rule.managed, policy)

    def _managed(
        self,
        finding: Finding,
        decision: Decision,
        kinds: frozenset[ResourceKind],
        choice: Managed,
        policy: Policy,
    ) -> Decision:
        if self.clients is None:
            return decision
        hours = policy.rails.deadline_hours
        try:
            owner = managed.owner(self.clients, finding, kinds, policy.rails.managed_tags)
        except managed.TagsUnreadable as exc:
            self.count(f"{HELD_METRIC}Managed")
            return hold(decision, f"{exc}, so whether it is managed as code is unknown", hours)
        if owner is None:
            return decision
        self.count(f"{HELD_METRIC}Managed")
        if choice is Managed.NOTIFY:
            return Decision(
                Action.NOTIFY, decision.rule, f"{decision.reason}; {owner.note()}", mode=Mode.HOLD
            )
        return hold(decision, owner.note(), hours)

    def admit(
        self,
        finding: Finding,
        decision: Decision,
        key: str,
        policy: Policy,
        actions: Mapping[str, Any],
    ) -> Decision:
        """Count a new entry `key` that would act by itself, or hold it (the breaker)."""
        if (
            self.dynamodb is None
            or decision.mode is not Mode.ACT
            or not automatic(decision, actions.get(decision.remediation or ""))
        ):
            return decision
        breaker = self._breaker
        if breaker is None or breaker.limits is not policy.rails.breaker:
            # One per process (it remembers the breaker item), again if the policy changed.
            breaker = self._breaker = Breaker(
                self.dynamodb,
                self.table,
                policy.rails.breaker,
                clock=lambda: self.clock().timestamp(),
            )
        verdict = breaker.admit(decision.rule, finding.account, key)
        if verdict.refused is None:
            return decision
        self.count(f"{HELD_METRIC}Breaker")
        if verdict.opened is not None:
            self.count(BREAKER_OPEN_METRIC)
            try:
                self.alert(verdict.opened, finding)
            except Exception:
                # The breaker is open either way; the metric's alarm still fires.
                log.exception("breaker %s opened but the alert failed", verdict.scope)
                self.count("BreakerAlertFailed")
        return hold(decision, verdict.refused, policy.rails.deadline_hours)


def automatic(decision: Decision, action: Any) -> bool:
    """The decision would change something before a person said yes. `action` is a
    registered action, or its class (`remedy explain` has no AWS to build one with)."""
    if decision.action is Action.QUARANTINE:
        return True
    return decision.action is Action.APPROVE and bool(getattr(action, "contain_first", False))


def preview(
    finding: Finding,
    decision: Decision,
    policy: Policy,
    remediations: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """What the rails would do with `decision` at `at`, without AWS (`remedy explain`):
    the decision they turn it into, the freezes on and why, whether the tags would be read
    and the breaker limits it would count against."""
    reviewed = Rails(clock=lambda: at).review(finding, decision, policy, remediations)
    # No time in the output: explaining stays stable to diff while no freeze is on.
    out: dict[str, Any] = {"mode": reviewed.mode.value}
    if reviewed != decision:
        out["decision"] = reviewed.to_dict()
    account = policy.accounts.get(finding.account)
    freezes = [why for w in policy.rails.freezes if (why := w.applies(finding, account, at))]
    if freezes:
        out["freezes"] = freezes
    action = remediations.get(decision.remediation or "")
    if reviewed.mode is Mode.ACT and automatic(decision, action):
        limits = policy.rails.breaker
        out["breaker"] = (
            f"counted: at most {limits.for_rule(decision.rule)} by rule {decision.rule} in "
            f"{finding.account}, {limits.per_account} in the account and {limits.overall} in "
            f"all per {round(limits.window.total_seconds() / 60)} minutes; past that it waits "
            "for approval"
        )
        kinds = frozenset(map(ResourceKind, getattr(action, "resource_kinds", ())))
        managed_choice = policy.rails.rule(decision.rule).managed
        if managed_choice is not Managed.ACT and not (kinds and kinds <= OBJECT_KINDS):
            out["managed"] = (
                f"{managed_choice.value}: at run time the resource's tags are read (one call); "
                "if a stack or a managed-by tag owns it, "
                + (
                    "people are told instead"
                    if managed_choice is Managed.NOTIFY
                    else "it waits for approval"
                )
            )
    return out
