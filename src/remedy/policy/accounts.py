"""``accounts.yaml``: who owns each member account, where its alerts go, who may approve.

A listed account names itself and its environment; owners, Slack routing and approvers it
leaves out come from the ``default`` block, which also stands for every unlisted account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remedy.model import Severity


@dataclass(frozen=True, slots=True)
class Approvers:
    """Slack user ids and/or a user group whose members may approve or dismiss."""

    users: tuple[str, ...] = ()
    usergroup: str | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    name: str
    environment: str
    owners: tuple[str, ...]
    approvers: Approvers
    #: The Slack channel for each severity, indexed by ``Severity`` value.
    channels: tuple[str, ...]
    #: False for the ``default`` block standing in for an account accounts.yaml omits.
    listed: bool = True

    def channel_for(self, severity: Severity) -> str:
        return self.channels[severity]


@dataclass(frozen=True, slots=True)
class Accounts:
    default: AccountInfo
    by_id: Mapping[str, AccountInfo]
    aggregators: frozenset[str]

    def get(self, account_id: str) -> AccountInfo:
        return self.by_id.get(account_id, self.default)

    @property
    def environments(self) -> frozenset[str]:
        return frozenset({self.default.environment} | {a.environment for a in self.by_id.values()})


def _channels(slack: Mapping[str, Any]) -> tuple[str, ...]:
    """A severity's channel is the one listed for the highest severity at or below it.

    So ``channels_by_severity: {HIGH: "#oncall"}`` sends HIGH and CRITICAL to #oncall and
    the rest to ``channel``.
    """
    by_severity = slack.get("channels_by_severity", {})
    current = slack["channel"]
    out = []
    for severity in Severity:
        current = by_severity.get(severity.name, current)
        out.append(current)
    return tuple(out)


def _approvers(block: Mapping[str, Any]) -> Approvers:
    return Approvers(tuple(block.get("users", ())), block.get("usergroup"))


def _default(block: Mapping[str, Any]) -> AccountInfo:
    return AccountInfo(
        name=block["name"],
        environment=block["environment"],
        owners=tuple(block["owners"]),
        approvers=_approvers(block["approvers"]),
        channels=_channels(block["slack"]),
        listed=False,
    )


def _listed(block: Mapping[str, Any], default: AccountInfo) -> AccountInfo:
    return AccountInfo(
        name=block["name"],
        environment=block["environment"],
        owners=tuple(block["owners"]) if "owners" in block else default.owners,
        approvers=_approvers(block["approvers"]) if "approvers" in block else default.approvers,
        channels=_channels(block["slack"]) if "slack" in block else default.channels,
    )


def build(document: Mapping[str, Any]) -> Accounts:
    """Accounts from a schema-valid accounts.yaml document."""
    default = _default(document["default"])
    return Accounts(
        default=default,
        by_id={
            account_id: _listed(block, default)
            for account_id, block in document["accounts"].items()
        },
        aggregators=frozenset(document.get("aggregators", ())),
    )
