"""The registry of remediation actions.

Each action is a class registered by name that declares the JSON Schema of its policy
options and the IAM actions it needs in the member account. The policy schema and the
member role's policy are derived from (or checked against) this registry, never written
twice. Adding a remediation is one new module here and one test file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar


class RemediationAction:
    """Base of every registered action; subclasses fill in the class attributes."""

    name: ClassVar[str] = ""
    #: JSON Schema of the ``options`` a policy rule may pass to this action.
    schema: ClassVar[Mapping[str, Any]] = {"type": "object", "additionalProperties": False}
    #: IAM actions the member remediation role must allow for this action to work.
    permissions: ClassVar[frozenset[str]] = frozenset()
    #: Resource kinds (``remedy.model.ResourceKind`` values) the action acts on.
    resource_kinds: ClassVar[frozenset[str]] = frozenset()


_T = TypeVar("_T", bound=type[RemediationAction])
_ACTIONS: dict[str, type[RemediationAction]] = {}


def register(name: str) -> Callable[[_T], _T]:
    def wrap(cls: _T) -> _T:
        if name in _ACTIONS:
            raise ValueError(f"remediation action {name!r} is registered twice")
        cls.name = name
        _ACTIONS[name] = cls
        return cls

    return wrap


def actions() -> Mapping[str, type[RemediationAction]]:
    return dict(_ACTIONS)


def get(name: str) -> type[RemediationAction]:
    try:
        return _ACTIONS[name]
    except KeyError:
        known = ", ".join(sorted(_ACTIONS)) or "none"
        raise KeyError(f"unknown remediation action {name!r}; registered: {known}") from None


def member_permissions() -> frozenset[str]:
    """The union of every registered action's IAM permissions: the member role's grant."""
    out: set[str] = set()
    for cls in _ACTIONS.values():
        out |= cls.permissions
    return frozenset(out)
