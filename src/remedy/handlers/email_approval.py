"""Lambda entry point for ``GET /approve?token=...`` and ``POST /approve`` (HTTP API,
payload format 2.0): the page an owner's email link opens (`remedy.approvals.page`).

Only wiring: the token comes from the query string (GET) or the form body (POST); the
page's answer becomes the response. The pieces are built once per container; the link
key is fetched (and cached) on the first request.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from remedy.handlers.runtime import policy_version

if TYPE_CHECKING:
    from remedy.approvals.page import ApprovalPage, Page
    from remedy.notify.composite import CompositeNotifier

_app: tuple[ApprovalPage, CompositeNotifier] | None = None
#: The live policy version it was built with (`remedy.handlers.runtime.policy_version`).
_policy: str | None = None


def build(session: Any = None) -> tuple[ApprovalPage, CompositeNotifier]:
    # Imported on the first request, not with the module (see remedy.handlers.interactions).
    import boto3

    from remedy.approvals.decide import Decisions
    from remedy.approvals.email_links import LinkKey, LinkSigner
    from remedy.approvals.page import ApprovalPage
    from remedy.approvals.slack import lambda_hand_over
    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.notify.composite import SlackOptions, build_notifier
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings

    settings = Settings.from_env()
    session = session or boto3.session.Session()
    policy = load_resolved_policy(settings, session=session)
    store = DynamoDBLedgerStore.from_settings(settings, session.client("dynamodb"))
    # A person waits on the page: no pacing sleep (`SlackOptions.pace_max_wait`).
    notifier = build_notifier(
        settings,
        policy.accounts,
        store,
        session=session,
        slack=SlackOptions(pace_max_wait=None),
        defer_tickets=True,
    )
    signer = LinkSigner(
        LinkKey(settings.link_secret_arn, client=session.client("secretsmanager")),
        base_url=settings.public_url,
        ttl_seconds=settings.link_ttl_hours * 3600,
    )
    decisions = Decisions(
        store, notifier, lambda_hand_over(session.client("lambda"), settings.remediator_function)
    )
    page = ApprovalPage(signer=signer, store=store, accounts=policy.accounts, decisions=decisions)
    return page, notifier


def _form_token(event: dict[str, Any]) -> str | None:
    raw = event.get("body") or ""
    try:
        body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except (binascii.Error, ValueError):
        return None
    tokens = parse_qs(text).get("token")
    return tokens[0] if tokens else None


def _response(page: Page) -> dict[str, Any]:
    from remedy.approvals.page import HEADERS  # loaded by build() already

    return {"statusCode": page.status, "headers": dict(HEADERS), "body": page.html}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app, _policy
    if _app is None or _policy != policy_version(check=True):
        _app = build()
        _policy = policy_version()
    page, notifier = _app
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    if method == "GET":
        return _response(page.get((event.get("queryStringParameters") or {}).get("token")))
    if method == "POST":
        answer = page.post(_form_token(event))
        notifier.flush()
        return _response(answer)
    return {"statusCode": 405, "headers": {"Allow": "GET, POST"}, "body": ""}
