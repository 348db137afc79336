"""The Slack app's credentials, read from Secrets Manager by ARN and cached.

The secret holds JSON ``{"bot_token": "xoxb-...", "signing_secret": "..."}``; the
template creates it empty for the operator to fill (README, "Slack and owner
notifications"). Values never reach a log: `SlackSecret`'s repr hides them and errors
name the secret and the missing field, never the content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.exceptions import ClientError

from remedy.errors import RemedyError

#: Seconds a fetched secret is reused: rotation is picked up within this long.
CACHE_SECONDS = 300


class SecretError(RemedyError):
    """The Slack secret is missing, unreadable or not filled in."""


@dataclass(frozen=True, slots=True)
class SlackSecret:
    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)


class SlackSecrets:
    """Fetches and caches the Slack secret (Powertools' SecretsProvider does the caching)."""

    def __init__(
        self, secret_arn: str, *, client: Any = None, max_age: int = CACHE_SECONDS
    ) -> None:
        if not secret_arn:
            raise SecretError(
                "no Slack secret configured: set REMEDY_SLACK_SECRET_ARN to the secret's ARN"
            )
        self.secret_arn = secret_arn
        self.max_age = max_age
        self._provider = SecretsProvider(boto3_client=client) if client else SecretsProvider()

    def get(self, *, force: bool = False) -> SlackSecret:
        try:
            value = self._provider.get(
                self.secret_arn, transform="json", max_age=self.max_age, force_fetch=force
            )
        except TransformParameterError:
            raise SecretError(
                f"Slack secret {self.secret_arn} is not a JSON object: store "
                '{"bot_token": "xoxb-...", "signing_secret": "..."}'
            ) from None
        except GetParameterError as exc:
            raise SecretError(
                f"cannot read Slack secret {self.secret_arn} ({error_code(exc)}): check the ARN, "
                "that the secret has a value, and that the function may call "
                "secretsmanager:GetSecretValue on it"
            ) from None
        if not isinstance(value, dict):
            raise SecretError(
                f"Slack secret {self.secret_arn} is not a JSON object: store "
                '{"bot_token": "xoxb-...", "signing_secret": "..."}'
            )
        missing = [
            name
            for name in ("bot_token", "signing_secret")
            if not isinstance(value.get(name), str) or not value[name].strip()
        ]
        if missing:
            raise SecretError(
                f"Slack secret {self.secret_arn} has no {' or '.join(missing)}: fill it as "
                "docs/deploy.md (the Slack app) says"
            )
        return SlackSecret(bot_token=value["bot_token"], signing_secret=value["signing_secret"])


def error_code(exc: GetParameterError) -> str:
    """The AWS error code behind Powertools' wrapper: names the problem, never the value."""
    context = exc.__context__
    if isinstance(context, ClientError):
        return str(context.response.get("Error", {}).get("Code", "ClientError"))
    return type(context).__name__ if context else "error"
