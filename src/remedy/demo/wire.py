"""What remedy asked AWS, read from the requests moto's recorder kept.

moto does not enforce trust policies and cannot run a Lambda function without Docker; the
requests themselves say what a real AWS would have been asked: which asynchronous
invocations the interactions function started (so the demo can run them), and who
assumed which role with which ExternalId (so the demo can check the trust policy itself).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def _body(request: dict[str, Any]) -> bytes:
    body = request.get("body") or ""
    return base64.b64decode(body) if request.get("body_encoded") else str(body).encode()


def _headers(request: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in (request.get("headers") or {}).items()}


def access_key(request: dict[str, Any]) -> str:
    match = _CREDENTIAL.search(_headers(request).get("authorization", ""))
    return match.group(1) if match else ""


@dataclass(frozen=True, slots=True)
class AsyncInvoke:
    function: str
    payload: dict[str, Any]
    caller_key: str


def async_invokes(requests: list[dict[str, Any]]) -> list[AsyncInvoke]:
    """Lambda ``Invoke`` calls with ``InvocationType=Event``."""
    found = []
    for request in requests:
        match = re.search(r"/functions/([^/]+)/invocations", str(request.get("url", "")))
        if match is None or _headers(request).get("x-amz-invocation-type") != "Event":
            continue
        payload = json.loads(_body(request) or b"{}")
        found.append(AsyncInvoke(unquote(match.group(1)), payload, access_key(request)))
    return found


@dataclass(frozen=True, slots=True)
class AssumeRole:
    role_arn: str
    external_id: str | None
    session_name: str
    caller_key: str


def assume_role_calls(requests: list[dict[str, Any]]) -> list[AssumeRole]:
    """STS ``AssumeRole`` calls (query protocol: a form body)."""
    found = []
    for request in requests:
        body = _body(request)
        if b"Action=AssumeRole" not in body:
            continue
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        if form.get("Action") != "AssumeRole":
            continue
        found.append(
            AssumeRole(
                role_arn=form.get("RoleArn", ""),
                external_id=form.get("ExternalId"),
                session_name=form.get("RoleSessionName", ""),
                caller_key=access_key(request),
            )
        )
    return found


def published(requests: list[dict[str, Any]], containing: str) -> int:
    """SNS ``Publish`` calls (query protocol) whose subject or message holds `containing`."""
    count = 0
    for request in requests:
        body = _body(request)
        if b"Action=Publish" not in body:
            continue
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        if form.get("Action") == "Publish" and (
            containing in form.get("Subject", "") or containing in form.get("Message", "")
        ):
            count += 1
    return count
