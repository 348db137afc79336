"""A local Jira Cloud REST API v3 on 127.0.0.1, for tests and ``remedy demo``.

It speaks the subset remedy uses (create an issue, search by label, comment, list and
take transitions, link issues, read an issue back; for ``remedy doctor``, who the token
signs in as and whether a project exists) and checks what it is sent as Jira does: basic
auth with the configured email and API token (401 otherwise), a known project and issue
type, a summary without line breaks, an Atlassian Document Format description and
comments, labels without spaces, only the transitions out of the issue's current status.
Faults come from `remedy.devtools.local_http`.

Usage::

    with JiraServer(projects={"SEC"}) as jira:
        ...  # settings.jira_site = jira.url; the secret holds jira.email, jira.api_token
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from remedy.devtools.local_http import Answer, LocalServer, Request

ISSUE_TYPES = frozenset({"Task", "Bug", "Story"})
#: The workflow every project has here: any status to any other (Done back to To Do
#: reopens), as Jira's default simplified workflow.
TRANSITIONS: tuple[dict[str, Any], ...] = (
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {
        "id": "21",
        "name": "In Progress",
        "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    },
    {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
)
_UNAUTHENTICATED = "Client must be authenticated to access this resource."
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
_ISSUE = re.compile(r"/rest/api/3/issue/([A-Z][A-Z0-9_]*-\d+)(/comment|/transitions)?\Z")
#: Each status's category, as Jira answers it in ``fields.status``.
_CATEGORY = {t["to"]["name"]: t["to"]["statusCategory"] for t in TRANSITIONS}
_LABEL_QUERY = re.compile(r'labels = "([^"\s]+)"\Z')
_PROJECT = re.compile(r"/rest/api/3/project/([^/]+)\Z")


@dataclass(slots=True)
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def text_of_comments(self) -> list[str]:
        return [adf_text(c) for c in self.comments]


def adf_text(doc: Any) -> str:
    """The text of an ADF document, a line per paragraph."""
    return "\n".join(
        "".join(node.get("text", "") for node in paragraph.get("content", ()))
        for paragraph in doc.get("content", ())
    )


#: Jira's limit on a text field, checked on the document as sent (the strictest reading).
TEXT_LIMIT = 32_767


def _adf_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "Operation value must be an Atlassian Document (type doc, version 1)."
    if len(json.dumps(doc)) > TEXT_LIMIT:
        return "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
    for paragraph in doc.get("content", ()):
        if paragraph.get("type") != "paragraph":
            return f"unsupported node {paragraph.get('type')!r}"
        for node in paragraph.get("content", ()):
            if node.get("type") != "text" or not node.get("text"):
                return "a text node needs non-empty text"
    return None


class JiraServer(LocalServer):
    name: ClassVar[str] = "jira"

    def __init__(
        self,
        projects: Iterable[str] = ("SEC",),
        *,
        email: str = "remedy@example.com",
        api_token: str = "local-jira-token",  # noqa: S107 - a fake's
    ) -> None:
        super().__init__()
        self.projects = set(projects)
        self.email = email
        self.api_token = api_token
        self.issues: dict[str, Issue] = {}
        #: Issues ever made per project: Jira never gives a deleted issue's key again.
        self.numbers: dict[str, int] = {}

    def issue(self, key: str) -> Issue:
        with self.lock:
            return self.issues[key]

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def handle(self, request: Request) -> tuple[int, Any]:
        if not self._authorised(request):
            raise Answer(401, {"errorMessages": [_UNAUTHENTICATED]})
        path, body = request.path, request.body
        if request.method == "POST" and path == "/rest/api/3/issue":
            return self._create(body)
        if request.method == "POST" and path == "/rest/api/3/search/jql":
            return self._search(body)
        if request.method == "POST" and path == "/rest/api/3/issueLink":
            return self._link(body)
        if request.method == "GET" and path == "/rest/api/3/myself":
            return 200, {"accountId": "5b10a2844c20165700ede21g", "emailAddress": self.email}
        project = _PROJECT.match(path)
        if request.method == "GET" and project is not None:
            if project.group(1) not in self.projects:
                missing = f"No project could be found with key '{project.group(1)}'."
                raise Answer(404, {"errorMessages": [missing], "errors": {}})
            return 200, {"key": project.group(1), "name": project.group(1)}
        match = _ISSUE.match(urlsplit(path).path)
        if match is None:
            raise Answer(404, {"errorMessages": [f"no route {request.method} {path}"]})
        issue = self.issues.get(match.group(1))
        if issue is None:
            raise Answer(404, {"errorMessages": [_NO_ISSUE]})
        tail = match.group(2)
        if tail == "/comment" and request.method == "POST":
            problem = _adf_problem((body or {}).get("body"))
            if problem:
                raise Answer(400, {"errorMessages": [], "errors": {"comment": problem}})
            issue.comments.append(body["body"])
            return 201, {"id": str(len(issue.comments)), "body": body["body"]}
        offered = [t for t in TRANSITIONS if t["to"]["name"] != issue.status]
        if tail == "/transitions" and request.method == "GET":
            return 200, {"transitions": [dict(t) for t in offered]}
        if tail == "/transitions" and request.method == "POST":
            wanted = ((body or {}).get("transition") or {}).get("id")
            for transition in offered:
                if transition["id"] == wanted:
                    issue.status = str(transition["to"]["name"])
                    return 204, None
            invalid = f"Transition id '{wanted}' is not valid for this issue."
            raise Answer(400, {"errorMessages": [invalid]})
        if tail is None and request.method == "GET":
            return 200, self._issue_json(issue)
        raise Answer(405, {"errorMessages": [f"{request.method} not allowed on {path}"]})

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.url}/rest/api/3/issue/{issue.id}",
            "fields": {
                **issue.fields,
                "status": {"name": issue.status, "statusCategory": _CATEGORY[issue.status]},
            },
        }

    def _create(self, body: Any) -> tuple[int, Any]:
        fields = (body or {}).get("fields") or {}
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "The issue type selected is invalid."
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary.encode("utf-16-le")) // 2 > 255:  # Java's String.length()
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        if "description" in fields and _adf_problem(fields["description"]):
            errors["description"] = str(_adf_problem(fields["description"]))
        labels = fields.get("labels", [])
        if any(not isinstance(label, str) or re.search(r"\s", label) for label in labels):
            errors["labels"] = "The label can't contain spaces."
        if errors:
            raise Answer(400, {"errorMessages": [], "errors": errors})
        key = str(project)
        number = self.numbers[key] = self.numbers.get(key, 0) + 1
        issue = Issue(str(10000 + sum(self.numbers.values())), f"{key}-{number}", dict(fields))
        self.issues[issue.key] = issue
        return 201, {"id": issue.id, "key": issue.key, "self": self._issue_json(issue)["self"]}

    def _search(self, body: Any) -> tuple[int, Any]:
        match = _LABEL_QUERY.match((body or {}).get("jql", ""))
        if match is None:
            raise Answer(400, {"errorMessages": ['this server answers only labels = "..."']})
        found = [
            {"id": i.id, "key": i.key, "self": self._issue_json(i)["self"]}
            for i in self.issues.values()
            if match.group(1) in i.fields.get("labels", ())
        ]
        return 200, {"issues": found[: int(body.get("maxResults", 50))]}

    def _link(self, body: Any) -> tuple[int, Any]:
        inward = ((body or {}).get("inwardIssue") or {}).get("key")
        outward = ((body or {}).get("outwardIssue") or {}).get("key")
        if inward not in self.issues or outward not in self.issues:
            raise Answer(404, {"errorMessages": ["Issue does not exist"]})
        self.issues[inward].links.append(outward)
        return 201, None
