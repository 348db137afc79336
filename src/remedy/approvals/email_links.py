"""Signed, expiring, single-use links that let an account's owners decide from their email.

A link is ``<public URL>/approve?token=<token>``. The token is ``<payload>.<mac>``, both
base64url without padding: the payload is compact JSON naming the finding key (``k``), the
decision (``d``: approve or dismiss), the expiry in epoch seconds (``e``) and a random
nonce (``n``); the MAC is HMAC-SHA256 over the encoded payload with a key kept in Secrets
Manager (`LinkKey`). Verification checks the MAC in constant time before it reads a byte
of the payload, then the expiry: an altered token, one signed with another (or a replaced)
key, and an expired one are each refused with a message that says what to do.

One owners' email carries a pair of links, approve and dismiss, that share their nonce
and expiry. Single use comes from the ledger, not from the link: the decision is a
conditional write that only a PENDING_APPROVAL entry accepts, and it records the nonce
(``attrs["email_link"]``), so a link used before is told when it was used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from remedy.errors import RemedyError
from remedy.ledger.base import Entry, State
from remedy.settings import Settings

APPROVE = "approve"
DISMISS = "dismiss"
#: The state each link's decision moves a pending entry to.
TARGETS: Mapping[str, State] = {APPROVE: State.APPROVED, DISMISS: State.DISMISSED}
#: The path the HTTP API serves the page on (template.yaml, EmailApprovalFunction).
PATH = "/approve"
#: Seconds a fetched key is reused: a rotation is picked up within this long.
KEY_CACHE_SECONDS = 300
MIN_KEY_CHARS = 32
#: Far longer than any token remedy issues; longer input is refused before any work.
MAX_TOKEN_CHARS = 1024

# Binds the MAC to this use and format, so no other HMAC made with the key can pass.
_DOMAIN = b"remedy-approval-link.v1."
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class LinkError(RemedyError):
    """A link the page refuses; `str()` is the message the page shows."""

    status = 400
    title = "This link cannot be used"


class MalformedLink(LinkError):
    def __init__(self) -> None:
        super().__init__(
            "This link is incomplete or damaged. Nothing was changed. Open it again from the "
            "email; if your mail program split it across lines, copy the whole link."
        )


class ForgedLink(LinkError):
    status = 403
    title = "This link is not valid"

    def __init__(self) -> None:
        super().__init__(
            "This link's signature does not match: it was altered, or it was signed with a "
            "key that has since been replaced. Nothing was changed. Use the link from the "
            "latest email about this finding, or decide in Slack."
        )


class ExpiredLink(LinkError):
    status = 410
    title = "This link has expired"

    def __init__(self, expired_at: int) -> None:
        self.expired_at = expired_at
        super().__init__(
            f"This link expired at {when(expired_at)}. Nothing was changed. Decide in Slack, "
            "or ask the security team to request the approval again."
        )


class LinkKeyError(RemedyError):
    """The link key's secret is missing, unreadable or too short."""


def when(epoch: float) -> str:
    """A moment as people read it in the page and the email: ``2026-11-23 14:05 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Claims:
    key: str
    decision: str
    expires: int
    nonce: str

    @property
    def target(self) -> State:
        return TARGETS[self.decision]

    def other(self, decision: str) -> Claims:
        """The sibling link of the same email (same nonce and expiry)."""
        return replace(self, decision=decision)


@dataclass(frozen=True, slots=True)
class ApprovalLinks:
    approve: str
    dismiss: str
    #: When both stop working, as `when` writes it.
    expires: str


class LinkKey:
    """The HMAC key, read from Secrets Manager by ARN and cached (Powertools' provider)."""

    def __init__(
        self, secret_arn: str, *, client: Any = None, max_age: int = KEY_CACHE_SECONDS
    ) -> None:
        if not secret_arn:
            raise LinkKeyError(
                "no email-link key configured: set REMEDY_LINK_SECRET_ARN to the secret's ARN"
            )
        self.secret_arn = secret_arn
        self.max_age = max_age
        self._provider = SecretsProvider(boto3_client=client) if client else SecretsProvider()

    def __call__(self) -> bytes:
        try:
            value = self._provider.get(self.secret_arn, max_age=self.max_age)
        except GetParameterError:
            raise LinkKeyError(
                f"cannot read the email-link key {self.secret_arn}: check the ARN and that the "
                "function may call secretsmanager:GetSecretValue on it"
            ) from None
        if not isinstance(value, str) or len(value.strip()) < MIN_KEY_CHARS:
            raise LinkKeyError(
                f"email-link key {self.secret_arn} holds fewer than {MIN_KEY_CHARS} characters: "
                "store a long random string (docs/notifications.md, Approval by email)"
            )
        return value.strip().encode("utf-8")


def new_nonce() -> str:
    """96 random bits: one per owners' email, shared by its two links."""
    return secrets.token_urlsafe(12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise MalformedLink()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise MalformedLink() from None


class LinkSigner:
    """Issues and checks link tokens with the key `key` returns."""

    def __init__(
        self,
        key: Callable[[], bytes],
        *,
        base_url: str = "",
        ttl_seconds: int = 72 * 3600,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._nonce = nonce or new_nonce

    @classmethod
    def from_settings(cls, settings: Settings, *, client: Any = None) -> LinkSigner | None:
        """The signer the owners' emails use; None (no links) unless both the key's secret
        and the public URL are configured."""
        if not settings.link_secret_arn or not settings.public_url:
            return None
        return cls(
            LinkKey(settings.link_secret_arn, client=client),
            base_url=settings.public_url,
            ttl_seconds=settings.link_ttl_hours * 3600,
        )

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key(), _DOMAIN + payload.encode(), hashlib.sha256).digest())

    def sign(self, claims: Claims) -> str:
        body = {"k": claims.key, "d": claims.decision, "e": claims.expires, "n": claims.nonce}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> Claims:
        """The claims of a genuine, unexpired token; `LinkError` otherwise."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise MalformedLink()
        payload, mac = token.split(".")
        _unb64(mac)
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode()):
            raise ForgedLink()
        try:
            body = json.loads(_unb64(payload))
            claims = Claims(body["k"], body["d"], body["e"], body["n"])
        except (ValueError, TypeError, KeyError):
            raise MalformedLink() from None
        if (
            not isinstance(claims.key, str)
            or not claims.key
            or not isinstance(claims.decision, str)
            or claims.decision not in TARGETS
            or type(claims.expires) is not int
            or not isinstance(claims.nonce, str)
        ):
            raise MalformedLink()
        if self.clock() >= claims.expires:
            raise ExpiredLink(claims.expires)
        return claims

    def issue(self, key: str) -> Claims:
        """Fresh approve claims for `key`; `Claims.other` gives the dismiss sibling."""
        return Claims(key, APPROVE, int(self.clock()) + self.ttl_seconds, self._nonce())

    def url(self, claims: Claims) -> str:
        return f"{self.base_url}{PATH}?token={self.sign(claims)}"

    def links(self, entry: Entry) -> ApprovalLinks:
        """The approve and dismiss links for a pending entry's owners' email."""
        claims = self.issue(entry.key)
        return ApprovalLinks(
            approve=self.url(claims),
            dismiss=self.url(claims.other(DISMISS)),
            expires=when(claims.expires),
        )
