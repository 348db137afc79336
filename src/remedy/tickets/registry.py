"""The registry of ticket backends.

Each backend is a class registered by name (the name a rule's ``ticket`` gives) that
declares which field of accounts.yaml's ``tickets`` block names its target (a Jira
project, a ServiceNow assignment group) and can create, find, comment on and resolve a
ticket. Adding a backend is one module here and one test file, as for remediations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from remedy.errors import RemedyError

if TYPE_CHECKING:
    from remedy.settings import Settings


class TicketError(RemedyError):
    """The ticket system refused or could not be reached; the message is its exact answer.

    Never carries a credential: backends build it from the status and the API's error text.
    `outage`: the system is down or overloaded (no answer, 5xx, 429), not refusing this
    one ticket, so the next tickets are owed without waiting on it again. `status`: the
    HTTP status it answered with, if it answered.
    """

    def __init__(self, message: str, *, outage: bool = False, status: int = 0) -> None:
        super().__init__(message)
        self.outage = outage
        self.status = status


class TicketGone(TicketError):
    """The ticket can no longer be changed: deleted (`exists` false) or closed for good
    (ServiceNow keeps a Closed incident read-only). A recurrence that would reopen it opens
    a new ticket instead, and the entry stops telling it: retrying would fail forever."""

    def __init__(self, message: str, *, exists: bool, status: int = 0) -> None:
        super().__init__(message, status=status)
        self.exists = exists


@dataclass(frozen=True, slots=True)
class TicketRef:
    """A ticket as the ledger entry records it."""

    backend: str
    #: What people call it (SEC-12, INC0010001).
    id: str
    url: str
    #: The system's own id where calls need another one (ServiceNow's sys_id).
    ref: str = ""


@dataclass(frozen=True, slots=True)
class Draft:
    """What a new ticket says, and where it goes."""

    summary: str
    description: str
    #: The finding snapshot (``Finding.to_dict``): what a back end that names the finding
    #: itself (Security Hub) reads.
    finding: Mapping[str, Any]
    #: The finding's severity name (CRITICAL ... INFORMATIONAL).
    severity: str
    #: accounts.yaml's ``tickets.<backend>`` block for the finding's account.
    target: Mapping[str, str]
    #: Unique per occurrence: the backend stores it so `find` can repair a lost record.
    token: str
    #: The ticket of the previous occurrence, to link to.
    previous: TicketRef | None = None


class TicketBackend:
    """Base of every registered backend."""

    name: ClassVar[str] = ""
    #: The field of ``tickets.<name>`` in accounts.yaml that must be set for the account.
    target_field: ClassVar[str] = ""
    #: Whether the system can take comments and be resolved (Security Hub's cannot).
    follows: ClassVar[bool] = True
    #: Whether a resolved ticket can be reopened (a rule's ``on_recurrence: reopen``).
    reopens: ClassVar[bool] = True
    #: IAM actions the core role must allow (template.yaml grants them where used).
    permissions: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, settings: Settings, *, secrets_client: Any = None, session: Any = None
    ) -> None:
        self.settings = settings
        #: Secrets Manager (None: the default client), read on first use only.
        self.secrets_client = secrets_client
        #: The boto3 session AWS back ends make their clients from (None: the default).
        self.session = session

    def create(self, draft: Draft) -> TicketRef:
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement create")

    def find(self, draft: Draft) -> TicketRef | None:
        """The ticket an earlier `create` of `draft` made, if any (repair after a crash)."""
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement find")

    def comment(self, ref: TicketRef, text: str) -> None:
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement comment")

    def resolve(self, ref: TicketRef, text: str) -> None:
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement resolve")

    def reopen(self, ref: TicketRef, text: str) -> None:
        """Take `ref` back out of its resolved state, if it is there, saying why in `text`."""
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement reopen")


_T = TypeVar("_T", bound=type[TicketBackend])
_BACKENDS: dict[str, type[TicketBackend]] = {}


def register(name: str) -> Callable[[_T], _T]:
    def wrap(cls: _T) -> _T:
        if name in _BACKENDS:
            raise ValueError(f"ticket backend {name!r} is registered twice")
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return wrap


def backends() -> Mapping[str, type[TicketBackend]]:
    return dict(_BACKENDS)


def get(name: str) -> type[TicketBackend]:
    try:
        return _BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(_BACKENDS)) or "none"
        raise KeyError(f"unknown ticket backend {name!r}; registered: {known}") from None
