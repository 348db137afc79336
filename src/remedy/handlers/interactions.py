"""Lambda entry point for ``POST /slack/interactions`` (HTTP API, payload format 2.0).

Only wiring: the raw body (base64-decoded when API Gateway says so) and the lower-cased
headers go to `remedy.approvals.slack.Interactions`, whose answer becomes the response.
The pieces are built once per container; the Slack secret is fetched (and cached) on the
first request.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any

from remedy.handlers.runtime import policy_version

if TYPE_CHECKING:
    from remedy.approvals.slack import Interactions

_app: Interactions | None = None
#: The live policy version it was built with (`remedy.handlers.runtime.policy_version`).
_policy: str | None = None


def build(session: Any = None) -> Interactions:
    # Imported here, on the first request that builds the app: the module import stays
    # within bare `import boto3` + 100 ms (bench/cold_start.py). None of them imports
    # the handlers, so no cycle hides behind it.
    import boto3
    from botocore.config import Config

    from remedy.approvals.slack import Interactions, lambda_hand_over
    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.notify.composite import SLACK_API_ENV, SlackOptions, build_notifier
    from remedy.notify.secrets import SlackSecrets
    from remedy.notify.slack import SLACK_API, current_client
    from remedy.policy.organizations import load_resolved_policy
    from remedy.settings import Settings

    # Slack waits 3 s for the answer: AWS calls on this path fail fast instead of retrying long.
    fast = Config(
        connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
    )
    settings = Settings.from_env()
    session = session or boto3.session.Session()
    policy = load_resolved_policy(settings, session=session, config=fast)
    store = DynamoDBLedgerStore.from_settings(settings, session.client("dynamodb", config=fast))
    secrets = SlackSecrets(
        settings.slack_secret_arn, client=session.client("secretsmanager", config=fast)
    )
    api_url = os.environ.get(SLACK_API_ENV, SLACK_API)

    slack = current_client(
        lambda: secrets.get().bot_token,
        base_url=api_url,
        timeout=1,
        rate_limit_retries=0,
        connection_retries=0,
    )

    return Interactions(
        signing_secret=lambda: secrets.get().signing_secret,
        store=store,
        accounts=policy.accounts,
        slack=slack,
        notifier=build_notifier(
            settings,
            policy.accounts,
            store,
            session=session,
            secrets=secrets,
            slack=SlackOptions(
                timeout=2,
                rate_limit_retries=0,
                connection_retries=0,
                resend_owed=False,
                pace_max_wait=None,
            ),
            aws_config=fast,
            defer_tickets=True,
        ),
        hand_over=lambda_hand_over(
            session.client("lambda", config=fast), settings.remediator_function
        ),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app, _policy
    if _app is None or _policy != policy_version(check=True):
        _app = build()
        _policy = policy_version()
    raw = event.get("body") or ""
    try:
        body = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except (binascii.Error, ValueError):
        return {"statusCode": 400, "body": "body is not valid base64"}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    response = _app.handle(body, headers)
    return {"statusCode": response.status, "headers": response.headers, "body": response.body}
