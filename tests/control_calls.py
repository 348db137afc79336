"""The AWS calls a control remediation makes through the remediation role's client in one
account, counted and, on request, failed: by position (a fault at each call in turn) or
by operation (a refused permission). Used by the control tests and `bench/api_calls.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from fixtures_guard import REGION, Core
from remedy.actions.controls.base import ControlRemediation


class Calls:
    """The operations the remediation role's client makes in one account; optionally one
    of them (by position, or every call of one operation) fails with `code`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.made: list[str] = []
        #: Whether a call tagged what it made (``TagSpecifications``): IAM asks for
        #: ``ec2:CreateTags`` too, though no CreateTags call is made.
        self.tagged = False
        self.fail_at: int | None = None
        self.fail_op: str | None = None
        self.code = "InternalError"

    def __call__(self, model: Any, **_: Any) -> None:
        index = len(self.made)
        self.made.append(model.name)
        if index == self.fail_at or model.name == self.fail_op:
            status = 403 if self.code == "AccessDenied" else 500
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                model.name,
            )

    def params(self, params: dict[str, Any], **_: Any) -> None:
        self.tagged = self.tagged or "TagSpecifications" in params


@contextmanager
def watching(core: Core, action: ControlRemediation, account: str) -> Iterator[Calls]:
    client = core.sessions.client(action.service, account, REGION, finding_key="prime")
    calls = Calls(client)
    client.meta.events.register("before-call.*.*", calls, unique_id="controls-test")
    client.meta.events.register(
        "provide-client-params.*.*", calls.params, unique_id="controls-test-params"
    )
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.*.*", unique_id="controls-test")
        client.meta.events.unregister("provide-client-params.*.*", unique_id="controls-test-params")
