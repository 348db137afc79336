"""Every S3 call a remediation makes pins the bucket owner: the account it acts in.

moto does not enforce ``ExpectedBucketOwner``, so the calls are checked on the wire. The
core's STS client is watched for the remediation role's credentials (``AssumeRole``
responses name the account); a ``before-send.s3`` handler, added to botocore's built-in
handlers the way moto adds its own, so that it reaches the member sessions remedy creates
itself, records every S3 request signed with those credentials. Afterwards each recorded
operation that accepts ``ExpectedBucketOwner`` (or ``ExpectedSourceBucketOwner``), by
S3's service model, must have carried it, equal to the account of the credentials: the
finding's account, since remedy acts in no other. Calls by the tests' own admin sessions
are not recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers
import botocore.session
import pytest

_S3 = botocore.session.get_session().get_service_model("s3")
_PINS = ("ExpectedBucketOwner", "ExpectedSourceBucketOwner")
_KEY_ID = re.compile(r"Credential=([A-Z0-9]+)/")


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class S3Call:
    operation: str
    #: The account whose remediation role made the call.
    account: str
    #: The pins the request carried, by parameter name.
    pins: dict[str, str | None]


@dataclass
class S3Calls:
    #: Access key id of each remediation role session -> its account.
    keys: dict[str, str] = field(default_factory=dict)
    calls: list[S3Call] = field(default_factory=list)

    def _assumed(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            account = parsed["AssumedRoleUser"]["Arn"].split(":")[4]
            self.keys[parsed["Credentials"]["AccessKeyId"]] = account

    def _sent(self, request: Any, event_name: str, **_: Any) -> None:
        found = _KEY_ID.search(_text(request.headers.get("Authorization")) or "")
        account = self.keys.get(found.group(1)) if found else None
        if account is None:
            return
        operation = event_name.split(".")[2]
        members = _S3.operation_model(operation).input_shape.members
        pins = {
            name: _text(request.headers.get(members[name].serialization["name"]))
            for name in _PINS
            if name in members
        }
        self.calls.append(S3Call(operation, account, pins))

    def unpinned(self) -> list[str]:
        """Each recorded call that did not pin its owner, as ``Operation in account: ...``."""
        return [
            f"{call.operation} in {call.account}: {name} is {value!r}"
            for call in self.calls
            for name, value in call.pins.items()
            if value != call.account
        ]

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]


@contextmanager
def s3_owner_calls(sts: Any) -> Iterator[S3Calls]:
    """Record the S3 calls of the role sessions `sts` (the core's STS client) assumes."""
    recorded = S3Calls()
    sts.meta.events.register("after-call.sts.AssumeRole", recorded._assumed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            botocore.handlers,
            "BUILTIN_HANDLERS",
            [*botocore.handlers.BUILTIN_HANDLERS, ("before-send.s3", recorded._sent)],
        )
        yield recorded
