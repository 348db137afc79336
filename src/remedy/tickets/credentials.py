"""Ticket systems' credentials, read from Secrets Manager by ARN and cached.

Never from an environment variable (that holds only the secret's ARN), never in a log:
errors name the secret and the missing field, not the content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)

from remedy.notify.secrets import CACHE_SECONDS, error_code
from remedy.tickets.registry import TicketError


def read(
    secret_arn: str, fields: tuple[str, ...], *, what: str, client: Any = None
) -> Mapping[str, str]:
    """The secret's JSON fields `fields`; `TicketError` saying what to fix otherwise."""
    example = "{" + ", ".join(f'"{f}": "..."' for f in fields) + "}"
    if not secret_arn:
        raise TicketError(f"no {what} secret configured: name its ARN in the core stack")
    provider = SecretsProvider(boto3_client=client) if client else SecretsProvider()
    try:
        value = provider.get(secret_arn, transform="json", max_age=CACHE_SECONDS)
    except TransformParameterError:
        value = None
    except GetParameterError as exc:
        raise TicketError(
            f"cannot read {what} secret {secret_arn} ({error_code(exc)}): check the ARN and "
            "that the function may call secretsmanager:GetSecretValue on it"
        ) from None
    if not isinstance(value, dict):
        raise TicketError(f"{what} secret {secret_arn} is not a JSON object: store {example}")
    missing = [f for f in fields if not isinstance(value.get(f), str) or not value[f].strip()]
    if missing:
        raise TicketError(f"{what} secret {secret_arn} has no {' or '.join(missing)}")
    return {f: value[f] for f in fields}
