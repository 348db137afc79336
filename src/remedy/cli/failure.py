"""What went wrong in a command, as the one line a person can act on.

``main`` turns any exception a command lets through into this line and exit status 2: no
region, no credentials, a table or stack that is not there, a setting that cannot be read.
Set ``REMEDY_DEBUG=1`` to get the traceback instead (for a bug report).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from remedy.errors import RemedyError

DEBUG_ENV = "REMEDY_DEBUG"

NO_REGION = (
    "no AWS region: set AWS_DEFAULT_REGION (or region in your AWS profile) "
    "to the core stack's region"
)
NO_CREDENTIALS = (
    "no AWS credentials: sign in to the core account (aws sso login, or AWS_PROFILE naming "
    "a profile with its credentials)"
)
_NOT_FOUND = ("ResourceNotFoundException", "NoSuchEntity", "NotFoundException", "NotFound")


def describe(error: BaseException) -> str:
    """One line: what is wrong and what to do."""
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return NO_CREDENTIALS
    if isinstance(error, ProfileNotFound):
        return f"{error}: set AWS_PROFILE to a profile of your AWS config, or unset it"
    if isinstance(error, EndpointConnectionError):
        return f"{error}: check the region and the network"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        operation = error.operation_name
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        if code in _NOT_FOUND or code.endswith("NotFound"):
            return (
                f"not found ({operation}): {message}: is the core stack deployed in this "
                "account and region, and do the REMEDY_* settings name it?"
            )
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return f"access denied ({operation}): {message}: use the core account's credentials"
        return f"AWS refused {operation}: {code}: {message}"
    if isinstance(error, BotoCoreError | RemedyError):
        return str(error)
    return (
        f"unexpected {type(error).__name__}: {error} (a bug: please report it; "
        f"{DEBUG_ENV}=1 shows the traceback)"
    )


def ledger(table: str, error: BaseException) -> str:
    """One line for a ledger read that failed: a missing table says which setting names it."""
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == (
        "ResourceNotFoundException"
    ):
        return (
            f"ledger table {table!r} not found: set REMEDY_LEDGER_TABLE to the core stack's "
            "LedgerTableName output and AWS_DEFAULT_REGION to its region"
        )
    return f"ledger table {table}: {describe(error)}"


class LedgerUnreadable(RemedyError):
    """A ledger read failed; the message is `ledger`'s line."""


@contextmanager
def reading_ledger(table: str) -> Iterator[None]:
    """AWS's errors while reading the ledger `table` as `LedgerUnreadable`, which `main`
    says in one line (as it says any `RemedyError`, e.g. Organizations unreadable)."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise LedgerUnreadable(ledger(table, error)) from error
