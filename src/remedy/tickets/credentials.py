"""Ticket systems' credentials, read from Secrets Manager by ARN and cached.

Never from an environment variable (that holds only the secret's ARN), never in a log:
errors name the secret and the missing field, not the content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)

from remedy.notify.secrets import CACHE_SECONDS, error_code
from remedy.tickets.registry import TicketError

#: The fields of one way to sign in (an API token; a client id and secret).
Shape = tuple[str, ...]


def example(shape: Shape) -> str:
    return "{" + ", ".join(f'"{f}": "..."' for f in shape) + "}"


def read(
    secret_arn: str, shapes: Sequence[Shape], *, what: str, client: Any = None
) -> Mapping[str, str]:
    """The fields of the one shape of `shapes` the secret holds; `TicketError` when it
    holds none, more than one, or only part of one."""
    stores = " or ".join(example(s) for s in shapes)
    if not secret_arn:
        raise TicketError(f"no {what} secret configured: name its ARN in the core stack")
    provider = SecretsProvider(boto3_client=client) if client else SecretsProvider()
    try:
        value = provider.get(secret_arn, transform="json", max_age=CACHE_SECONDS)
    except TransformParameterError:
        value = None
    except GetParameterError as exc:
        raise TicketError(
            f"cannot read {what} secret {secret_arn} ({error_code(exc)}): check the ARN, that "
            "it has a value, and that the function may call secretsmanager:GetSecretValue on it"
        ) from None
    if not isinstance(value, dict):
        raise TicketError(f"{what} secret {secret_arn} is not a JSON object: store {stores}")
    present = [s for s in shapes if any(_filled(value, f) for f in s)]
    if len(present) > 1:
        held = " and ".join(" and ".join(s) for s in present)
        raise TicketError(f"{what} secret {secret_arn} holds both {held}: keep one, {stores}")
    shape = present[0] if present else shapes[0]
    missing = [f for f in shape if not _filled(value, f)]
    if missing and len(shapes) > 1 and not present:
        raise TicketError(f"{what} secret {secret_arn} holds none of its fields: store {stores}")
    if missing:
        raise TicketError(f"{what} secret {secret_arn} has no {' or '.join(missing)}")
    for f in shape:
        # Sent in a header, such a value fails in the HTTP client with an error that
        # quotes it: say so here, naming the field, never the value.
        if value[f] != value[f].strip() or not value[f].isprintable():
            raise TicketError(
                f"{what} secret {secret_arn}: {f} has whitespace or a control character "
                "(a pasted newline?): store it again without"
            )
    return {f: value[f] for f in shape}


def _filled(value: Mapping[str, Any], field: str) -> bool:
    return isinstance(value.get(field), str) and bool(value[field].strip())
