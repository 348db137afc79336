"""Credentials in member accounts: the remediation role, assumed with the ExternalId.

One boto3 Session per member account, kept until five minutes before its credentials
expire, and one client per (service, account, region) on top of it, so a warm Lambda
makes no STS call and builds no client for the next finding in an account it has seen.

The RoleSessionName carries the key of the finding that opened the session, so CloudTrail
in the member account shows which finding the role was assumed for. Later findings in the
same account reuse the session until it is refreshed; the ledger is the record of which
finding every change belongs to.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from remedy.errors import RemedyError
from remedy.settings import Settings

#: Refresh this long before the credentials expire, so no call starts on dying credentials.
REFRESH_MARGIN_SECONDS = 300.0
SESSION_SECONDS = 3600
_SESSION_NAME_MAX = 64
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")
# Standard retry mode: exponential back-off with jitter on throttling and 5xx.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


class AssumeRoleFailed(RemedyError):
    """The core could not assume the remediation role in a member account."""

    def __init__(self, role_arn: str, code: str, message: str) -> None:
        self.role_arn = role_arn
        self.code = code
        super().__init__(
            f"cannot assume {role_arn} ({code}: {message}); check that the member stack is "
            "deployed in that account, trusts this core role and has the same ExternalId"
        )


def role_session_name(finding_key: str) -> str:
    """``remedy-<finding key>``: at most 64 characters of ``[A-Za-z0-9+=,.@_-]``."""
    return _SESSION_NAME_BAD.sub("_", f"remedy-{finding_key}")[:_SESSION_NAME_MAX]


@dataclass(slots=True)
class _Cached:
    session: boto3.Session
    refresh_at: float
    clients: dict[tuple[str, str], Any]


class AccountSessions:
    """boto3 Sessions and clients acting as the remediation role in member accounts.

    `sts` is the core account's STS client (the remediator's own credentials); `clock`
    returns epoch seconds.
    """

    def __init__(
        self,
        settings: Settings,
        sts: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        client_config: Config = CLIENT_CONFIG,
    ) -> None:
        if not settings.external_id:
            raise RemedyError(
                "REMEDY_EXTERNAL_ID is empty: the core must pass the ExternalId the member "
                "stacks require (the core stack's ExternalId parameter)"
            )
        self.settings = settings
        self.sts = sts if sts is not None else boto3.client("sts", config=client_config)
        self.clock = clock
        self.client_config = client_config
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        # One loader for every account's session: the service models (S3's is large) are
        # read from disk once per container, not once per member account.
        self._loader = botocore.session.get_session().get_component("data_loader")

    def session(self, account: str, *, finding_key: str) -> boto3.Session:
        return self._cached(account, finding_key).session

    def client(self, service: str, account: str, region: str, *, finding_key: str) -> Any:
        """A client for `service` in `region`, acting as the remediation role in `account`."""
        cached = self._cached(account, finding_key)
        with self._lock:
            client = cached.clients.get((service, region))
            if client is None:
                client = cached.session.client(
                    service, region_name=region, config=self.client_config
                )
                cached.clients[(service, region)] = client
            return client

    def _cached(self, account: str, finding_key: str) -> _Cached:
        with self._lock:
            cached = self._cache.get(account)
            if cached is not None and self.clock() < cached.refresh_at:
                return cached
            cached = self._assume(account, finding_key)
            self._cache[account] = cached
            return cached

    def _assume(self, account: str, finding_key: str) -> _Cached:
        role_arn = self.settings.remediation_role_arn(account)
        try:
            response = self.sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=role_session_name(finding_key),
                ExternalId=self.settings.external_id,
                DurationSeconds=SESSION_SECONDS,
            )
        except ClientError as error:
            err = error.response.get("Error", {})
            raise AssumeRoleFailed(
                role_arn, err.get("Code", "Unknown"), err.get("Message", "")
            ) from error
        creds = response["Credentials"]
        core = botocore.session.Session()
        core.register_component("data_loader", self._loader)
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            botocore_session=core,
        )
        expires = creds["Expiration"].timestamp()
        return _Cached(session, expires - REFRESH_MARGIN_SECONDS, {})
