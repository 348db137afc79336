"""Least privilege, declared: the member remediation role grants exactly what the registered
actions declare, no more (an unused grant) and no less (an action that would be denied)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

import remedy.actions
from remedy.actions.registry import actions, member_permissions

MEMBER = Path(__file__).resolve().parent.parent / "member-account-template.yaml"


def granted_statements() -> Iterator[Mapping[str, Any]]:
    template, errors = decode(str(MEMBER))
    assert not errors and template is not None, errors
    res = template["Resources"]
    role = res["RemediationRole"]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role, (
        "grants must all be in RemediationPolicy"
    )
    attached = [
        r["Properties"]
        for r in res.values()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": "RemediationRole"} in r["Properties"].get("Roles", [])
    ]
    assert attached == [res["RemediationPolicy"]["Properties"]]
    found = attached[0]["PolicyDocument"]["Statement"]
    yield from found if isinstance(found, list) else [found]


def actions_of(statement: Mapping[str, Any]) -> set[str]:
    assert "NotAction" not in statement and "NotResource" not in statement
    found = statement["Action"]
    return set(found if isinstance(found, list) else [found])


def granted_actions() -> set[str]:
    """The actions Allow statements grant (Deny statements only narrow them)."""
    out: set[str] = set()
    for statement in granted_statements():
        assert statement["Effect"] in ("Allow", "Deny")
        if statement["Effect"] == "Allow":
            out |= actions_of(statement)
    return out


def test_denies_only_narrow_what_is_granted() -> None:
    for statement in granted_statements():
        if statement["Effect"] == "Deny":
            assert actions_of(statement) <= granted_actions(), statement


@pytest.fixture(scope="module")
def declared() -> frozenset[str]:
    # Every module under remedy.actions, so each action registers whatever imports it.
    for module in pkgutil.iter_modules(remedy.actions.__path__):
        importlib.import_module(f"remedy.actions.{module.name}")
    assert actions(), "no remediation action is registered"
    return member_permissions()


def test_role_grants_exact_action_names() -> None:
    wildcards = sorted(a for a in granted_actions() if "*" in a or "?" in a)
    assert not wildcards, f"the role grants wildcards {wildcards}: list the exact actions"


def test_role_grants_every_declared_permission(declared: frozenset[str]) -> None:
    missing = sorted(declared - granted_actions())
    assert not missing, (
        f"actions declare {missing} but RemediationRole in {MEMBER.name} does not grant them: "
        "add them to the statement for their resource type"
    )


def test_role_grants_nothing_undeclared(declared: frozenset[str]) -> None:
    extra = sorted(granted_actions() - declared)
    assert not extra, (
        f"RemediationRole in {MEMBER.name} grants {extra}, which no registered action declares: "
        "remove them (or declare them on the action that needs them)"
    )
