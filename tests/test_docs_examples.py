"""The policy rules the documentation shows are rules remedy accepts: a reader who copies
one gets no schema error. Every whole rule (one with ``match`` and ``action``) in a YAML
fence of a page under docs/ is checked against the policy's JSON Schema; fragments that
elide with ``...`` or show a single field are not rules and are passed over."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import ROOT

SCHEMA = json.loads((ROOT / "policies" / "schema" / "remediation.schema.json").read_text())
FENCE = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def documented_rules() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for fence in FENCE.finditer(page.read_text()):
            try:
                block = yaml.safe_load(fence.group(1))
            except yaml.YAMLError:
                continue  # an excerpt with "..." in it
            rules = block.get("rules") if isinstance(block, dict) else block
            for rule in rules if isinstance(rules, list) else ():
                if isinstance(rule, dict) and {"id", "match", "action"} <= rule.keys():
                    found.append((f"{page.relative_to(ROOT)}:{rule['id']}", rule))
    return found


RULES = documented_rules()


def test_the_pages_show_rules_at_all() -> None:
    pages = {where.split(":")[0] for where, _ in RULES}
    assert {"docs/policy.md", "docs/tickets.md", "docs/containment.md"} <= pages


@pytest.mark.parametrize(("where", "rule"), RULES, ids=[where for where, _ in RULES])
def test_a_documented_rule_is_valid(where: str, rule: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator({**SCHEMA, **SCHEMA["$defs"]["rule"]})
    assert [e.message for e in validator.iter_errors(rule)] == [], where
