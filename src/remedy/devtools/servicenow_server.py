"""A local ServiceNow Table API (incidents) on 127.0.0.1, for tests and ``remedy demo``.

It speaks the subset remedy uses (create an incident, query by ``correlation_id``, patch
work notes and state, find an assignment group by name, an OAuth client-credentials
token from ``/oauth_token.do``) and checks what it is sent: the API key header or a
bearer token it issued and has not expired (401 otherwise), the token request as a
form with the client's id and secret, JSON bodies, known incident states, the data
policy that a Resolved incident (state 6) names a close code and close notes, and that a
Closed one (7) is read-only. Faults come from `remedy.devtools.local_http`.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from remedy.devtools.local_http import Answer, LocalServer, Request

TABLE = "/api/now/table/incident"
GROUPS = "/api/now/table/sys_user_group"
OAUTH_ENDPOINT = "/oauth_token.do"
_RECORD = re.compile(re.escape(TABLE) + r"/([0-9a-f]{32})\Z")
_QUERY = re.compile(r"correlation_id=([^\^]+)\Z")
_GROUP_QUERY = re.compile(r"name=([^\^]+)\Z")
#: New, In Progress, On Hold, Resolved, Closed, Canceled.
STATES = frozenset({"1", "2", "3", "6", "7", "8"})


def _error(status: int, message: str, detail: str) -> Answer:
    return Answer(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


@dataclass(slots=True)
class Incident:
    sys_id: str
    number: str
    fields: dict[str, Any]
    work_notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return str(self.fields.get("state", "1"))

    def record(self) -> dict[str, Any]:
        return {**self.fields, "sys_id": self.sys_id, "number": self.number, "state": self.state}


def _limit(params: dict[str, list[str]]) -> int:
    return int(params.get("sysparm_limit", ["10000"])[0])


class ServiceNowServer(LocalServer):
    name: ClassVar[str] = "servicenow"

    def __init__(
        self,
        api_key: str = "local-servicenow-key",
        *,
        client_id: str = "local-servicenow-client",
        client_secret: str = "local-servicenow-client-secret",  # noqa: S107 - a fake's
        token_lifetime: int = 1800,
        groups: Iterable[str] = ("Cloud Security",),
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.client_id = client_id
        self.client_secret = client_secret
        #: Seconds an issued token lives (its ``expires_in``).
        self.token_lifetime = token_lifetime
        self.groups = set(groups)
        self.incidents: dict[str, Incident] = {}
        #: Issued bearer tokens and when (monotonic) each ends.
        self.tokens: dict[str, float] = {}

    def expire_tokens(self) -> None:
        """End every token issued so far, as a revocation or an instance restart does."""
        with self.lock:
            self.tokens.clear()

    def by_number(self, number: str) -> Incident:
        with self.lock:
            return next(i for i in self.incidents.values() if i.number == number)

    def _authorised(self, request: Request) -> bool:
        if request.headers.get("x-sn-apikey") == self.api_key:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and self.tokens.get(token, 0.0) > time.monotonic()

    def handle(self, request: Request) -> tuple[int, Any]:
        parts = urlsplit(request.path)
        if parts.path == OAUTH_ENDPOINT and request.method == "POST":
            return self._token(request)
        if not self._authorised(request):
            raise _error(401, "User Not Authenticated", "Required to provide Auth information")
        if parts.path == GROUPS and request.method == "GET":
            return self._groups(parse_qs(parts.query))
        if parts.path == TABLE and request.method == "POST":
            return self._create(request.body)
        if parts.path == TABLE and request.method == "GET":
            return self._query(parse_qs(parts.query))
        match = _RECORD.match(parts.path)
        if match is None or match.group(1) not in self.incidents:
            raise _error(
                404,
                "No Record found",
                "Record doesn't exist or ACL restricts the record retrieval",
            )
        incident = self.incidents[match.group(1)]
        if request.method == "GET":
            record = incident.record()
            wanted = parse_qs(parts.query).get("sysparm_fields", [""])[0]
            if wanted:
                record = {k: v for k, v in record.items() if k in wanted.split(",")}
            return 200, {"result": record}
        if request.method != "PATCH":
            raise _error(405, "Method not Supported", f"{request.method} {parts.path}")
        return self._patch(incident, request.body)

    def _body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _error(400, "Exception while reading request", "The payload is not valid JSON.")
        return body

    def _create(self, body: Any) -> tuple[int, Any]:
        fields = self._body(body)
        incident = Incident(uuid.uuid4().hex, f"INC{10001 + len(self.incidents):07d}", dict(fields))
        self.incidents[incident.sys_id] = incident
        return 201, {"result": incident.record()}

    def _token(self, request: Request) -> tuple[int, Any]:
        """The client-credentials grant, as ServiceNow answers it (a bad client: 401)."""
        form = parse_qs(request.body) if isinstance(request.body, str) else {}
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded" or form.get(
            "grant_type"
        ) != ["client_credentials"]:
            raise Answer(400, {"error_description": "invalid_request", "error": "server_error"})
        if form.get("client_id") != [self.client_id] or form.get("client_secret") != [
            self.client_secret
        ]:
            raise Answer(401, {"error_description": "access_denied", "error": "server_error"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        return 200, {
            "access_token": token,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }

    def _query(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        query = params.get("sysparm_query", [""])[0]
        match = _QUERY.match(query)
        if query and match is None:
            raise _error(400, "Invalid query", "this server answers correlation_id=<value> only")
        found = [
            i.record()
            for i in self.incidents.values()
            if match is None or i.fields.get("correlation_id") == match.group(1)
        ]
        return 200, {"result": found[: _limit(params)]}

    def _groups(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        match = _GROUP_QUERY.match(params.get("sysparm_query", [""])[0])
        if match is None:
            raise _error(400, "Invalid query", "this server answers name=<group> only")
        found = [
            {"sys_id": uuid.uuid5(uuid.NAMESPACE_OID, name).hex, "name": name}
            for name in sorted(self.groups)
            if name == match.group(1)
        ]
        return 200, {"result": found[: _limit(params)]}

    def _patch(self, incident: Incident, body: Any) -> tuple[int, Any]:
        # A copy: the request stays in `requests` as it was sent.
        fields = dict(self._body(body))
        if incident.state == "7":
            raise _error(403, "Operation Failed", "A Closed incident cannot be changed")
        if "state" in fields and str(fields["state"]) not in STATES:
            raise _error(400, "Invalid state", f"{fields['state']!r} is not an incident state")
        if str(fields.get("state")) == "6" and not (
            fields.get("close_code") and fields.get("close_notes")
        ):
            raise _error(
                403,
                "Operation Failed",
                "Data Policy Exception: the following fields are mandatory: "
                "Resolution code, Resolution notes",
            )
        note = fields.pop("work_notes", None)
        if note:
            incident.work_notes.append(str(note))
        incident.fields.update(fields)
        return 200, {"result": incident.record()}
