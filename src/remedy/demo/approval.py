"""The approver: finds the message Slack shows for a finding awaiting approval and clicks
its button, as Slack would send the click to the interactions route.

The click is a ``block_actions`` payload in a form body, signed with Slack's v0 scheme
(``v0=HMAC-SHA256(signing secret, "v0:<timestamp>:<body>")``, slack_sdk's
`SignatureVerifier`) with the signing secret the demo stored in the Slack secret. It goes
through the real interactions entry point as an HTTP API request. A forged click is the
same request signed with a secret that is not the app's: it must be refused.

What the interactions function hands to the remediator (an asynchronous Lambda invoke)
is run by `remedy.demo.lambda_runtime.LocalLambda`, as Lambda's asynchronous invoker would.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from remedy.demo.lambda_runtime import AsyncRun, LocalFunction, LocalLambda, http_api_event
from remedy.devtools.slack_server import TEAM_ID, Message, SlackServer

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
APP_ID = "A0REMEDYDEMO"


@dataclass(frozen=True, slots=True)
class Click:
    key: str
    action_id: str
    user: str
    forged: bool
    status: int
    body: str
    #: What the interactions function handed over (asynchronous invokes), already run.
    handed_over: tuple[AsyncRun, ...]


class Approver:
    def __init__(
        self,
        service: LocalLambda,
        slack: SlackServer,
        interactions: LocalFunction,
        *,
        signing_secret: str,
        route: str,
        api_id: str,
    ) -> None:
        self.service = service
        self.slack = slack
        self.interactions = interactions
        self.signing_secret = signing_secret
        self.route = route
        self.api_id = api_id

    def message_for(self, key: str) -> tuple[Message, dict[str, Any], list[dict[str, Any]]]:
        """The message showing `key`'s buttons: the message, its actions block, buttons."""
        for message in self.slack.messages():
            for block in message.blocks:
                buttons = [
                    e
                    for e in block.get("elements") or []
                    if e.get("type") == "button" and e.get("value") == key
                ]
                if block.get("type") == "actions" and buttons:
                    return message, block, buttons
        raise LookupError(f"no Slack message shows buttons for {key}")

    def click(self, key: str, action_id: str, user: str, *, forged: bool = False) -> Click:
        message, block, buttons = self.message_for(key)
        button = next((b for b in buttons if b.get("action_id") == action_id), None)
        if button is None:
            offered = ", ".join(str(b.get("action_id")) for b in buttons)
            raise LookupError(f"the message for {key} has no {action_id} button ({offered})")
        body = self._body(message, block, button, user).encode()
        timestamp = str(int(time.time()))
        secret = secrets.token_hex(16) if forged else self.signing_secret
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": SLACK_USER_AGENT,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        event = http_api_event(
            self.route, body, headers, account=self.interactions.account, api_id=self.api_id
        )
        response, runs = self.service.invoke(self.interactions, event)
        return Click(
            key=key,
            action_id=action_id,
            user=user,
            forged=forged,
            status=int(response["statusCode"]),
            body=str(response.get("body", "")),
            handed_over=tuple(runs),
        )

    def _body(
        self, message: Message, block: dict[str, Any], button: dict[str, Any], user: str
    ) -> str:
        now = f"{time.time():.6f}"
        payload = {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": TEAM_ID,
            },
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{int(time.time())}.{TEAM_ID}.{secrets.token_hex(8)}",
            "team": {"id": TEAM_ID, "domain": "remedy-local"},
            "channel": {"id": message.channel, "name": message.channel},
            "message": {"type": "message", "ts": message.ts, "text": message.text},
            "response_url": f"{self.slack.url}response/{secrets.token_hex(8)}",
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block.get("block_id", ""),
                    "text": button.get("text", {}),
                    "value": button["value"],
                    "action_ts": now,
                }
            ],
        }
        return urlencode({"payload": json.dumps(payload)})
