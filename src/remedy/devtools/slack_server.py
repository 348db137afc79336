"""A local Slack Web API on 127.0.0.1, for tests and ``remedy demo``.

It answers the methods remedy calls the way Slack does (HTTP 200 with ``{"ok": ...}``
JSON, ``ts``/``channel`` on posts), records every request, keeps the current text and
blocks of every message so a test can read what a channel shows after updates, and checks
Block Kit limits, answering ``invalid_blocks`` as Slack does. Faults can be injected: HTTP
429 with ``Retry-After``, 5xx, or ``{"ok": false, "error": ...}``; ``stop()`` makes the
port refuse connections and ``start()`` brings it back on the same port.

Usage::

    with SlackServer() as slack:
        client = WebClient(token=slack.token, base_url=slack.url)
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from remedy.devtools.local_http import Loopback

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_MESSAGE_TEXT = 40000

TEAM_ID = "T0LOCAL0001"
BOT_USER_ID = "U0REMEDYBOT"


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server received it."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass(slots=True)
class Fault:
    """An injected failure for `method` (every method when None), `times` times (None: until
    cleared). `status` 200 with `error` answers ``{"ok": false, "error": error}``."""

    method: str | None
    status: int
    error: str | None
    retry_after: int | None
    times: int | None

    def matches(self, method: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.times is None or self.times > 0
        )


@dataclass(slots=True)
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    updates: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def block_problems(blocks: Any) -> list[str]:
    """What Slack would refuse in `blocks`, one ``message [json-pointer:...]`` line each."""
    if not isinstance(blocks, list):
        return ["expected an array [json-pointer:/blocks]"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict):
            problems.append(f"expected an object [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(block_id) > MAX_ID:
                problems.append(f"must be at most {MAX_ID} characters [json-pointer:{where}]")
            if block_id in block_ids:
                problems.append(f"duplicate block_id {block_id} [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
        problems.extend(_block_problems(block, where, action_ids))
    return problems


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def _limit(obj: Any, limit: int, where: str) -> list[str]:
    if _text_len(obj) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _block_problems(block: dict[str, Any], where: str, action_ids: set[str]) -> list[str]:
    kind = block.get("type")
    problems: list[str] = []
    if kind == "section":
        fields = block.get("fields") or []
        if "text" not in block and not fields:
            problems.append(f"must provide text or fields [json-pointer:{where}]")
        problems += _limit(block.get("text"), MAX_SECTION_TEXT, f"{where}/text")
        if len(fields) > MAX_FIELDS:
            problems.append(
                f"no more than {MAX_FIELDS} items allowed [json-pointer:{where}/fields]"
            )
        for j, item in enumerate(fields):
            problems += _limit(item, MAX_FIELD_TEXT, f"{where}/fields/{j}")
    elif kind == "header":
        problems += _limit(block.get("text"), MAX_HEADER_TEXT, f"{where}/text")
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(
                f"must have 1 to {MAX_CONTEXT_ELEMENTS} items [json-pointer:{where}/elements]"
            )
        for j, item in enumerate(elements):
            problems += _limit(item, MAX_SECTION_TEXT, f"{where}/elements/{j}")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(
                f"must have 1 to {MAX_ACTIONS_ELEMENTS} items [json-pointer:{where}/elements]"
            )
        for j, item in enumerate(elements):
            at = f"{where}/elements/{j}"
            problems += _limit(item.get("text"), MAX_BUTTON_TEXT, f"{at}/text")
            if len(str(item.get("value", ""))) > MAX_BUTTON_VALUE:
                problems.append(
                    f"must be at most {MAX_BUTTON_VALUE} characters [json-pointer:{at}/value]"
                )
            action_id = item.get("action_id")
            if action_id is not None:
                if action_id in action_ids:
                    problems.append(
                        f"duplicate action_id {action_id} [json-pointer:{at}/action_id]"
                    )
                action_ids.add(action_id)
    elif kind != "divider":
        problems.append(f"unsupported block type {kind!r} [json-pointer:{where}/type]")
    return problems


class SlackServer(Loopback):
    """The local Slack Web API. Thread-safe; start/stop any number of times on one port."""

    name: ClassVar[str] = "slack"

    def __init__(self, token: str = "xoxb-local-test-token") -> None:  # noqa: S107 - fake
        super().__init__()
        self.token = token
        self.usergroups: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self._ephemeral: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._post_limit: tuple[float, float] | None = None
        self._buckets: dict[str, tuple[float, float]] = {}
        self._rate_limited = 0
        self._seq = 0

    @property
    def url(self) -> str:
        """The ``base_url`` for slack_sdk's WebClient."""
        return f"http://127.0.0.1:{self._port}/api/"

    # -- what happened -------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every request to `method` that Slack accepted or refused."""
        return [r.params for r in self.requests if r.method == method]

    def messages(self, channel: str | None = None) -> list[Message]:
        """Current messages, oldest first; `channel` by name (``#x``) or id."""
        wanted = None if channel is None else self.channel_id(channel)
        with self._lock:
            found = [m for m in self._messages.values() if wanted in (None, m.channel)]
        return sorted(found, key=lambda m: m.ts)

    def message(self, channel: str, ts: str) -> Message:
        with self._lock:
            return self._messages[(self.channel_id(channel), ts)]

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._ephemeral)

    def clear_requests(self) -> None:
        """Forget the requests so far (messages stay): count from here."""
        with self._lock:
            self._requests.clear()
            self._ephemeral.clear()

    def reset(self) -> None:
        """Forget requests, messages, faults and the post limit (usergroups stay)."""
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._ephemeral.clear()
            self._faults.clear()
            self._post_limit = None
            self._buckets.clear()
            self._rate_limited = 0

    # -- fault injection -------------------------------------------------------------------
    def fail(
        self,
        method: str | None = None,
        *,
        status: int = HTTPStatus.INTERNAL_SERVER_ERROR,
        error: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` calls to `method` (all methods if None) with a failure:
        HTTP `status` (429 sends `retry_after`), or with 200 and ``{"ok": false, "error"}``
        when `error` is given."""
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(Fault(method, int(status), error, retry_after, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def limit_posts(self, per_second: float = 1.0, burst: int = 2) -> None:
        """Keep ``chat.postMessage`` to `per_second` per channel, `burst` at once, as Slack
        does: a post beyond that is answered 429 ``ratelimited`` with ``Retry-After``
        (whole seconds until the channel has room again)."""
        with self._lock:
            self._post_limit = (per_second, float(burst))
            self._buckets.clear()

    @property
    def rate_limited(self) -> int:
        """How many posts `limit_posts` answered with 429."""
        with self._lock:
            return self._rate_limited

    @staticmethod
    def channel_id(channel: str) -> str:
        """Slack answers with channel ids; names map to a stable fake id."""
        if not channel.startswith("#"):
            return channel
        return "C" + hashlib.sha256(channel.encode()).hexdigest()[:10].upper()

    # -- request handling ------------------------------------------------------------------
    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def handle(
        self, method: str, params: dict[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self._requests.append(Request(method, params, dict(headers), time.time()))
            fault = self._take_fault(method)
        if fault is not None:
            if fault.error is not None:
                return 200, {}, {"ok": False, "error": fault.error}
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            error = "ratelimited" if fault.status == HTTPStatus.TOO_MANY_REQUESTS else "fatal_error"
            return fault.status, extra, {"ok": False, "error": error}
        auth = headers.get("authorization", "")
        if not auth:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        if method == "chat.postMessage" and params.get("channel"):
            wait = self._post_room(self.channel_id(str(params["channel"])))
            if wait:
                return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
        body: dict[str, Any] = answer(params)
        return 200, {}, body

    def _post_room(self, channel: str) -> int:
        """0 when `channel` may take a post now (and it is counted), else the whole
        seconds until it may: a token bucket of ``burst`` filled at ``per_second``."""
        with self._lock:
            if self._post_limit is None:
                return 0
            rate, burst = self._post_limit
            now = time.monotonic()
            level, at = self._buckets.get(channel, (burst, now))
            level = min(burst, level + (now - at) * rate)
            if level >= 1:
                self._buckets[channel] = (level - 1, now)
                return 0
            self._buckets[channel] = (level, now)
            self._rate_limited += 1
            return max(1, math.ceil((1 - level) / rate))

    def _next_ts(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq:06d}"

    @staticmethod
    def _blocks(params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        blocks = params.get("blocks")
        if blocks is None:
            return [], []
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return [], ["invalid JSON [json-pointer:/blocks]"]
        return blocks, block_problems(blocks)

    def _message_problems(self, params: dict[str, Any]) -> dict[str, Any] | None:
        blocks, problems = self._blocks(params)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        if not params.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        if len(params.get("text") or "") > MAX_MESSAGE_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        return None

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        refused = self._message_problems(params)
        if refused:
            return refused
        blocks, _ = self._blocks(params)
        with self._lock:
            ts = self._next_ts()
            message = Message(self.channel_id(channel), ts, params.get("text") or "", blocks)
            self._messages[(message.channel, ts)] = message
        return {"ok": True, "channel": message.channel, "ts": ts, "message": _shown(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel or not ts:
            return {"ok": False, "error": "invalid_arguments"}
        refused = self._message_problems(params)
        if refused:
            return refused
        blocks, _ = self._blocks(params)
        with self._lock:
            message = self._messages.get((self.channel_id(channel), ts))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.history.append({"text": message.text, "blocks": message.blocks})
            message.text = params.get("text") or ""
            message.blocks = blocks
            message.updates += 1
        return {
            "ok": True,
            "channel": message.channel,
            "ts": ts,
            "text": message.text,
            "message": _shown(message),
        }

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel") or not params.get("user"):
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            ts = self._next_ts()
            self._ephemeral.append({**params, "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("usergroup")
        with self._lock:
            users = self.usergroups.get(str(group))
        if users is None:
            return {"ok": False, "error": "no_such_subgroup"}
        return {"ok": True, "users": list(users)}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://remedy-local.slack.com/",
            "team": "remedy-local",
            "user": "remedy",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": "B0REMEDYBOT",
        }


def _shown(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "user": BOT_USER_ID,
        "text": message.text,
        "blocks": message.blocks,
        "ts": message.ts,
    }


def _flatten(query: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    return {k: list(v)[-1] for k, v in query.items()}


class _Handler(BaseHTTPRequestHandler):
    server_ref: SlackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `SlackServer.requests` instead."""

    def _method(self) -> str | None:
        path = urlsplit(self.path).path
        if not path.startswith("/api/"):
            return None
        return path.removeprefix("/api/")

    def _params(self) -> dict[str, Any]:
        params = _flatten(parse_qs(urlsplit(self.path).query))
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return params
        raw = self.rfile.read(length)
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            body = json.loads(raw.decode("utf-8"))
            params.update(body if isinstance(body, dict) else {})
        else:
            params.update(_flatten(parse_qs(raw.decode("utf-8"))))
        return params

    def _answer(self) -> None:
        method = self._method()
        if method is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.server_ref.handle(method, self._params(), headers)
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


SlackServer.handler_base = _Handler
