"""A `RestClient` signed with an OAuth 2.0 bearer token from the client-credentials grant.

The token comes from the site's own token endpoint (ServiceNow's ``/oauth_token.do``),
the client id and secret sent as a form, never in the URL. It is kept in memory only,
until shortly before the ``expires_in`` the endpoint gave; a call refused with 401 (the
token revoked or expired early) fetches a new one and is sent once more.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from remedy.tickets.http import RestClient
from remedy.tickets.registry import TicketError

#: Seconds before the token's end it is fetched anew, so no call carries a dying token.
MARGIN = 60.0
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class OAuthClient(RestClient):
    def __init__(
        self, site: str, client_id: str, client_secret: str, *, what: str, token_path: str
    ) -> None:
        super().__init__(site, {}, what=what)
        self._grant = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            }
        ).encode()
        self._token_path = token_path
        self._until = 0.0

    def __repr__(self) -> str:
        return f"OAuthClient({self.site!r})"

    def _fetch(self) -> None:
        self._headers.pop("Authorization", None)
        answer = self.send("POST", self._token_path, self._grant, _FORM)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TicketError(
                f"{self.what} POST {self._token_path}: the answer has no access_token"
            )
        try:
            seconds = float(answer.get("expires_in", 0))
        except (TypeError, ValueError):
            seconds = 0.0  # No lifetime we can read: a new token for every call.
        self._headers["Authorization"] = f"Bearer {token}"
        self._until = time.monotonic() + seconds - MARGIN

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        fetched = "Authorization" not in self._headers or time.monotonic() >= self._until
        if fetched:
            self._fetch()
        try:
            return super().call(method, path, body)
        except TicketError:
            if fetched or not self.refused:
                raise
        # Refused with a token we held: it ended early. One new token, one more try.
        self.refused = False
        self._fetch()
        return super().call(method, path, body)
