"""The safety rails as the policy sets them: ``rails:`` in remediation.yaml, and the
rail keys of each rule (``mode``, ``managed``, ``breaker_limit``) and of accounts.yaml
(``mode``). `remedy.rails` applies them; docs/safety-rails.md says why each default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from remedy.model import Mode
from remedy.policy.freeze import Freeze, build_freeze, check_freeze
from remedy.policy.match import match_tests
from remedy.policy.rules import DEFAULT_DEADLINE_HOURS
from remedy.policy_files.schema import problem

#: Automatic remediations per window for one rule in one account, for one account, in all.
DEFAULT_PER_RULE = 20
DEFAULT_PER_ACCOUNT = 50
DEFAULT_OVERALL = 200
DEFAULT_WINDOW_MINUTES = 60
#: 0: an open breaker stays open until a person closes it.
DEFAULT_COOLDOWN_MINUTES = 0
#: The tag that marks a resource CloudFormation manages (CDK and SAM deploy through it).
STACK_ID_TAG = "aws:cloudformation:stack-id"


class Managed(StrEnum):
    """What a rule does with a resource managed as code."""

    APPROVE = "approve"
    NOTIFY = "notify"
    ACT = "act"


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    per_rule: int = DEFAULT_PER_RULE
    per_account: int = DEFAULT_PER_ACCOUNT
    overall: int = DEFAULT_OVERALL
    window: timedelta = timedelta(minutes=DEFAULT_WINDOW_MINUTES)
    #: None: until a person closes it.
    cooldown: timedelta | None = None
    #: Rule id -> its own per-rule limit (``breaker_limit``).
    rules: Mapping[str, int] = field(default_factory=dict)

    def for_rule(self, rule: str) -> int:
        return self.rules.get(rule, self.per_rule)


@dataclass(frozen=True, slots=True)
class RuleRails:
    mode: Mode = Mode.ACT
    managed: Managed = Managed.APPROVE


@dataclass(frozen=True, slots=True)
class RailsPolicy:
    breaker: BreakerLimits = field(default_factory=BreakerLimits)
    freezes: tuple[Freeze, ...] = ()
    #: Tag keys that mark a resource managed as code, besides CloudFormation's.
    managed_tags: tuple[str, ...] = ()
    rules: Mapping[str, RuleRails] = field(default_factory=dict)
    #: How long a held approval waits before it is announced again (the policy's default).
    deadline_hours: float = DEFAULT_DEADLINE_HOURS

    def rule(self, rule_id: str) -> RuleRails:
        return self.rules.get(rule_id, _ACT)


_ACT = RuleRails()


def build(document: Mapping[str, Any]) -> RailsPolicy:
    """The rails of a remediation.yaml document that passed the schema and `check`."""
    rails = document.get("rails", {})
    spec = rails.get("breaker", {})
    cooldown = int(spec.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES))
    breaker = BreakerLimits(
        per_rule=int(spec.get("per_rule", DEFAULT_PER_RULE)),
        per_account=int(spec.get("per_account", DEFAULT_PER_ACCOUNT)),
        overall=int(spec.get("overall", DEFAULT_OVERALL)),
        window=timedelta(minutes=int(spec.get("window_minutes", DEFAULT_WINDOW_MINUTES))),
        cooldown=timedelta(minutes=cooldown) if cooldown else None,
        rules={r["id"]: int(r["breaker_limit"]) for r in document["rules"] if "breaker_limit" in r},
    )
    return RailsPolicy(
        breaker=breaker,
        freezes=tuple(
            build_freeze(w, match_tests(w.get("where", {}))) for w in rails.get("freezes", ())
        ),
        managed_tags=tuple(rails.get("managed", {}).get("tags", ())),
        rules={
            r["id"]: RuleRails(Mode(r.get("mode", "act")), Managed(r.get("managed", "approve")))
            for r in document["rules"]
            if "mode" in r or "managed" in r
        },
        deadline_hours=float(
            document.get("defaults", {}).get("approval_deadline_hours", DEFAULT_DEADLINE_HOURS)
        ),
    )


def check(document: Mapping[str, Any], file: str) -> list[str]:
    """What the schema cannot say about the rails of a schema-valid document."""
    problems: list[str] = []
    names: dict[str, int] = {}
    for i, window in enumerate(document.get("rails", {}).get("freezes", ())):
        path: list[str | int] = ["rails", "freezes", i]
        if window["name"] in names:
            problems.append(
                problem(
                    file,
                    [*path, "name"],
                    f"{window['name']!r} is already the name of "
                    f"rails.freezes[{names[window['name']]}]",
                )
            )
        names.setdefault(window["name"], i)
        problems += check_freeze(window, file, path)
    for i, rule in enumerate(document["rules"]):
        for key in ("mode", "managed", "breaker_limit"):
            if key in rule and rule["action"] not in ("quarantine", "approve"):
                problems.append(
                    problem(
                        file,
                        ["rules", i, key],
                        f"only a quarantine or approve rule takes {key} "
                        f"(this rule's action is {rule['action']})",
                    )
                )
    return problems
