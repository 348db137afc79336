"""Where accounts sit in AWS Organizations, read through a role and kept for a bounded age.

accounts.yaml can describe owners, Slack routing, approvers and environment per
organizational unit and read them from account tags (`remedy.policy.accounts`); this
module supplies what that needs: each account's units (ids and paths from the root), its
tags and its name, read from the management account or a delegated administrator through
the role the core stack's ``OrganizationsRoleArn`` names (``REMEDY_ORG_ROLE_ARN``).

Each account's `Placement` is kept for ``organizations.cache_minutes`` (default 15) and
read again after that, so an account moved between units is picked up within that age;
a warm cache makes no call. Units' names and parents are kept the same way, so a cold
account costs three calls (ListParents, ListTagsForResource, DescribeAccount) once its
units are known. If Organizations cannot be read, the last placement read is used (with
a warning); an account never read raises `OrganizationsUnavailable`, so the finding is
retried rather than decided without its units.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from remedy.errors import RemedyError
from remedy.policy import Policy
from remedy.policy.accounts import OrgUnit, Placement

if TYPE_CHECKING:
    from botocore.config import Config

    from remedy.settings import Settings

log = logging.getLogger(__name__)

#: Organizations' root is always named Root; paths in accounts.yaml start with it.
ROOT_NAME = "Root"
SESSION_NAME = "remedy-organizations"
#: Assume the role again this long before its credentials expire.
REFRESH_MARGIN_SECONDS = 300.0
#: What Organizations answers for an account (or unit) that is not in the organization.
_NOT_IN_ORG = frozenset({"AccountNotFoundException", "ChildNotFoundException"})


class OrganizationsUnavailable(RemedyError):
    """AWS Organizations could not be read (for an account: one remedy has not read before)."""

    def __init__(self, what: str, role_arn: str, error: Exception) -> None:
        super().__init__(
            f"cannot read {what} from AWS Organizations through {role_arn}: "
            f"{_describe(error)}; check the core stack's OrganizationsRoleArn and that the "
            "role allows organizations:ListParents, DescribeOrganizationalUnit, "
            "ListTagsForResource, DescribeAccount and ListAccounts"
        )


def _describe(error: Exception) -> str:
    """AWS's code and message, on one line."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        text = f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}"
    else:
        text = str(error)
    return " ".join(text.split())


class RoleClient:
    """An Organizations client acting as `role_arn`, assumed again before it expires."""

    def __init__(
        self,
        role_arn: str,
        *,
        external_id: str = "",
        session: Any = None,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import boto3

        self.role_arn = role_arn
        self.external_id = external_id
        self.session = session or boto3.session.Session()
        self.config = config
        self.clock = clock
        self._client: Any = None
        self._refresh_at = 0.0

    def get(self) -> Any:
        if self._client is None or self.clock() >= self._refresh_at:
            import boto3

            extra = {"ExternalId": self.external_id} if self.external_id else {}
            creds = self.session.client("sts", config=self.config).assume_role(
                RoleArn=self.role_arn, RoleSessionName=SESSION_NAME, **extra
            )["Credentials"]
            # A session of its own: credentials given to a shared botocore session would
            # replace those of the function's ledger and notifier clients.
            self._client = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=self.session.region_name,
            ).client("organizations", config=self.config)
            self._refresh_at = creds["Expiration"].timestamp() - REFRESH_MARGIN_SECONDS
        return self._client


@dataclass(frozen=True, slots=True)
class _Unit:
    name: str
    parent: str
    parent_is_root: bool


@dataclass(slots=True)
class _Kept:
    value: Any
    until: float


class OrgDirectory:
    """`Placement`s of accounts read from Organizations, each kept for `max_age` seconds.

    `client` returns the Organizations client to use (`RoleClient.get`, or a plain client
    in tests); `clock` returns epoch seconds.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        max_age: float,
        clock: Callable[[], float] = time.time,
        role_arn: str = "",
    ) -> None:
        self.client = client
        self.max_age = max_age
        self.clock = clock
        self.role_arn = role_arn
        self._accounts: dict[str, _Kept] = {}
        self._units: dict[str, _Kept] = {}

    def placement(self, account_id: str) -> Placement:
        kept = self._accounts.get(account_id)
        now = self.clock()
        if kept is not None and now < kept.until:
            placement: Placement = kept.value
            return placement
        try:
            placement = self._read(account_id, now)
        except (ClientError, BotoCoreError) as error:
            if kept is None:
                raise OrganizationsUnavailable(
                    f"account {account_id}", self.role_arn, error
                ) from error
            log.warning(
                "AWS Organizations unreadable (%s); using what it said about %s before",
                _describe(error),
                account_id,
            )
            return kept.value  # type: ignore[no-any-return]
        self._accounts[account_id] = _Kept(placement, now + self.max_age)
        return placement

    def account_ids(self) -> list[str]:
        """Every account in the organization (ListAccounts; not cached: for the CLI)."""
        try:
            paginator = self.client().get_paginator("list_accounts")
            return sorted(a["Id"] for page in paginator.paginate() for a in page["Accounts"])
        except (ClientError, BotoCoreError) as error:
            raise OrganizationsUnavailable(
                "the organization's accounts", self.role_arn, error
            ) from error

    def _read(self, account_id: str, now: float) -> Placement:
        client = self.client()
        try:
            parent = client.list_parents(ChildId=account_id)["Parents"][0]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _NOT_IN_ORG:
                # Not in this organization (an aggregator's sample, another org): the file
                # alone describes it.
                return Placement(account_id)
            raise
        ous: list[tuple[str, str]] = []
        parent_id, is_root = parent["Id"], parent["Type"] == "ROOT"
        while not is_root:
            unit = self._unit(client, parent_id, now)
            ous.append((parent_id, unit.name))
            parent_id, is_root = unit.parent, unit.parent_is_root
        names = [ROOT_NAME, *(name for _, name in reversed(ous))]
        chain = tuple(
            OrgUnit(ou_id, "/".join(names[: len(names) - i])) for i, (ou_id, _) in enumerate(ous)
        )
        tags: dict[str, str] = {}
        for page in client.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id):
            tags.update((t["Key"], t["Value"]) for t in page["Tags"])
        name = client.describe_account(AccountId=account_id)["Account"].get("Name")
        return Placement(account_id, name=name, ous=chain, tags=tags)

    def _unit(self, client: Any, ou_id: str, now: float) -> _Unit:
        kept = self._units.get(ou_id)
        if kept is not None and now < kept.until:
            unit: _Unit = kept.value
            return unit
        name = client.describe_organizational_unit(OrganizationalUnitId=ou_id)[
            "OrganizationalUnit"
        ]["Name"]
        parent = client.list_parents(ChildId=ou_id)["Parents"][0]
        unit = _Unit(name, parent["Id"], parent["Type"] == "ROOT")
        self._units[ou_id] = _Kept(unit, now + self.max_age)
        return unit


def attach(
    policy: Policy,
    settings: Settings,
    *,
    session: Any = None,
    config: Config | None = None,
    clock: Callable[[], float] = time.time,
) -> Policy:
    """`policy` resolving accounts through Organizations if the settings name a role;
    unchanged (accounts.yaml alone) if they do not."""
    if not settings.org_role_arn:
        return policy
    role = RoleClient(
        settings.org_role_arn,
        external_id=settings.external_id,
        session=session,
        config=config,
        clock=clock,
    )
    directory = OrgDirectory(
        role.get,
        max_age=policy.accounts.org.cache_minutes * 60,
        clock=clock,
        role_arn=settings.org_role_arn,
    )
    return replace(policy, accounts=policy.accounts.attached(directory))


def load_resolved_policy(
    settings: Settings, *, session: Any = None, config: Config | None = None
) -> Policy:
    """The policy a function runs with: the live bundle's (`remedy.policy_live.loader`),
    resolving accounts through Organizations where the settings name a role (`attach`)."""
    from remedy.policy_live.loader import current_policy

    policy = current_policy(settings, session=session, config=config)
    return attach(policy, settings, session=session, config=config)
