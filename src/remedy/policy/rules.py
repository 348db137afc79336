"""The compiled rule set of ``remediation.yaml``: ordered rules, the first match wins.

Everything that can be prepared is prepared at load: globs become one compiled regular
expression per match key, lists become frozensets, each rule becomes a tuple of small
tests (cheap set lookups before patterns, patterns before scanning resources), and rules
that name sources are filed under those sources. Deciding a finding is then a few
attribute reads per rule; ``bench/decide.py`` holds normalise + decide to at most 1.2
times the cost of ``json.loads`` of the event.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from remedy.model import (
    Action,
    ApprovalDeadline,
    Decision,
    Finding,
    OnTimeout,
    ResourceKind,
    Severity,
    Source,
)
from remedy.normalise.products import is_custom
from remedy.policy.accounts import AccountInfo
from remedy.policy_files.schema import problem, problems_of


class Remediation(Protocol):
    """What the policy needs to know of a remediation; `remedy.actions.registry` fills
    these in (each registered action class is one), the policy only reads them."""

    @property
    def schema(self) -> Mapping[str, Any]:
        """JSON Schema of the ``options`` a rule may pass."""

    @property
    def resource_kinds(self) -> frozenset[str]:
        """`ResourceKind` values the remediation acts on; empty: any."""


#: The registered remediations by name (``remedy.actions.registry.actions()``).
Remediations = Mapping[str, Remediation]

#: The remediation a quarantine or approve rule gets when it names none.
DEFAULT_REMEDIATION = "s3-quarantine"
#: How long an approval waits before it is announced again, unless the policy says.
DEFAULT_DEADLINE_HOURS = 24.0
#: Keys only an approve rule takes.
APPROVAL_KEYS = ("approval_deadline_hours", "on_timeout")
NO_MATCH = "builtin:no-match"

Test = Callable[[Finding, AccountInfo], bool]
_S3_KINDS = (ResourceKind.S3_OBJECT, ResourceKind.S3_BUCKET)
# Enum .name is a descriptor call; reasons are built for every finding.
_SEVERITY_NAMES = tuple(s.name for s in Severity)


def compile_globs(patterns: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str]:
    """One regular expression matching any of the shell-style `patterns` in full."""
    return re.compile(
        "|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE if ignore_case else 0
    )


def subject(finding: Finding, account: AccountInfo) -> str:
    """What a finding is about, for a reason a person reads."""
    out = (
        f"{finding.product} {finding.type} at {_SEVERITY_NAMES[finding.severity]} "
        f"in {finding.account} ({account.name})"
    )
    first = None
    more = 0
    for resource in finding.resources:
        if resource.kind is ResourceKind.S3_OBJECT:
            if first is None:
                first = resource
            else:
                more += 1
    if first is not None:
        out += f" on s3://{first.bucket}/{first.key}"
        if more:
            out += f" and {more} more"
    return out


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    action: Action
    #: The sources the rule is limited to (None: any); checked by filing, not by a test.
    sources: frozenset[Source] | None
    tests: tuple[Test, ...]
    remediation: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Resource kinds the remediation acts on (from the action registry); empty: any.
    needs: frozenset[ResourceKind] = frozenset()
    #: Approve rules: the deadline and what happens after it.
    deadline: ApprovalDeadline | None = None

    def decision(self, finding: Finding, account: AccountInfo) -> Decision:
        reason = f"rule {self.id}: {subject(finding, account)}"
        if self.needs and not any(r.kind in self.needs for r in finding.resources):
            # Nothing the remediation could act on: tell people rather than fail later.
            kinds = ", ".join(sorted(k.value for k in self.needs))
            return Decision(
                Action.NOTIFY,
                self.id,
                f"{reason}; {self.remediation} acts on {kinds} and the finding names none, "
                "so notify instead",
            )
        return Decision(
            action=self.action,
            rule=self.id,
            reason=reason,
            remediation=self.remediation,
            options=dict(self.options),
            deadline=self.deadline,
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    #: For each source, in order, the rules that may apply to it.
    by_source: Mapping[Source, tuple[Rule, ...]] = field(init=False)

    def __post_init__(self) -> None:
        by_source = {
            source: tuple(r for r in self.rules if r.sources is None or source in r.sources)
            for source in Source
        }
        object.__setattr__(self, "by_source", by_source)

    def decide(self, finding: Finding, account: AccountInfo) -> Decision:
        for rule in self.by_source[finding.source]:
            for test in rule.tests:
                if not test(finding, account):
                    break
            else:
                return rule.decision(finding, account)
        return Decision(Action.IGNORE, NO_MATCH, "no rule matched")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)


# One builder per match key: the compiled test for that key's value.


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


def _custom_product(wanted: bool) -> Test:
    def test(finding: Finding, account: AccountInfo) -> bool:
        return is_custom(finding.product) is wanted

    return test


def _public(wanted: bool) -> Test:
    def test(finding: Finding, account: AccountInfo) -> bool:
        return (finding.public is True) is wanted

    return test


def _control_id(patterns: Sequence[str]) -> Test:
    match = compile_globs(patterns).match

    def test(finding: Finding, account: AccountInfo) -> bool:
        control = finding.parameters.get("control_id")
        return isinstance(control, str) and match(control) is not None

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


def _tests(match: Mapping[str, Any]) -> tuple[Test, ...]:
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
    if "product_arn" in match:
        tests.append(_glob("product_arn", match["product_arn"]))
    if "type" in match:
        tests.append(_glob("type", match["type"]))
    if "control_id" in match:
        tests.append(_control_id(match["control_id"]))
    if "bucket" in match or "key" in match:
        tests.append(_s3(match.get("bucket"), match.get("key")))
    return tuple(tests)


def _remediation(rule: Mapping[str, Any]) -> str | None:
    """The remediation a rule runs: the one it names, else the default; None if it does not."""
    if rule["action"] in (Action.QUARANTINE, Action.APPROVE):
        name: str = rule.get("remediation", DEFAULT_REMEDIATION)
        return name
    return None


def _deadline(rule: Mapping[str, Any], default_hours: float) -> ApprovalDeadline | None:
    if rule["action"] != Action.APPROVE:
        return None
    return ApprovalDeadline(
        float(rule.get("approval_deadline_hours", default_hours)),
        OnTimeout(rule.get("on_timeout", OnTimeout.KEEP_WAITING)),
    )


def compile_rules(document: Mapping[str, Any], remediations: Remediations) -> RuleSet:
    """The rule set of a remediation.yaml document that passed the schema and `check`."""
    default_hours = float(
        document.get("defaults", {}).get("approval_deadline_hours", DEFAULT_DEADLINE_HOURS)
    )
    rules = []
    for rule in document["rules"]:
        remediation = _remediation(rule)
        match = rule["match"]
        rules.append(
            Rule(
                id=rule["id"],
                action=Action(rule["action"]),
                sources=frozenset(map(Source, match["source"])) if "source" in match else None,
                tests=_tests(match),
                remediation=remediation,
                options=rule.get("options", {}),
                needs=(
                    frozenset(map(ResourceKind, remediations[remediation].resource_kinds))
                    if remediation is not None
                    else frozenset()
                ),
                deadline=_deadline(rule, default_hours),
            )
        )
    return RuleSet(tuple(rules))


def check(
    document: Mapping[str, Any],
    file: str,
    environments: Iterable[str] | None,
    remediations: Remediations,
) -> list[str]:
    """What the schema file cannot say about a schema-valid remediation.yaml, as problems.

    Rule ids are unique; each remediation is registered and its options fit the schema
    its action declares (so the registry is the one source of both); environments are
    those accounts.yaml defines (None: accounts.yaml is broken, so they go unchecked).
    """
    problems: list[str] = []
    known_environments = frozenset(environments) if environments is not None else None
    first_at: dict[str, int] = {}
    for i, rule in enumerate(document["rules"]):
        rule_id = rule["id"]
        if rule_id in first_at:
            problems.append(
                problem(
                    file,
                    ["rules", i, "id"],
                    f"{rule_id!r} is already the id of rules[{first_at[rule_id]}]",
                )
            )
        first_at.setdefault(rule_id, i)
        remediation = _remediation(rule)
        if remediation is None:
            for name in ("remediation", "options"):
                if name in rule:
                    problems.append(
                        problem(
                            file,
                            ["rules", i, name],
                            f"only a quarantine or approve rule takes {name} "
                            f"(this rule's action is {rule['action']})",
                        )
                    )
        else:
            problems += _check_remediation(rule, i, remediation, file, remediations)
        if rule["action"] != Action.APPROVE:
            problems += [
                problem(
                    file,
                    ["rules", i, name],
                    f"only an approve rule takes {name} (this rule's action is {rule['action']})",
                )
                for name in APPROVAL_KEYS
                if name in rule
            ]
        for j, environment in enumerate(rule["match"].get("environment", ())):
            if known_environments is not None and environment not in known_environments:
                problems.append(
                    problem(
                        file,
                        ["rules", i, "match", "environment", j],
                        f"{environment!r} is not an environment in accounts.yaml "
                        f"(known: {', '.join(sorted(known_environments))})",
                    )
                )
    return problems


def _check_remediation(
    rule: Mapping[str, Any], index: int, name: str, file: str, remediations: Remediations
) -> list[str]:
    action = remediations.get(name)
    if action is None:
        known = ", ".join(sorted(remediations)) or "none"
        where: list[str | int] = ["rules", index, "action"]
        what = f"the default remediation {name!r}"
        if "remediation" in rule:
            where, what = ["rules", index, "remediation"], repr(name)
        return [
            problem(file, where, f"{what} is not a registered remediation (registered: {known})")
        ]
    return problems_of(
        Draft202012Validator(action.schema),
        rule.get("options", {}),
        file,
        ["rules", index, "options"],
    )
