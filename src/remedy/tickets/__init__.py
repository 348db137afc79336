"""Tickets that follow a ledger entry: each backend a class registered by name in
`remedy.tickets.registry`; `remedy.tickets.lifecycle` opens, tells and resolves them.

Importing this package registers every shipped backend.
"""

from __future__ import annotations

from typing import Any

from remedy.settings import Settings

# Imported to register them.
from remedy.tickets import jira, securityhub, servicenow  # noqa: F401
from remedy.tickets.registry import TicketBackend, backends

__all__ = ["build"]


def build(
    settings: Settings,
    *,
    secrets_client: Any = None,
    session: Any = None,
    aws: bool = True,
) -> dict[str, TicketBackend]:
    """One instance of every registered backend, by name; none reads its secret before use.
    `aws` false leaves out those that need an AWS permission (`TicketBackend.permissions`)."""
    return {
        name: cls(settings, secrets_client=secrets_client, session=session)
        for name, cls in backends().items()
        if aws or not cls.permissions
    }
