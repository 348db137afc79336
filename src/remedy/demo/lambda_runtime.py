"""remedy's Lambda entry points, run as Lambda runs them.

Each `LocalFunction` is one function of template.yaml: its handler imported once (one warm
container), invoked with the environment the template gives it and the credentials of its
own role, with a Lambda context object. Logs and the metrics Powertools prints go to the
demo's log file, as Lambda sends them to CloudWatch Logs.

Three things differ from Lambda, and only because this is one process on one machine:

- The template's task-root paths (``/var/task/...``) are mapped to the checkout, where the
  artifact's content lies (``policies/`` at the top).
- The Slack Web API base URL (``REMEDY_SLACK_API_URL``) names the local Slack server; on
  AWS it is unset and remedy calls slack.com. The Jira site (``REMEDY_JIRA_SITE``) names
  the local Jira server, not the stack's JiraSite.
- The functions ask the policy bucket for a new version every second
  (``REMEDY_POLICY_REFRESH_SECONDS``), not every minute.

The event shapes are Lambda's: `sqs_event` for the SQS event source mapping,
`http_api_event` for an HTTP API (payload format 2.0) route.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import boto3
from aws_lambda_powertools import Logger

from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import Function
from remedy.demo.wire import async_invokes

_T = TypeVar("_T")

TASK_ROOT = "/var/task"
SLACK_API_ENV = "REMEDY_SLACK_API_URL"
JIRA_SITE_ENV = "REMEDY_JIRA_SITE"


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The fields of Lambda's context object that remedy and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    function_version: str = "$LATEST"
    deadline: float = 0.0

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LocalFunction:
    def __init__(
        self,
        aws: LocalAWS,
        account: str,
        function: Function,
        *,
        root: Path,
        slack_api_url: str,
        log: TextIO,
        jira_site: str = "",
    ) -> None:
        self.aws = aws
        self.account = account
        self.function = function
        self.log = log
        self.timeout = function.timeout
        self.memory = function.memory
        env = {
            name: value.replace(TASK_ROOT, str(root), 1)
            if value.startswith(TASK_ROOT + "/")
            else value
            for name, value in function.environment.items()
        }
        env[SLACK_API_ENV] = slack_api_url
        if jira_site:
            env[JIRA_SITE_ENV] = jira_site
        # A pushed policy is taken within a second, not a minute: the demo lasts seconds.
        env["REMEDY_POLICY_REFRESH_SECONDS"] = "1"
        env["AWS_LAMBDA_FUNCTION_NAME"] = function.name
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(function.memory)
        self.environment = {**env, **aws.assume(function.role_arn)}
        self._handler: Any = None
        self._default_session: boto3.Session | None = None
        self.invocations = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.aws.region}:{self.account}:function:{self.function.name}"

    @contextmanager
    def _container(self) -> Iterator[None]:
        """This function's process, as far as remedy can tell: its environment, and its own
        boto3 default session (which caches the credentials it first found)."""
        saved_env, saved_session = dict(os.environ), boto3.DEFAULT_SESSION
        os.environ.update(self.environment)
        boto3.DEFAULT_SESSION = self._default_session
        try:
            with redirect_stdout(self.log):
                yield
        finally:
            self._default_session = boto3.DEFAULT_SESSION
            boto3.DEFAULT_SESSION = saved_session
            os.environ.clear()
            os.environ.update(saved_env)

    @contextmanager
    def as_function(self) -> Iterator[None]:
        """Run code as this function would (its settings and role), e.g. ``remedy release``
        as an operator runs it with the remediator's role."""
        with self._container():
            yield

    def _load(self) -> Any:
        module_name, _, attr = self.function.handler.rpartition(".")
        module = importlib.import_module(module_name)
        # Powertools loggers print to the stdout they found at import: to the log instead.
        for value in vars(module).values():
            if isinstance(value, Logger):
                for handler in value.handlers:
                    if isinstance(handler, logging.StreamHandler):
                        handler.setStream(self.log)
        return getattr(module, attr)

    def call(self, step: Callable[[], _T]) -> _T:
        """`step()` as code in this function's process runs (its environment and boto3
        default session): for a demo step that hands the function's pipeline a finding
        no event can carry yet (remedy.demo.containment)."""
        with self._container():
            return step()

    def invoke(self, event: Mapping[str, Any]) -> Any:
        """Run the handler on `event`; its exception, if any, propagates (a function error)."""
        context = LambdaContext(
            function_name=self.function.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.timeout,
        )
        with self._container():
            if self._handler is None:
                self._handler = self._load()
            self.invocations += 1
            return self._handler(dict(event), context)


@dataclass(frozen=True, slots=True)
class AsyncRun:
    """An asynchronous invocation remedy made, and what running it gave."""

    caller: str
    function: str
    payload: dict[str, Any]
    result: Any = None
    error: str = ""


class LocalLambda:
    """Lambda, for the template's functions: the demo invokes a function; the asynchronous
    invocations it makes in turn (``Invoke`` with ``InvocationType=Event``, read from the
    requests moto received) are then run, in order, as Lambda's asynchronous invoker would
    (a function error is recorded, not retried)."""

    def __init__(self, aws: LocalAWS, functions: Iterable[LocalFunction]) -> None:
        self.aws = aws
        self.functions = {f.function.name: f for f in functions}

    def invoke(
        self, function: LocalFunction, event: Mapping[str, Any]
    ) -> tuple[Any, list[AsyncRun]]:
        """`function`'s result, and the asynchronous invocations it made, already run."""
        seen = len(self.aws.recorded())
        result = function.invoke(event)
        runs = []
        for call in async_invokes(self.aws.recorded()[seen:]):
            # A name, or an ARN: arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
            name = (
                call.function.split(":")[6] if call.function.startswith("arn:") else call.function
            )
            target = self.functions.get(name)
            if target is None:
                run = AsyncRun(function.function.name, name, call.payload, error="no such function")
            else:
                try:
                    value, _ = self.invoke(target, call.payload)
                    run = AsyncRun(function.function.name, name, call.payload, result=value)
                except Exception as error:  # a function error, as Lambda records it
                    run = AsyncRun(
                        function.function.name,
                        name,
                        call.payload,
                        error=f"{type(error).__name__}: {error}",
                    )
            runs.append(run)
        return result, runs


def sqs_event(records: list[tuple[dict[str, Any], str]], queue_arn: str, region: str) -> dict:
    """The event Lambda's SQS event source mapping passes: one record per received
    message (as ReceiveMessage returned it) with the body delivered."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message, body in records
        ]
    }


def scheduled_event(rule_arn: str, *, account: str, region: str) -> dict[str, Any]:
    """What an EventBridge schedule (the template's ``Type: Schedule`` event) passes."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def http_api_event(
    route: str, body: bytes, headers: Mapping[str, str], *, account: str, api_id: str
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) request as Lambda receives it: headers lower-cased,
    a form body base64-encoded."""
    method, path = route.split(" ", 1)
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": f"{api_id}.execute-api.local",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
