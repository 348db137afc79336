"""ServiceNow incidents through the Table API: one per occurrence, work notes, resolved.

Authentication is a ServiceNow API key (``x-sn-apikey``) or an OAuth client (the
client-credentials grant, `remedy.tickets.oauth`), held in Secrets Manager as
``{"api_key": "..."}`` or ``{"client_id": "...", "client_secret": "..."}``. The instance
is the core stack's ``ServiceNowInstance`` (``https://<name>.service-now.com``); every
call, the token's too, goes there and redirects are refused.
The occurrence's token is the incident's ``correlation_id``, so an incident whose answer
was lost is found again (`find`) instead of being opened twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from remedy.tickets.http import RestBackend, RestClient
from remedy.tickets.oauth import OAuthClient
from remedy.tickets.registry import Draft, TicketError, TicketGone, TicketRef, register

if TYPE_CHECKING:
    pass

DOMAIN = "service-now.com"
TABLE = "/api/now/table/incident"
GROUPS = "/api/now/table/sys_user_group"
OAUTH_ENDPOINT = "/oauth_token.do"
#: What the secret may hold: an API key, or an OAuth client's id and secret.
API_KEY = ("api_key",)
OAUTH_CLIENT = ("client_id", "client_secret")
#: Incident state 6 is Resolved; resolving needs a close code and notes.
RESOLVED = "6"
#: Incident state 2, In Progress: where a reopened incident goes.
IN_PROGRESS = "2"
CLOSE_CODE = "Solved (Permanently)"
#: States an incident does not come back from: ServiceNow keeps a Closed one read-only, and
#: closes a Resolved one itself after a week by default (glide.ui.autoclose.time).
FINAL = {"7": "Closed", "8": "Canceled"}
#: Impact and urgency (1 high .. 3 low) from the finding's severity.
_LEVEL = {"CRITICAL": "1", "HIGH": "1", "MEDIUM": "2"}
#: ServiceNow renders ``[code]...[/code]`` in a journal field (work notes) as HTML, and
#: the text holds what a member account names (an object's key): the tags are made inert.
_CODE_TAG = re.compile(r"\[(/?code)\]", re.IGNORECASE)


def inert(text: str) -> str:
    return _CODE_TAG.sub(r"(\1)", text)


@register("servicenow")
class ServiceNowBackend(RestBackend):
    target_field = "assignment_group"
    what = "ServiceNow"
    domain = DOMAIN
    stack_parameter = "ServiceNowInstance"
    site_setting = "servicenow_instance"
    arn_setting = "servicenow_secret_arn"
    secret_shapes = (API_KEY, OAUTH_CLIENT)

    def _connect(self, site: str, secret: Mapping[str, str]) -> RestClient:
        if "api_key" in secret:
            return RestClient(site, {"x-sn-apikey": secret["api_key"]}, what="ServiceNow")
        return OAuthClient(
            site,
            secret["client_id"],
            secret["client_secret"],
            what="ServiceNow",
            token_path=OAUTH_ENDPOINT,
        )

    def probe(self) -> str:
        # Reading one incident proves both the credentials and the role remedy needs.
        self.client.call("GET", f"{TABLE}?sysparm_limit=1&sysparm_fields=sys_id")
        how = "an OAuth client" if isinstance(self.client, OAuthClient) else "an API key"
        return f"signed in with {how}, incidents readable"

    def has_target(self, target: str) -> bool:
        query = quote(f"name={target}")
        answer = self.client.call(
            "GET", f"{GROUPS}?sysparm_query={query}&sysparm_limit=1&sysparm_fields=sys_id"
        )
        return isinstance(answer, dict) and bool(answer.get("result"))

    def _ref(self, answer: Any) -> TicketRef:
        record = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(record, list):
            record = record[0] if record else None
        if not isinstance(record, dict) or not record.get("sys_id") or not record.get("number"):
            raise TicketError(f"ServiceNow answered without an incident: {str(answer)[:200]}")
        sys_id = str(record["sys_id"])
        url = f"{self.client.site}/nav_to.do?uri=incident.do%3Fsys_id%3D{sys_id}"
        return TicketRef("servicenow", str(record["number"]), url, sys_id)

    def create(self, draft: Draft) -> TicketRef:
        level = _LEVEL.get(draft.severity, "3")
        body = {
            "short_description": inert(draft.summary)[:160],
            "description": inert(draft.description),
            "assignment_group": draft.target["assignment_group"],
            "impact": level,
            "urgency": level,
            "correlation_id": draft.token,
            "correlation_display": "remedy",
        }
        if draft.previous is not None and draft.previous.backend == "servicenow":
            # The incident before it: a reference people can follow.
            body["parent_incident"] = draft.previous.ref
        return self._ref(self.client.call("POST", TABLE, body))

    def find(self, draft: Draft) -> TicketRef | None:
        query = quote(f"correlation_id={draft.token}")
        answer = self.client.call(
            "GET", f"{TABLE}?sysparm_query={query}&sysparm_limit=1&sysparm_fields=sys_id,number"
        )
        if not isinstance(answer, dict) or not answer.get("result"):
            return None
        return self._ref(answer)

    def _change(self, ref: TicketRef, fields: Mapping[str, str]) -> None:
        try:
            self.client.call("PATCH", f"{TABLE}/{ref.ref}", fields)
        except TicketError as error:
            if error.status in (403, 404):
                # Refused: if the incident is gone or final, say so (`TicketGone`).
                self._check_not_final(ref, error)
            raise

    def _check_not_final(self, ref: TicketRef, refused: TicketError) -> None:
        try:
            answer = self.client.call("GET", f"{TABLE}/{ref.ref}?sysparm_fields=state")
        except TicketError as error:
            if error.status == 404:
                raise TicketGone(str(error), exists=False, status=404) from None
            raise refused from None
        record = answer.get("result") if isinstance(answer, dict) else None
        state = str(record.get("state", "")) if isinstance(record, dict) else ""
        if state in FINAL:
            raise TicketGone(
                f"{refused}: {ref.id} is {FINAL[state]} ({state}), read-only in ServiceNow",
                exists=True,
                status=refused.status,
            ) from None

    def comment(self, ref: TicketRef, text: str) -> None:
        self._change(ref, {"work_notes": inert(text)})

    def resolve(self, ref: TicketRef, text: str) -> None:
        self._change(ref, {"state": RESOLVED, "close_code": CLOSE_CODE, "close_notes": text})

    def reopen(self, ref: TicketRef, text: str) -> None:
        self._change(ref, {"state": IN_PROGRESS, "work_notes": text})
