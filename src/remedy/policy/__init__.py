"""The policy: what to do with a finding, and why.

``load_policy(dir)`` reads ``remediation.yaml`` and ``accounts.yaml`` from a policy folder,
checks both against the schemas remedy ships (``policies/schema/``), and compiles the rules.
It also checks the two files remediation actions read at run time from the same folder,
``restricted-actions.yaml`` and ``public-bucket-allowlist.yaml``, so a broken one fails at
deploy and cold start rather than at the first finding. Any problem in any of the four
raises `remedy.errors.PolicyError` with every ``file:path: message`` line.
``decide(finding, policy)`` is then pure and fast: trust first, then the built-in guards,
then the first matching rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

# Importing the registry runs the actions package, which registers every shipped
# remediation a rule may name; the actions read only `remedy.policy_files`, never this.
from remedy.actions import registry
from remedy.errors import PolicyError
from remedy.model import Decision, Finding, Severity
from remedy.policy import accounts as _accounts
from remedy.policy import guards, rails, rules, trust
from remedy.policy.accounts import AccountInfo, Accounts
from remedy.policy.rails import RailsPolicy
from remedy.policy.rules import RuleSet
from remedy.policy_files import (
    ACCOUNTS_FILE,
    ENV_VAR,
    REMEDIATION_FILE,
    default_dir,
    load_allowlist,
    load_restricted,
    read_checked,
    shipped_dir,
)

__all__ = [
    "ACCOUNTS_FILE",
    "ENV_VAR",
    "REMEDIATION_FILE",
    "Policy",
    "decide",
    "default_dir",
    "load_policy",
    "read_checked",
    "shipped_dir",
]


#: ``defaults.recurrence_period_minutes`` when the policy does not say.
DEFAULT_RECURRENCE_MINUTES = 60.0


@dataclass(frozen=True, slots=True)
class Policy:
    directory: Path
    rules: RuleSet
    accounts: Accounts
    min_severity: Severity
    #: Accounts trusted to deliver other accounts' findings: accounts.yaml's and any added.
    aggregators: frozenset[str]
    #: At most one re-opening of a key acts per period (`remedy.occurrences`); 0: no bound.
    recurrence_period: timedelta = timedelta(minutes=DEFAULT_RECURRENCE_MINUTES)
    #: The safety rails (`remedy.policy.rails`, applied by `remedy.rails`).
    rails: RailsPolicy = field(default_factory=RailsPolicy)

    def with_aggregators(self, extra: Iterable[str]) -> Policy:
        return replace(self, aggregators=self.aggregators | frozenset(extra))

    def account(self, account_id: str) -> AccountInfo:
        return self.accounts.get(account_id)


def _read(file: Path, schema_name: str, problems: list[str]) -> Any:
    """The document in `file` if it reads and fits its schema, else None (problems noted)."""
    try:
        return read_checked(file, schema_name)
    except PolicyError as exc:
        problems.extend(exc.problems)
        return None


def _check_action_files(folder: Path) -> list[str]:
    """The problems of the files remediation actions read from the policy folder."""
    problems: list[str] = []
    for load in (load_restricted, load_allowlist):
        try:
            load(folder)
        except PolicyError as exc:
            problems.extend(exc.problems)
    return problems


def load_policy(directory: str | os.PathLike[str] | None = None) -> Policy:
    """Read, validate and compile the policy in `directory` (default: `default_dir`)."""
    folder = Path(directory) if directory is not None else default_dir()
    if not folder.is_dir():
        raise PolicyError(
            [f"{folder}: no such policy folder; name another folder or set {ENV_VAR}"]
        )
    problems: list[str] = []
    accounts_doc = _read(folder / ACCOUNTS_FILE, "accounts.schema.json", problems)
    remediation_doc = _read(folder / REMEDIATION_FILE, "remediation.schema.json", problems)
    accounts = _accounts.build(accounts_doc) if accounts_doc is not None else None
    remediations = registry.actions()
    if remediation_doc is not None:
        problems += rules.check(
            remediation_doc,
            str(folder / REMEDIATION_FILE),
            accounts.environments if accounts is not None else None,
            remediations,
        )
        problems += rails.check(remediation_doc, str(folder / REMEDIATION_FILE))
    if remediation_doc is not None and accounts is not None:
        problems += rules.check_tickets(
            remediation_doc, str(folder / REMEDIATION_FILE), accounts.ticket_backends
        )
    problems += _check_action_files(folder)
    if problems or accounts is None or remediation_doc is None:
        raise PolicyError(problems)
    defaults = remediation_doc.get("defaults", {})
    return Policy(
        directory=folder,
        rules=rules.compile_rules(remediation_doc, remediations),
        accounts=accounts,
        min_severity=Severity[defaults.get("min_severity", "LOW")],
        aggregators=accounts.aggregators,
        recurrence_period=timedelta(
            minutes=defaults.get("recurrence_period_minutes", DEFAULT_RECURRENCE_MINUTES)
        ),
        rails=rails.build(remediation_doc),
    )


def decide(finding: Finding, policy: Policy) -> Decision:
    """The decision for one finding: reject if untrusted, else guards, else the rules."""
    rejected = trust.check(finding, policy.aggregators)
    if rejected is not None:
        return rejected
    ignored = guards.check(finding, policy.min_severity)
    if ignored is not None:
        return ignored
    return policy.rules.decide(finding, policy.accounts.get(finding.account))
