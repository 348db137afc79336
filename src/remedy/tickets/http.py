"""The HTTP client the REST ticket backends share: urllib3 with timeouts and bounded retries.

Only what cannot have reached the ticket system is retried (a refused connection, a 429
that says wait): a create retried after a timeout or a 5xx could open a second ticket, so
those come back as `TicketError` and the ticket is owed; the next attempt asks the system
for the ticket first (`TicketBackend.find`). Redirects are never followed, so credentials
go to the configured site and nowhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.util import Retry, Timeout

from remedy.notify.secrets import CACHE_SECONDS
from remedy.tickets import credentials
from remedy.tickets.registry import TicketBackend, TicketError

if TYPE_CHECKING:
    from remedy.settings import Settings

#: Seconds to connect and to wait for an answer: a slow system makes a ticket owed,
#: never a remediation late.
TIMEOUT = Timeout(connect=3.0, read=10.0)
#: Longest ``Retry-After`` honoured in line; longer, the ticket is owed instead.
MAX_RETRY_AFTER = 5.0
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class _Retry(Retry):
    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is not None and seconds > MAX_RETRY_AFTER:
            # urllib3 would sleep as long as asked; fail instead and leave it owed.
            raise TicketError(
                f"the ticket system asked to wait {seconds:.0f}s (HTTP 429); the ticket is owed",
                outage=True,
            )
        return seconds


def check_site(site: str, *, what: str, domain: str) -> str:
    """`site` as a base URL, if it is an https URL on `domain` (or a loopback test server)."""
    parts = urlsplit(site)
    host = parts.hostname or ""
    ok = (parts.scheme == "https" and (host == domain or host.endswith("." + domain))) or (
        parts.scheme == "http" and host in _LOOPBACK
    )
    if not ok or parts.path.strip("/") or parts.query or parts.username:
        raise TicketError(
            f"{what} site {site!r} is not https://<name>.{domain}: set it to your site's "
            "address, nothing after the host"
        )
    return f"{parts.scheme}://{parts.netloc}"


class RestClient:
    """JSON over HTTP to one site, with its authentication headers."""

    def __init__(self, site: str, auth: Mapping[str, str], *, what: str) -> None:
        self.site = site
        self.what = what
        self._headers = {
            **auth,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._pool = urllib3.PoolManager(
            timeout=TIMEOUT,
            retries=_Retry(
                total=3,
                connect=2,
                read=0,
                status=2,
                status_forcelist=(429,),
                allowed_methods=None,
                backoff_factor=0.2,
                redirect=0,
                raise_on_redirect=False,
                raise_on_status=False,
            ),
        )

        #: The system refused the credentials (401): they are read again before the next call.
        self.refused = False

    def __repr__(self) -> str:
        return f"RestClient({self.site!r})"

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON answer (None for an empty one); `TicketError` on any failure."""
        data = json.dumps(body).encode() if body is not None else None
        return self.send(method, path, data, self._headers)

    def send(self, method: str, path: str, data: bytes | None, headers: Mapping[str, str]) -> Any:
        """`call` with the body and headers as given (a form, another authentication)."""
        url = self.site + path
        try:
            response = self._pool.request(
                method, url, body=data, headers=dict(headers), redirect=False
            )
        except HTTPError as exc:
            # The cause (refused, timed out, dropped), never the request: it holds the token.
            cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
            raise TicketError(
                f"{self.what} {method} {path}: {type(cause).__name__}", outage=True
            ) from None
        except ValueError:
            # http.client refuses a header value with a newline, quoting it: a credential.
            raise TicketError(
                f"{self.what} {method} {path}: a credential holds a character a header cannot carry"
            ) from None
        if response.status == 401:
            self.refused = True
        if 300 <= response.status < 400:
            where = urlsplit(response.headers.get("Location", "")).netloc or "the same site"
            raise TicketError(
                f"{self.what} {method} {path}: HTTP {response.status} to {where}, not followed "
                "(credentials go to the configured site only): check the site's address"
            )
        if response.status >= 300:
            raise TicketError(
                f"{self.what} {method} {path}: HTTP {response.status} {_error_text(response.data)}",
                outage=response.status >= 500 or response.status == 429,
                status=response.status,
            )
        if not response.data:
            return None
        try:
            return json.loads(response.data)
        except ValueError:
            raise TicketError(f"{self.what} {method} {path}: the answer is not JSON") from None


class Renewing:
    """A `RestClient` built from the secret, built again once the secret may have rotated
    (after `CACHE_SECONDS`, or at once after the system refused the credentials), so a
    warm function picks up a new token within minutes."""

    def __init__(self, build: Callable[[], RestClient]) -> None:
        self._build = build
        self._client: RestClient | None = None
        self._built = 0.0

    def get(self) -> RestClient:
        stale = time.monotonic() - self._built > CACHE_SECONDS
        if self._client is None or self._client.refused or stale:
            self._client = self._build()
            self._built = time.monotonic()
        return self._client


class RestBackend(TicketBackend):
    """A back end over REST to one site, signed in with what its secret holds; both are
    the core stack's (`stack_parameter`, and the secret ``<Prefix>/<name>`` it makes)."""

    #: The system's name in messages.
    what: ClassVar[str] = ""
    #: Sites must be ``https://<name>.<domain>``.
    domain: ClassVar[str] = ""
    #: The core stack's parameter naming the site, and the settings holding it and the
    #: secret's ARN.
    stack_parameter: ClassVar[str] = ""
    site_setting: ClassVar[str] = ""
    arn_setting: ClassVar[str] = ""
    #: What the secret may hold: the fields of each way to sign in.
    secret_shapes: ClassVar[tuple[credentials.Shape, ...]] = ()

    def __init__(
        self, settings: Settings, *, secrets_client: Any = None, session: Any = None
    ) -> None:
        super().__init__(settings, secrets_client=secrets_client, session=session)
        self._client = Renewing(self._build)

    def site(self) -> str:
        """The configured site as a base URL; `TicketError` if it is not on `domain`."""
        return check_site(
            getattr(self.settings, self.site_setting), what=self.what, domain=self.domain
        )

    def secret(self) -> Mapping[str, str]:
        """The secret's fields of the one way to sign in it holds; `TicketError` otherwise."""
        return credentials.read(
            getattr(self.settings, self.arn_setting),
            self.secret_shapes,
            what=self.what,
            client=self.secrets_client,
        )

    def _build(self) -> RestClient:
        return self._connect(self.site(), self.secret())

    def _connect(self, site: str, secret: Mapping[str, str]) -> RestClient:
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement _connect")

    def probe(self) -> str:
        """Who the credentials sign in as, by one read-only call (`remedy doctor`)."""
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement probe")

    def has_target(self, target: str) -> bool:
        """Whether the system has `target` (a project, a group), read-only."""
        raise NotImplementedError(f"ticket backend {self.name!r} does not implement has_target")

    @property
    def client(self) -> RestClient:
        return self._client.get()


def _error_text(data: bytes) -> str:
    """The system's own error messages (Jira's errorMessages/errors, ServiceNow's error,
    OAuth's error_description)."""
    try:
        answer = json.loads(data)
    except ValueError:
        return data[:200].decode(errors="replace")
    if not isinstance(answer, dict):
        return str(answer)[:200]
    parts = [str(m) for m in answer.get("errorMessages", ())]
    parts += [f"{k}: {v}" for k, v in (answer.get("errors") or {}).items()]
    if isinstance(answer.get("error"), dict):
        parts.append(str(answer["error"].get("message", "")))
    parts.append(str(answer.get("error_description") or ""))
    return "; ".join(p for p in parts if p) or json.dumps(answer)[:200]
