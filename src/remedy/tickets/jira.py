"""Jira Cloud through REST API v3: one issue per occurrence, commented and resolved.

Authentication is an Atlassian API token (basic auth with the account's email), held in
Secrets Manager as ``{"email": "...", "api_token": "..."}``. The site is the core
stack's ``JiraSite`` (``https://<name>.atlassian.net``); every call goes there, redirects
are refused, and an answer pointing elsewhere is an error. Each issue carries the
occurrence's token as a label, so a create whose answer was lost is found again
(`find`) instead of being made twice.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from remedy.tickets.http import RestBackend, RestClient
from remedy.tickets.registry import Draft, TicketError, TicketGone, TicketRef, register

if TYPE_CHECKING:
    pass

DOMAIN = "atlassian.net"
DEFAULT_ISSUE_TYPE = "Task"
SUMMARY_LIMIT = 255
_PRIORITY = {"CRITICAL": "Highest", "HIGH": "High", "MEDIUM": "Medium", "LOW": "Low"}


#: Jira Cloud refuses a description or comment over 32,767 characters ("The entered text
#: is too long"), and the ticket would stay owed. Counted here on the document as sent
#: (JSON, non-ASCII escaped), the strictest reading of that limit.
TEXT_LIMIT = 32_767
#: A single line is cut to this many UTF-16 units, so one long line (an S3 key, a note)
#: cannot push out the lines after it.
LINE_LIMIT = 2_000
CUT = "(cut to Jira's limit of 32,767 characters: remedy history holds the whole text)"


def _paragraph(line: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": line}]}


def _cut(text: str, units: int) -> str:
    """`text` cut to `units` UTF-16 units (Java's length: an emoji counts two)."""
    cut = text.encode("utf-16-le")[: 2 * units]
    return cut.decode("utf-16-le", errors="ignore")  # a pair cut in half is dropped


def document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document, a paragraph per line, within
    `TEXT_LIMIT`: whole lines from the start (the entry, the finding and the decision
    come first), then `CUT`."""
    room = TEXT_LIMIT - len(json.dumps(_paragraph(CUT))) - len(json.dumps(_document([])))
    content = []
    for line in text.splitlines():
        if not line.strip():
            continue
        paragraph = _paragraph(_cut(line, LINE_LIMIT))
        room -= len(json.dumps(paragraph)) + 2  # the separator ", "
        if room < 0:
            content.append(_paragraph(CUT))
            break
        content.append(paragraph)
    return _document(content)


def _document(content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": content}


def summary(text: str) -> str:
    """`text` as a summary Jira takes: one line (a finding's title may hold a line break),
    at most `SUMMARY_LIMIT` UTF-16 units."""
    return _cut(" ".join(text.split()), SUMMARY_LIMIT)


@register("jira")
class JiraBackend(RestBackend):
    target_field = "project"
    what = "Jira"
    domain = DOMAIN
    stack_parameter = "JiraSite"
    site_setting = "jira_site"
    arn_setting = "jira_secret_arn"
    secret_shapes = (("email", "api_token"),)

    def _connect(self, site: str, secret: Mapping[str, str]) -> RestClient:
        pair = f"{secret['email']}:{secret['api_token']}".encode()
        basic = "Basic " + base64.b64encode(pair).decode()
        return RestClient(site, {"Authorization": basic}, what="Jira")

    def probe(self) -> str:
        answer = self.client.call("GET", "/rest/api/3/myself")
        who = (
            answer.get("emailAddress") or answer.get("displayName")
            if isinstance(answer, dict)
            else None
        )
        return f"signed in as {who or 'an account with no name'}"

    def has_target(self, target: str) -> bool:
        try:
            self.client.call("GET", f"/rest/api/3/project/{quote(target, safe='')}")
        except TicketError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _ref(self, answer: Any) -> TicketRef:
        if not isinstance(answer, dict) or not isinstance(answer.get("key"), str):
            raise TicketError(f"Jira answered without an issue key: {str(answer)[:200]}")
        link = answer.get("self")
        site = self.client.site
        if isinstance(link, str) and urlsplit(link).netloc != urlsplit(site).netloc:
            raise TicketError(
                f"Jira answered with an issue on {urlsplit(link).netloc}, not the configured "
                f"site {urlsplit(site).netloc}; check JiraSite"
            )
        return TicketRef("jira", answer["key"], f"{site}/browse/{answer['key']}")

    def create(self, draft: Draft) -> TicketRef:
        fields: dict[str, Any] = {
            "project": {"key": draft.target["project"]},
            "issuetype": {"name": draft.target.get("issue_type", DEFAULT_ISSUE_TYPE)},
            "summary": summary(draft.summary),
            "description": document(draft.description),
            "labels": ["remedy", draft.token],
        }
        if draft.severity in _PRIORITY:
            fields["priority"] = {"name": _PRIORITY[draft.severity]}
        ref = self._ref(self.client.call("POST", "/rest/api/3/issue", {"fields": fields}))
        if draft.previous is not None and draft.previous.backend == "jira":
            self.client.call(
                "POST",
                "/rest/api/3/issueLink",
                {
                    "type": {"name": "Relates"},
                    "inwardIssue": {"key": ref.id},
                    "outwardIssue": {"key": draft.previous.id},
                },
            )
        return ref

    def find(self, draft: Draft) -> TicketRef | None:
        answer = self.client.call(
            "POST",
            "/rest/api/3/search/jql",
            {"jql": f'labels = "{draft.token}"', "fields": ["key"], "maxResults": 1},
        )
        issues = answer.get("issues") if isinstance(answer, dict) else None
        return self._ref(issues[0]) if issues else None

    def _on(self, ref: TicketRef, method: str, tail: str, body: Any = None) -> Any:
        """A call to issue `ref`'s resource `tail`; Jira's 404 (deleted, or no longer visible
        to remedy's user) is `TicketGone`."""
        try:
            return self.client.call(method, f"/rest/api/3/issue/{ref.id}{tail}", body)
        except TicketError as error:
            if error.status == 404:
                raise TicketGone(str(error), exists=False, status=404) from None
            raise

    def comment(self, ref: TicketRef, text: str) -> None:
        self._on(ref, "POST", "/comment", {"body": document(text)})

    def resolve(self, ref: TicketRef, text: str) -> None:
        # The transition is found before the comment: when there is none (or the listing
        # fails), a retry from the outbox adds no second comment. (A comment sent with the
        # transition is dropped by Jira when the transition has no screen.)
        self._transition(ref, done=True, comment=text)

    def reopen(self, ref: TicketRef, text: str) -> None:
        answer = self._on(ref, "GET", "?fields=status")
        status = ((answer or {}).get("fields") or {}).get("status") or {}
        if (status.get("statusCategory") or {}).get("key") == "done":
            self._transition(ref, done=False)
        self.comment(ref, text)

    def _transition(self, ref: TicketRef, *, done: bool, comment: str | None = None) -> None:
        """Take the first transition Jira offers into (or, `done` false, out of) a done
        status category, after the `comment` if one is given."""
        answer = self._on(ref, "GET", "/transitions")
        for transition in (answer or {}).get("transitions", ()):
            category = transition.get("to", {}).get("statusCategory", {}).get("key")
            if (category == "done") == done:
                if comment is not None:
                    self.comment(ref, comment)
                self.client.call(
                    "POST",
                    f"/rest/api/3/issue/{ref.id}/transitions",
                    {"transition": {"id": transition["id"]}},
                )
                return
        where = "to a done status" if done else "out of its done status"
        raise TicketError(
            f"Jira offers {ref.id} no transition {where}: give the project's workflow one the "
            "remedy user may take"
        )
