"""Reading policy files and checking them against their JSON Schemas.

Every problem becomes one ``file:path: message`` line (``file:line: message`` for YAML
syntax), collected into one `PolicyError`, so a person fixes them all in one pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from remedy.errors import PolicyError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


class _StrictLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML that refuses duplicate keys (in a policy the later one would silently win)
    and aliases of lists and mappings: nested, a few hundred bytes expand to billions of
    items that checking (and quoting) would have to walk."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.CollectionNode) and node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "an alias of a list or mapping; write it out in full (a policy file takes "
                "no such aliases)",
                node.start_mark,
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def format_path(path: Iterable[str | int]) -> str:
    """``['rules', 2, 'match', 'min_severity']`` -> ``rules[2].match.min_severity``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(root)"


def problem(file: str, path: Iterable[str | int], message: str) -> str:
    return f"{file}:{format_path(path)}: {message}"


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; unreadable files and syntax errors raise `PolicyError`."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError([f"{file}: cannot read: {reason}"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "1"
        what = "; ".join(p for p in (exc.context, exc.problem) if p)
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise PolicyError([f"{file}:{line}: {what}{column}"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([f"{file}:1: {exc}"]) from None


@cache
def validator(schema_path: Path) -> Draft202012Validator:
    """The compiled validator for one schema file (read once per process)."""
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError([f"{schema_path}: cannot read the schema remedy ships: {exc}"]) from None
    # Not checked against the metaschema here: that is half of a cold start's policy load,
    # and the schemas are remedy's own, checked once by tests/test_policy_schema.py.
    return Draft202012Validator(schema)


def _message(error: ValidationError) -> str:
    # Our schemas say in "expected" what a patterned string is; a regex is no help to a person.
    if (
        error.validator == "pattern"
        and isinstance(error.schema, dict)
        and "expected" in error.schema
    ):
        return f"{error.instance!r} is not {error.schema['expected']}"
    if (
        error.validator == "type"
        and isinstance(error.instance, int)
        and not isinstance(error.instance, bool)
        and "string" in error.validator_value
    ):
        return f"{error.message}; quote it in YAML ('{error.instance}')"
    return str(error.message)


def _specific(error: ValidationError) -> ValidationError:
    """For a ``oneOf``/``anyOf`` miss, the error of the alternative the value came closest to.

    ``ports: [22, ssh]`` against "``all`` or a list of port numbers" then reads
    ``ports[1]: 'ssh' is not of type 'integer'``, not "not valid under any of the given
    schemas"; with nothing closer (``ports: some``) the original error stays.
    """
    if error.validator in ("oneOf", "anyOf") and error.context:
        return best_match([error])
    return error


def problems_of(
    checker: Draft202012Validator,
    instance: Any,
    file: str,
    prefix: Sequence[str | int] = (),
) -> list[str]:
    """Every way `instance` (found at `prefix` in `file`) breaks the schema, by path."""
    errors = sorted(
        map(_specific, checker.iter_errors(instance)),
        key=lambda e: [(0, p) if isinstance(p, int) else (1, str(p)) for p in e.absolute_path],
    )
    return [problem(file, [*prefix, *e.absolute_path], _message(e)) for e in errors]


def validate(document: Any, schema_path: Path, file: str) -> list[str]:
    """Every way `document` breaks its schema file, as ``file:path: message`` lines."""
    if document is None:
        return [f"{file}: the file is empty"]
    return problems_of(validator(schema_path), document, file)
