"""The Slack notifier: one message per finding, updated in place at every state change.

- The channel comes from accounts.yaml for the finding's account and severity; rejected
  (spoofed) findings go to the ``default`` block's channel, since their account is a claim.
- The first notification posts (``chat.postMessage``) and stores ``{channel, ts}`` in the
  entry's ``attrs.slack`` (`LedgerStore.update_attrs`); every later change edits that
  message (``chat.update``). Transient states (RECEIVED, QUARANTINING) and IGNORED do not
  post a new message; they only update one that exists.
- After an update the entry is read again: if it moved on meanwhile (the interactions
  function and the remediator both update one message), the newer state is rendered, so
  the last writer always shows the latest state.
- Bursts: see `remedy.notify.digest`; new messages keep Slack's pace of about one a
  second per channel across invocations (`remedy.notify.pace`). Approvals and outcomes
  that need a person keep their own messages.
- Slack failures never reach the remediation: the composite notifier swallows them. What
  could not be sent, whatever the cause (Slack, or a ledger write of the digest), is marked
  ``attrs.slack_pending`` and put in the outbox (`remedy.notify.outbox`), which the next
  notification and a scheduled function re-send, and the SlackMessagesOwed alarm counts.
- slack_sdk's WebClient with its retry handlers: 429 waits for ``Retry-After``; connection
  errors and 500/503 are retried before giving up.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from remedy.errors import RemedyError
from remedy.ledger.base import OUTCOMES, Entry, LedgerStore, State
from remedy.model import Severity
from remedy.notify.digest import PREFIX as DIGEST_PREFIX
from remedy.notify.digest import Digests
from remedy.notify.outbox import SlackOutbox
from remedy.notify.pace import ChannelPace
from remedy.notify.secrets import SecretError
from remedy.notify.slack_message import SlackMessage, build_message, build_reminder, permalink
from remedy.policy.accounts import Accounts

log = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api/"
#: What a Slack call raises when Slack is down, refuses, or cannot be reached.
SLACK_FAILURES: tuple[type[Exception], ...] = (SlackClientError, OSError)

#: States that post a message when the finding has none yet.
VISIBLE: frozenset[State] = OUTCOMES | {
    State.PENDING_APPROVAL,
    State.APPROVED,
    State.DISMISSED,
    State.NOTIFIED,
    State.REJECTED,
    State.RELEASED,
}
#: States that always get their own message, burst or not: a person has to act or know.
ATTENTION: frozenset[State] = frozenset(
    {
        State.PENDING_APPROVAL,
        State.APPROVED,
        State.DISMISSED,
        State.RELEASED,
        State.LOCKED,
        State.DENIED,
        State.FAILED,
        State.ARCHIVED,
    }
)
_GONE_MESSAGE = ("message_not_found", "cant_update_message", "edit_window_closed")


def needs_attention(entry: Entry) -> bool:
    """Whether the entry must have its own message: a state in ATTENTION, or a contained
    change waiting for approvers (QUARANTINED with buttons, never folded into a digest)."""
    return entry.state in ATTENTION or bool(entry.attrs.get("awaiting_approval"))


class SlackUnavailable(RemedyError):
    """A Slack call failed; the message is owed and will be re-sent (see the outbox)."""


def check_api_url(url: str) -> str:
    """Slack's API over TLS; plain http only to this machine (the local Slack server)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    ):
        return url if url.endswith("/") else url + "/"
    raise RemedyError(
        f"Slack API URL {url!r} must be https:// (http:// only for 127.0.0.1, the local server)"
    )


def web_client(
    token: str,
    *,
    base_url: str = SLACK_API,
    timeout: int = 5,
    rate_limit_retries: int = 2,
    connection_retries: int = 2,
) -> WebClient:
    """A WebClient that honours 429 Retry-After and retries connection and server errors."""
    return WebClient(
        token=token,
        base_url=check_api_url(base_url),
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=connection_retries),
            ServerErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


def current_client(token: Callable[[], str], **options: Any) -> Callable[[], WebClient]:
    """A `web_client` for the token ``token()`` returns now: the same client while the token
    stays the same, a new one once it changes, so a rotated bot token is picked up as soon
    as the cached secret is read again (`remedy.notify.secrets.CACHE_SECONDS`).

    When the secret cannot be read again (Secrets Manager or KMS failing), the client of
    the token read before goes on working, with a warning: a failed re-read must not
    cost a message that the unchanged token would have sent."""
    build = functools.lru_cache(maxsize=1)(functools.partial(web_client, **options))
    last: list[WebClient] = []

    def client() -> WebClient:
        try:
            current = build(token())
        except SecretError as error:
            if not last:
                raise
            log.warning("%s; sending with the Slack token read before", error)
            return last[0]
        last[:] = [current]
        return current

    return client


def _seen(entry: Entry) -> tuple[State, int]:
    return entry.state, len(entry.history)


class SlackNotifier:
    """A `remedy.notify.base.Notifier` for Slack; `flush()` at the end of each batch."""

    def __init__(
        self,
        store: LedgerStore,
        accounts: Accounts,
        client: WebClient | Callable[[], WebClient],
        *,
        digests: Digests | None = None,
        outbox: SlackOutbox | None = None,
        pace: ChannelPace | None = None,
        outbox_interval: float = 30.0,
        outbox_batch: int = 25,
        outbox_seconds: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self._client = client if isinstance(client, WebClient) else None
        self._client_factory = None if isinstance(client, WebClient) else client
        self.digests = digests
        self.outbox = outbox
        self.pace = pace
        self.outbox_interval = outbox_interval
        self.outbox_batch = outbox_batch
        self.outbox_seconds = outbox_seconds
        self.clock = clock
        self._outbox_checked = float("-inf")
        self._touched: set[str] = set()

    @property
    def client(self) -> WebClient:
        # Asked of the factory at every call: the token is fetched only when a message is
        # due, and a rotated one is used as soon as the factory sees it.
        if self._client is not None:
            return self._client
        assert self._client_factory is not None
        return self._client_factory()

    # -- the Notifier interface -------------------------------------------------------------
    def on_change(self, entry: Entry) -> None:
        self._retry_outbox(due_only=True)
        try:
            self._deliver(entry)
        except Exception as exc:
            # Whatever failed (Slack, or the ledger's digest or bookkeeping writes), the
            # message is owed: re-sent later, and counted by the SlackMessagesOwed alarm.
            self._owe(entry.key)
            raise SlackUnavailable(
                f"Slack message for {entry.key} ({entry.state.value}) not sent: {exc}; "
                "it is in the outbox and will be re-sent"
            ) from exc

    def flush(self) -> None:
        """Bring the digests this process added to up to date, then re-send what is owed,
        then bring up to date the digests the re-sent findings were counted into."""
        failed = self._refresh_touched()
        self._retry_outbox(due_only=False)
        failed = self._refresh_touched() or failed
        if failed is not None:
            raise SlackUnavailable(f"digest not updated: {failed}; it will be retried") from failed

    def _refresh_touched(self) -> Exception | None:
        touched, self._touched = self._touched, set()
        failed: Exception | None = None
        for pk in sorted(touched):
            try:
                self._refresh(pk)
            except Exception as exc:
                failed = failed or exc
        return failed

    def owed(self) -> int:
        """How many messages and digests the outbox still holds."""
        return 0 if self.outbox is None else self.outbox.count()

    # -- sending -----------------------------------------------------------------------------
    def channel_for(self, entry: Entry) -> str:
        severity = Severity[str(entry.finding.get("severity", "INFORMATIONAL"))]
        if entry.state is State.REJECTED:
            return self.accounts.default.channel_for(severity)
        return self.accounts.get(entry.account).channel_for(severity)

    def remind(self, entry: Entry, note: str) -> None:
        """Announce again that `entry` waits for a decision (`remedy.approvals.deadlines`):
        in the account's top channel (``channels_by_severity``'s highest, else its channel)
        with a link to the message that has the buttons, or, when that message is in the
        same channel, as a reply in its thread also sent to the channel. A failure raises
        (the caller logs and counts it); it is not owed: the next period reminds again."""
        info = self.accounts.get(entry.account)
        top = info.channels[-1]
        slack = entry.attrs.get("slack") or {}
        if not slack.get("ts"):
            self._post(top, build_reminder(entry, info.name, note, None))
        elif top == self.channel_for(entry):
            self._post(
                slack["channel"],
                build_reminder(entry, info.name, note, None),
                paced_as=top,
                thread_ts=slack["ts"],
                reply_broadcast=True,
            )
        else:
            original = permalink(slack["channel"], slack["ts"])
            self._post(top, build_reminder(entry, info.name, note, original))

    def _post(
        self, channel: str, message: SlackMessage, paced_as: str | None = None, **thread: Any
    ) -> tuple[str, str]:
        """Post when `channel`'s pace allows; `paced_as` names it as accounts.yaml does
        when `channel` is the id Slack answered with, so both share one pace."""
        if self.pace is not None:
            self.pace.wait(paced_as or channel)
        response = self.client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks_json(),
            unfurl_links=False,
            unfurl_media=False,
            **thread,
        )
        return str(response["channel"]), str(response["ts"])

    def _update(self, channel_id: str, ts: str, message: SlackMessage) -> None:
        self.client.chat_update(
            channel=channel_id, ts=ts, text=message.text, blocks=message.blocks_json()
        )

    def _deliver(self, entry: Entry) -> None:
        slack = entry.attrs.get("slack") or {}
        if not slack.get("ts"):
            if entry.state not in VISIBLE:
                return
            if slack.get("digest") and not needs_attention(entry):
                self._paid(entry)
                return
            if self.digests is not None and not slack.get("digest"):
                window = self.digests.window(self.channel_for(entry))
                held = self.digests.place(window, entry, own=needs_attention(entry))
                if held is not None:
                    self._into_digest(window.pk, held, entry)
                    return
        self._sync(entry)

    def _into_digest(self, pk: str, held: int, entry: Entry) -> None:
        # Counted before the entry says so: a crash in between may count it twice on
        # redelivery, never zero times.
        slack = dict(entry.attrs.get("slack") or {})
        slack["digest"] = pk
        self.store.update_attrs(entry.key, {"slack": slack, "slack_pending": False})
        self._touched.add(pk)
        if held == 1:
            self._refresh(pk)

    def _refresh(self, pk: str) -> None:
        assert self.digests is not None
        try:
            self.digests.refresh(pk, self._post, self._update)
        except Exception:
            if self.outbox is not None:
                try:
                    self.outbox.add(pk)
                except Exception:
                    log.exception("could not record the digest %s owed", pk)
            raise

    def _sync(self, entry: Entry) -> None:
        """Post or update the entry's message until it shows the entry's latest state."""
        for _ in range(3):
            shown = _seen(entry)
            message = build_message(entry, self.accounts.get(entry.account).name)
            slack = dict(entry.attrs.get("slack") or {})
            posted = False
            if slack.get("ts"):
                try:
                    self._update(slack["channel"], slack["ts"], message)
                except SlackApiError as exc:
                    if exc.response.get("error") not in _GONE_MESSAGE:
                        raise
                    slack.pop("ts")  # deleted in Slack, or too old to edit: post anew
            if not slack.get("ts"):
                slack["channel"], slack["ts"] = self._post(self.channel_for(entry), message)
                posted = True
            owed = bool(entry.attrs.get("slack_pending"))
            if posted or owed:
                self.store.update_attrs(entry.key, {"slack": slack, "slack_pending": False})
            if owed and self.outbox is not None:
                self.outbox.remove(entry.key)
            latest = self.store.get(entry.key)
            if latest is None or _seen(latest) == shown:
                return
            entry = latest

    # -- what is owed --------------------------------------------------------------------------
    def _owe(self, key: str) -> None:
        try:
            self.store.update_attrs(key, {"slack_pending": True})
            if self.outbox is not None:
                self.outbox.add(key)
        except Exception:
            log.exception("could not record the Slack message owed for %s", key)

    def _paid(self, entry: Entry) -> None:
        if entry.attrs.get("slack_pending"):
            self.store.update_attrs(entry.key, {"slack_pending": False})
            if self.outbox is not None:
                self.outbox.remove(entry.key)

    def _retry_outbox(self, *, due_only: bool) -> None:
        if self.outbox is None:
            return
        now = self.clock()
        # An infinite interval: on_change never re-sends (the interactions function).
        if due_only and (
            math.isinf(self.outbox_interval) or now - self._outbox_checked < self.outbox_interval
        ):
            return
        self._outbox_checked = now
        try:
            owed = self.outbox.pending(self.outbox_batch)
        except Exception:
            # The outbox is a convenience for later; today's message must still go out.
            log.exception("could not read the Slack outbox")
            return
        for done, key in enumerate(owed):
            if self.clock() - now >= self.outbox_seconds:
                # Stop before the function's timeout can cut a send short (posted but not
                # recorded: posted again next time); the rest waits for the next run.
                log.info(
                    "Slack outbox: time is up, %d owed left for the next run", len(owed) - done
                )
                return
            try:
                if key.startswith(DIGEST_PREFIX):
                    self._refresh(key)
                else:
                    entry = self.store.get(key)
                    if entry is not None:
                        self._deliver(entry)
                self.outbox.remove(key)
            except SlackApiError as exc:
                if exc.response.status_code == 200:
                    # Slack is up but refuses this one (e.g. channel_not_found): the others
                    # may still go; this one waits for the configuration to be fixed.
                    log.warning("Slack refused %s, kept in the outbox: %s", key, exc)
                    continue
                log.warning("Slack still unavailable, %s kept in the outbox: %s", key, exc)
                return
            except SLACK_FAILURES as exc:
                # Still down: keep the rest for the next try.
                log.warning("Slack still unavailable, %s kept in the outbox: %s", key, exc)
                return
            except Exception:
                log.exception("could not re-send %s; it stays in the outbox", key)
