"""The registry of remediation actions.

Each action is a class registered by name that declares the JSON Schema of its policy
options and the IAM actions it needs in the member account. The policy schema and the
member role's policy are derived from (or checked against) this registry, never written
twice. Adding a remediation is one new module here and one test file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from remedy.actions.outcome import Outcome
    from remedy.actions.session import AccountSessions
    from remedy.model import Finding
    from remedy.settings import Settings


class RemediationAction:
    """Base of every registered action; subclasses fill in the class attributes and `run`."""

    name: ClassVar[str] = ""
    #: JSON Schema of the ``options`` a policy rule may pass to this action.
    schema: ClassVar[Mapping[str, Any]] = {"type": "object", "additionalProperties": False}
    #: IAM actions the member remediation role must allow for this action to work.
    permissions: ClassVar[frozenset[str]] = frozenset()
    #: Resource kinds (``remedy.model.ResourceKind`` values) the action acts on.
    resource_kinds: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, sessions: AccountSessions, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        """Remediate `finding` in its own account; idempotent.

        `resume` is true when an earlier attempt may have done part of the work (a
        redelivery taking over, a retry): the action then looks for what it left behind.
        """
        raise NotImplementedError(f"remediation action {self.name!r} does not implement run")


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
