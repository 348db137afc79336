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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import remedy
from remedy.errors import PolicyError
from remedy.model import Decision, Finding, Severity
from remedy.policy import accounts as _accounts
from remedy.policy import guards, rules, schema, trust
from remedy.policy.accounts import AccountInfo, Accounts
from remedy.policy.rules import RuleSet

__all__ = ["Policy", "decide", "default_dir", "load_policy", "read_checked", "shipped_dir"]

REMEDIATION_FILE = "remediation.yaml"
ACCOUNTS_FILE = "accounts.yaml"
ENV_VAR = "REMEDY_POLICY_DIR"


def shipped_dir() -> Path:
    """The ``policies/`` folder that comes with this code.

    In a checkout it is the repository's ``policies/`` beside ``src/``; in the Lambda
    artifact (and any install laid out the same way) it is ``policies/`` beside the
    ``remedy`` package, i.e. ``<task root>/policies``.
    """
    package = Path(remedy.__file__).resolve().parent
    checkout = package.parent.parent / "policies"
    if package.parent.name == "src" and checkout.is_dir():
        return checkout
    return package.parent / "policies"


def default_dir() -> Path:
    """Where the policy is read from: ``$REMEDY_POLICY_DIR`` if set, else `shipped_dir`."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else shipped_dir()


@dataclass(frozen=True, slots=True)
class Policy:
    directory: Path
    rules: RuleSet
    accounts: Accounts
    min_severity: Severity
    #: Accounts trusted to deliver other accounts' findings: accounts.yaml's and any added.
    aggregators: frozenset[str]

    def with_aggregators(self, extra: Iterable[str]) -> Policy:
        return replace(self, aggregators=self.aggregators | frozenset(extra))

    def account(self, account_id: str) -> AccountInfo:
        return self.accounts.get(account_id)


def read_checked(file: Path, schema_name: str) -> Any:
    """The document in `file`, checked against the shipped schema `schema_name`.

    Every problem (unreadable, bad YAML, schema misfits) raises one `PolicyError`.
    """
    document = schema.read_yaml(file)
    problems = schema.validate(document, shipped_dir() / "schema" / schema_name, str(file))
    if problems:
        raise PolicyError(problems)
    return document


def _read(file: Path, schema_name: str, problems: list[str]) -> Any:
    """The document in `file` if it reads and fits its schema, else None (problems noted)."""
    try:
        return read_checked(file, schema_name)
    except PolicyError as exc:
        problems.extend(exc.problems)
        return None


def _check_action_files(folder: Path) -> list[str]:
    """The problems of the files remediation actions read from the policy folder."""
    # Imported here: both modules import this package (default_dir, shipped_dir).
    from remedy.bucket_allowlist import load_allowlist
    from remedy.iam_policy import load_restricted

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
    # Importing the package registers every shipped remediation action the policy may name.
    # Imported here, not above: actions import modules that read their own files from the
    # policy folder (default_dir), so a module-level import would be circular.
    from remedy.actions import actions

    remediations = actions()
    if remediation_doc is not None:
        problems += rules.check(
            remediation_doc,
            str(folder / REMEDIATION_FILE),
            accounts.environments if accounts is not None else None,
            remediations,
        )
    problems += _check_action_files(folder)
    if problems or accounts is None or remediation_doc is None:
        raise PolicyError(problems)
    return Policy(
        directory=folder,
        rules=rules.compile_rules(remediation_doc, remediations),
        accounts=accounts,
        min_severity=Severity[remediation_doc.get("defaults", {}).get("min_severity", "LOW")],
        aggregators=accounts.aggregators,
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
