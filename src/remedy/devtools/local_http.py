"""A JSON HTTP server on 127.0.0.1 for local fakes of ticket systems (Jira, ServiceNow).

A subclass routes each request (`LocalServer.handle`) and gets, for free: a request log,
injected faults (an HTTP status with optional ``Retry-After``, a delay longer than a
client's timeout, or an answer lost after the work was done: the connection dropped as
when a process dies between the system acting and us reading its answer) and
``stop``/``start`` on the same port (connection refused in between).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass(slots=True)
class Fault:
    """Answer `status` (0: do the work, then drop the connection) to requests whose
    ``METHOD path`` starts with `prefix`, `times` times; or first sleep `delay` seconds."""

    prefix: str
    status: int
    times: int
    retry_after: int | None = None
    delay: float = 0.0


class Answer(Exception):
    """Raised by a route to answer with `status` and `body` (an API error)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class Loopback:
    """A threaded HTTP server on 127.0.0.1 that can stop (the port refuses connections)
    and start again on the same port; `handler_base` serves it (as ``server_ref``)."""

    name: ClassVar[str] = "local"
    handler_base: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self) -> None:
        self._port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._httpd is None:
            handler = type("Handler", (self.handler_base,), {"server_ref": self})
            self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
            self._httpd.daemon_threads = True
            self._port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name=f"{self.name}-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: clients get "connection refused" until `start()`."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalServer(Loopback):
    """A JSON API: subclasses route requests in `handle`."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self._requests: list[Request] = []
        self._faults: list[Fault] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self._requests)

    def fail(
        self,
        prefix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        with self.lock:
            self._faults.append(Fault(prefix, status, times, retry_after, delay))

    def _take_fault(self, line: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.times > 0 and line.startswith(fault.prefix):
                    fault.times -= 1
                    return fault
        return None

    def handle(self, request: Request) -> tuple[int, Any]:
        """The status and JSON body for `request`; raise `Answer` for an API error."""
        raise NotImplementedError

    def serve(self, request: Request) -> tuple[int, Any, dict[str, str]] | None:
        """None: drop the connection without an answer."""
        with self.lock:
            self._requests.append(request)
        fault = self._take_fault(f"{request.method} {request.path}")
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        elif fault is not None and fault.status:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return fault.status, {"errorMessages": [f"injected {fault.status}"]}, headers
        try:
            with self.lock:
                status, body = self.handle(request)
        except Answer as answer:
            status, body = answer.status, answer.body
        if fault is not None and not fault.delay:
            return None
        return status, body, {}


class _Handler(BaseHTTPRequestHandler):
    server_ref: ClassVar[LocalServer]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        request = Request(self.command, self.path, body, dict(self.headers.items()))
        answer = self.server_ref.serve(request)
        if answer is None:
            self.close_connection = True
            return
        status, payload, headers = answer
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = _serve


LocalServer.handler_base = _Handler
