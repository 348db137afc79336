"""A local stand-in for API Gateway's HTTP API in front of one Lambda handler, for tests.

Each request becomes a payload format 2.0 event as the HTTP API builds it (lower-cased
headers, ``rawQueryString`` and ``queryStringParameters``, ``requestContext.http``, and a
body that is base64-encoded unless its content type is text: HTTP APIs base64-encode
``application/x-www-form-urlencoded`` bodies too), and the handler's answer becomes the
response. Connections are accepted in threads (a browser opens spare ones it may never
use), but the handler runs for one request at a time, like one Lambda instance, so the
moto backends it uses are never touched by two threads at once.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def http_api_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    url = urlsplit(target)
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        # HTTP API joins repeated parameters with commas.
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = headers.get("content-type", "")
    text = content_type.startswith(_TEXT_TYPES)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {url.path}",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "routeKey": f"{method} {url.path}",
            "stage": "$default",
        },
        "isBase64Encoded": bool(body) and not text,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode("utf-8") if text else base64.b64encode(body).decode()
    return event


class HttpApiServer:
    """Serves `handler` on 127.0.0.1 at `routes` (``{"GET /approve", ...}``); 404 elsewhere."""

    def __init__(self, handler: Handler, routes: set[str]) -> None:
        self.handler = handler
        self.routes = routes
        self.events: list[dict[str, Any]] = []
        self._one_at_a_time = threading.Lock()
        outer = self

        class _Request(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    key = name.lower()
                    headers[key] = f"{headers[key]},{value}" if key in headers else value
                event = http_api_event(
                    self.command, self.path, headers, body, self.client_address[0]
                )
                if event["routeKey"] not in outer.routes:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with outer._one_at_a_time:
                    outer.events.append(event)
                    answer = outer.handler(event, None)
                payload = answer.get("body") or ""
                data = (
                    base64.b64decode(payload)
                    if answer.get("isBase64Encoded")
                    else payload.encode("utf-8")
                )
                self.send_response(int(answer.get("statusCode", 200)))
                for name, value in (answer.get("headers") or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HttpApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
