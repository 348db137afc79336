"""``accounts.yaml``: who owns each member account, where its alerts go, who may approve.

An account's owners, Slack routing, approvers and environment come from layers, the
first layer that gives a field wins (per field; a ``slack`` block is one field):

1. its entry under ``accounts`` (which must name ``name`` and ``environment``);
2. its tags in AWS Organizations (keys set under ``organizations.tags``); its name in
   Organizations comes next for ``name``;
3. its organizational units under ``organizational_units``, closest first, each named by
   id (``ou-...``) or by path (``Root/Workloads/Prod``; the id wins over the path for the
   same unit);
4. the ``default`` block, which also stands for an account nothing else describes.

Layers 2 and 3 need the account's `Placement` in the organization (`remedy.policy.organizations`
reads it); without one, an account resolves from its entry and ``default`` alone.
`Accounts.resolve` says which layer gave each field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from remedy.model import Mode, Severity

#: The fields a layer may give, in the order they are explained.
FIELDS = ("name", "environment", "owners", "slack", "approvers", "mode", "tickets")
#: The tag keys read when accounts.yaml names none (``organizations.tags``).
DEFAULT_TAG_KEYS: Mapping[str, str] = {
    "name": "remedy:name",
    "environment": "remedy:environment",
    "owners": "remedy:owners",
    "slack": "remedy:slack-channel",
    "approvers": "remedy:approvers",
}
DEFAULT_CACHE_MINUTES = 15
#: A tag value cannot hold ``#`` or ``,``: lists are separated by spaces, a channel name
#: is written without its ``#``.
_TAG_SEPARATOR = re.compile(r"\s+")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{8,}\Z")


@dataclass(frozen=True, slots=True)
class Approvers:
    """Slack user ids and/or a user group whose members may approve or dismiss."""

    users: tuple[str, ...] = ()
    usergroup: str | None = None


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """One organizational unit: its id and its path from the root (``Root/Workloads``)."""

    id: str
    path: str


@dataclass(frozen=True, slots=True)
class Placement:
    """What AWS Organizations says about one account."""

    account_id: str
    #: The account's name in Organizations (DescribeAccount).
    name: str | None = None
    #: The units the account sits in, closest first (the root is not one).
    ous: tuple[OrgUnit, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class Placements(Protocol):
    """Where accounts sit in the organization (`remedy.policy.organizations.OrgDirectory`)."""

    def placement(self, account_id: str) -> Placement: ...

    def account_ids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AccountInfo:
    name: str
    environment: str
    owners: tuple[str, ...]
    approvers: Approvers
    #: The Slack channel for each severity, indexed by ``Severity`` value.
    channels: tuple[str, ...]
    #: False for an account accounts.yaml has no entry for.
    listed: bool = True
    #: The organizational units the account sits in, closest first (none without the
    #: organization).
    ous: tuple[OrgUnit, ...] = ()
    #: ``mode: dry-run`` on the account or its unit: its findings are only recorded.
    mode: Mode = Mode.ACT
    #: Where the account's tickets go, per backend (``{"jira": {"project": "SEC"}}``).
    tickets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def channel_for(self, severity: Severity) -> str:
        return self.channels[severity]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an account resolves to, and the layer each field came from."""

    account_id: str
    info: AccountInfo
    #: Field name -> the layer that gave it, e.g. ``accounts.yaml organizational_units["ou-…"]``.
    sources: Mapping[str, str]
    #: Tags that were set but could not be used, one sentence each.
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "account": self.account_id,
            "name": info.name,
            "environment": info.environment,
            "owners": list(info.owners),
            "slack": {
                "channels": {s.name: info.channel_for(s) for s in Severity},
            },
            "approvers": {
                "users": list(info.approvers.users),
                "usergroup": info.approvers.usergroup,
            },
            "listed": info.listed,
            "ous": [{"id": ou.id, "path": ou.path} for ou in info.ous],
            "mode": info.mode.value,
            "tickets": {name: dict(target) for name, target in info.tickets.items()},
            "sources": dict(self.sources),
            "problems": list(self.problems),
        }


@dataclass(frozen=True, slots=True)
class OrgSettings:
    """accounts.yaml's ``organizations`` block."""

    #: Field -> the account tag key it is read from.
    tag_keys: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TAG_KEYS))
    cache_minutes: int = DEFAULT_CACHE_MINUTES
    #: Environments a tag may name besides those the file's blocks name.
    environments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Layer:
    label: str
    block: Mapping[str, Any]


@dataclass(slots=True)
class _Memo:
    placement: Placement
    resolution: Resolution


@dataclass(frozen=True, slots=True)
class Accounts:
    default: AccountInfo
    #: The accounts with an entry in accounts.yaml, resolved from the file alone.
    by_id: Mapping[str, AccountInfo]
    aggregators: frozenset[str]
    #: The raw blocks: ``default``, each account entry, each unit by id or path.
    default_block: Mapping[str, Any] = field(default_factory=dict)
    account_blocks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ou_blocks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    org: OrgSettings = field(default_factory=OrgSettings)
    #: Where accounts sit in the organization; None: the file alone.
    organization: Placements | None = None
    #: The last resolution per account, reused while its placement is the same object
    #: (the organization's cache hands out the same one until it reads the account again).
    _memo: dict[str, _Memo] = field(init=False, default_factory=dict, compare=False, repr=False)

    def get(self, account_id: str) -> AccountInfo:
        if self.organization is None:
            return self.by_id.get(account_id, self.default)
        return self.resolve(account_id).info

    def resolve(self, account_id: str) -> Resolution:
        """`account_id`'s fields, layer by layer (the organization's only if attached)."""
        if self.organization is None:
            return self.resolve_placement(Placement(account_id))
        placement = self.organization.placement(account_id)
        memo = self._memo.get(account_id)
        if memo is not None and memo.placement is placement:
            return memo.resolution
        resolution = self.resolve_placement(placement)
        self._memo[account_id] = _Memo(placement, resolution)
        return resolution

    def resolve_placement(self, placement: Placement) -> Resolution:
        """The fields of the account `placement` describes (pure: no AWS call)."""
        problems: list[str] = []
        layers = list(self._layers(placement, problems))
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name in FIELDS:
            for layer in layers:
                if name in layer.block:
                    values[name] = layer.block[name]
                    sources[name] = layer.label
                    break
        info = _info(values, placement.account_id in self.account_blocks, placement.ous)
        return Resolution(placement.account_id, info, sources, tuple(problems))

    def _layers(self, placement: Placement, problems: list[str]) -> Iterator[_Layer]:
        entry = self.account_blocks.get(placement.account_id)
        if entry is not None:
            yield _Layer(f'accounts.yaml accounts["{placement.account_id}"]', entry)
        tagged = self._from_tags(placement, problems)
        if tagged:
            for name, (key, value) in tagged.items():
                yield _Layer(f"tag {key} on {placement.account_id}", {name: value})
        if placement.name:
            yield _Layer("organizations: the account's name", {"name": placement.name})
        for ou in placement.ous:
            for ref in (ou.id, ou.path):
                block = self.ou_blocks.get(ref)
                if block is not None:
                    yield _Layer(f'accounts.yaml organizational_units["{ref}"]', block)
        yield _Layer("accounts.yaml default", self.default_block)

    def _from_tags(self, placement: Placement, problems: list[str]) -> dict[str, tuple[str, Any]]:
        """Field -> (tag key, the value as a block would write it), for the usable tags."""
        out: dict[str, tuple[str, Any]] = {}
        for name, key in self.org.tag_keys.items():
            raw = placement.tags.get(key)
            if raw is None:
                continue
            value, problem = _tag_value(name, raw, self.environments)
            if problem is not None:
                problems.append(
                    f"tag {key} on account {placement.account_id}: {problem}; ignored, "
                    f"fix the tag in AWS Organizations"
                )
                continue
            out[name] = (key, value)
        return out

    @property
    def _blocks(self) -> list[Mapping[str, Any]]:
        return [self.default_block, *self.account_blocks.values(), *self.ou_blocks.values()]

    @property
    def environments(self) -> frozenset[str]:
        """Every environment the file names (rules may only match these)."""
        named = {b["environment"] for b in self._blocks if "environment" in b}
        return frozenset(named | {self.default.environment} | self.org.environments)

    @property
    def ticket_backends(self) -> frozenset[str]:
        """Every ticket back end some block names a target for (rules may only ask these)."""
        return frozenset(name for b in self._blocks for name in b.get("tickets", {}))

    def ticket_targets(self, backend: str, field: str) -> frozenset[str]:
        """Every ``tickets.<backend>.<field>`` a block names (a Jira project, a group)."""
        targets = (b.get("tickets", {}).get(backend, {}).get(field) for b in self._blocks)
        return frozenset(t for t in targets if isinstance(t, str))

    def attached(self, organization: Placements | None) -> Accounts:
        """These accounts, resolved through `organization` from now on."""
        return replace(self, organization=organization)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_USER = re.compile(r"[UW][A-Z0-9]{8,}\Z")
_GROUP = re.compile(r"S[A-Z0-9]{8,}\Z")
_CHANNEL_NAME = re.compile(r"#?([a-z0-9][a-z0-9._-]{0,79})\Z")


def _tag_value(name: str, raw: str, environments: frozenset[str]) -> tuple[Any, str | None]:
    """A tag's value in the shape of a block's field, or the reason it cannot be used."""
    text = raw.strip()
    if not text:
        return None, "the value is empty"
    words = _TAG_SEPARATOR.split(text)
    if name == "name":
        return text, None
    if name == "environment":
        if text not in environments:
            known = ", ".join(sorted(environments))
            return None, f"{text!r} is not an environment accounts.yaml names (known: {known})"
        return text, None
    if name == "owners":
        bad = [w for w in words if not _EMAIL.match(w)]
        if bad:
            return None, f"{bad[0]!r} is not an email address (separate addresses by spaces)"
        return words, None
    if name == "slack":
        if _CHANNEL_ID.match(text):
            return {"channel": text}, None
        channel = _CHANNEL_NAME.match(text)
        if channel is None:
            return None, f"{text!r} is not a Slack channel id (C0123ABCD) or name (security)"
        return {"channel": f"#{channel.group(1)}"}, None
    users = [w for w in words if _USER.match(w)]
    groups = [w for w in words if _GROUP.match(w)]
    bad = [w for w in words if w not in users and w not in groups]
    if bad:
        return None, (f"{bad[0]!r} is not a Slack user id (U0123ABCD) or user group id (S0123ABCD)")
    if len(groups) > 1:
        return None, f"names {len(groups)} user groups ({', '.join(groups)}); at most one"
    block: dict[str, Any] = {}
    if users:
        block["users"] = users
    if groups:
        block["usergroup"] = groups[0]
    return block, None


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


def _info(block: Mapping[str, Any], listed: bool, ous: tuple[OrgUnit, ...] = ()) -> AccountInfo:
    """An account's info from a block that has every field."""
    return AccountInfo(
        name=block["name"],
        environment=block["environment"],
        owners=tuple(block["owners"]),
        approvers=_approvers(block["approvers"]),
        channels=_channels(block["slack"]),
        listed=listed,
        ous=ous,
        mode=Mode(block.get("mode", Mode.ACT)),
        tickets=block.get("tickets", {}),
    )


def _org_settings(block: Mapping[str, Any] | None) -> OrgSettings:
    if block is None:
        return OrgSettings()
    return OrgSettings(
        tag_keys={**DEFAULT_TAG_KEYS, **block.get("tags", {})},
        cache_minutes=block.get("cache_minutes", DEFAULT_CACHE_MINUTES),
        environments=frozenset(block.get("environments", ())),
    )


def build(document: Mapping[str, Any]) -> Accounts:
    """Accounts from a schema-valid accounts.yaml document."""
    default_block = document["default"]
    file_only = Accounts(
        default=_info(default_block, listed=False),
        by_id={},
        aggregators=frozenset(document.get("aggregators", ())),
        default_block=default_block,
        account_blocks=document["accounts"],
        ou_blocks=document.get("organizational_units", {}),
        org=_org_settings(document.get("organizations")),
    )
    by_id = {
        account_id: file_only.resolve_placement(Placement(account_id)).info
        for account_id in document["accounts"]
    }
    return replace(file_only, by_id=by_id)
