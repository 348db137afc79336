"""A local ServiceNow Table API (incidents) on 127.0.0.1, for tests and ``remedy demo``.

It speaks the subset remedy uses (create an incident, query by ``correlation_id``, patch
work notes and state) and checks what it is sent: the API key header (401 otherwise),
JSON bodies, known incident states, the data policy that a Resolved incident (state 6)
names a close code and close notes, and that a Closed one (7) is read-only. Faults come
from `remedy.devtools.local_http`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from remedy.devtools.local_http import Answer, LocalServer, Request

TABLE = "/api/now/table/incident"
_RECORD = re.compile(re.escape(TABLE) + r"/([0-9a-f]{32})\Z")
_QUERY = re.compile(r"correlation_id=([^\^]+)\Z")
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


class ServiceNowServer(LocalServer):
    name: ClassVar[str] = "servicenow"

    def __init__(self, api_key: str = "local-servicenow-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.incidents: dict[str, Incident] = {}

    def by_number(self, number: str) -> Incident:
        with self.lock:
            return next(i for i in self.incidents.values() if i.number == number)

    def handle(self, request: Request) -> tuple[int, Any]:
        if request.headers.get("x-sn-apikey") != self.api_key:
            raise _error(401, "User Not Authenticated", "Required to provide Auth information")
        parts = urlsplit(request.path)
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
        if request.method != "PATCH":
            raise _error(405, "Method not Supported", f"{request.method} {parts.path}")
        return self._patch(self.incidents[match.group(1)], request.body)

    def _body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _error(400, "Exception while reading request", "The payload is not valid JSON.")
        return body

    def _create(self, body: Any) -> tuple[int, Any]:
        fields = self._body(body)
        incident = Incident(uuid.uuid4().hex, f"INC{10001 + len(self.incidents):07d}", dict(fields))
        self.incidents[incident.sys_id] = incident
        return 201, {"result": incident.record()}

    def _query(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        match = _QUERY.match(params.get("sysparm_query", [""])[0])
        if match is None:
            raise _error(400, "Invalid query", "this server answers correlation_id=<value> only")
        found = [
            i.record()
            for i in self.incidents.values()
            if i.fields.get("correlation_id") == match.group(1)
        ]
        limit = int(params.get("sysparm_limit", ["10000"])[0])
        return 200, {"result": found[:limit]}

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
