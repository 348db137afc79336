"""The notifier the handlers use: Slack, the owners' email and Security Hub, each contained.

A failure in one channel is logged, counted (`failures`, and a ``NotifyFailed`` metric
when a Powertools `Metrics` is given) and swallowed: it never stops the other channels,
and never fails, delays past its own timeouts, or undoes a remediation. What Slack could
not take is re-sent later (`remedy.notify.slack`); SNS and Security Hub calls are
retried by botocore before they count as failed.

`build_notifier` wires the three from the runtime settings; the Slack token is read from
Secrets Manager only when the first message is due.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from remedy.approvals.email_links import LinkSigner
from remedy.ledger.base import Entry, LedgerStore
from remedy.notify.base import Notifier
from remedy.notify.digest import DigestConfig, Digests
from remedy.notify.outbox import SlackOutbox
from remedy.notify.owners import OwnersNotifier
from remedy.notify.pace import ChannelPace, PaceConfig
from remedy.notify.secrets import SlackSecrets
from remedy.notify.securityhub import SecurityHubFeedback
from remedy.notify.slack import SLACK_API, SlackNotifier, current_client
from remedy.policy.accounts import Accounts
from remedy.settings import Settings
from remedy.tickets import notifier as tickets

log = logging.getLogger(__name__)

#: Where the Slack Web API is; only ``remedy demo`` and tests point it at a local server.
SLACK_API_ENV = "REMEDY_SLACK_API_URL"
DIGEST_THRESHOLD_ENV = "REMEDY_DIGEST_THRESHOLD"
DIGEST_WINDOW_ENV = "REMEDY_DIGEST_WINDOW_SECONDS"


class CompositeNotifier:
    def __init__(self, parts: Sequence[tuple[str, Notifier]], metrics: Any = None) -> None:
        self.parts = tuple(parts)
        self.metrics = metrics
        self.failures: Counter[str] = Counter()

    def _failed(self, name: str, what: str) -> None:
        self.failures[name] += 1
        log.exception("notifier %s failed on %s; carrying on", name, what)
        if self.metrics is not None:
            from aws_lambda_powertools.metrics import MetricUnit

            self.metrics.add_metric(
                name=f"NotifyFailed{name.title()}", unit=MetricUnit.Count, value=1
            )

    def on_change(self, entry: Entry) -> None:
        for name, part in self.parts:
            try:
                changed = part.on_change(entry)
                if changed is not None:
                    entry = changed
            except Exception:
                self._failed(name, f"{entry.key} -> {entry.state.value}")

    def remind(self, entry: Entry, note: str) -> None:
        """Announce again, on every channel that can, that `entry` waits for a decision."""
        for name, part in self.parts:
            remind = getattr(part, "remind", None)
            if remind is None:
                continue
            try:
                remind(entry, note)
            except Exception:
                self._failed(name, f"reminder for {entry.key}")

    def flush(self) -> None:
        """Call at the end of every batch or invocation: brings Slack digests up to date and
        re-sends owed messages."""
        for name, part in self.parts:
            flush = getattr(part, "flush", None)
            if flush is None:
                continue
            try:
                flush()
            except Exception:
                self._failed(name, "flush")


@dataclass(frozen=True, slots=True)
class SlackOptions:
    """How hard the Slack notifier tries. The interactions function answers Slack within
    3 s, so it uses short timeouts, no retries and ``resend_owed=False`` (re-sending the
    outbox could take longer than Slack waits); what it cannot send is owed and re-sent by
    the next findings or remediator invocation, or by the scheduled Slack outbox function.
    """

    timeout: int = 5
    rate_limit_retries: int = 2
    connection_retries: int = 2
    resend_owed: bool = True
    outbox_batch: int = 25
    #: Seconds one re-send of the outbox may take before it leaves the rest for later.
    outbox_seconds: float = math.inf
    #: Longest a post waits for its channel's slot (`remedy.notify.pace`); None: no pace,
    #: for the functions a person waits on (a click, an approval page), which post rarely.
    pace_max_wait: float | None = PaceConfig().max_wait


def build_slack_notifier(
    settings: Settings,
    accounts: Accounts,
    store: LedgerStore,
    secrets: SlackSecrets,
    *,
    session: Any,
    options: SlackOptions = SlackOptions(),
    aws_config: Config | None = None,
) -> SlackNotifier:
    """The Slack notifier with its digests and outbox in the ledger table; the token is
    read from ``secrets`` only when the first message is due, and again once the cached
    secret expires, so a rotated token is used within minutes."""
    api_url = os.environ.get(SLACK_API_ENV, SLACK_API)
    dynamodb = session.client("dynamodb", config=aws_config)
    default = DigestConfig()
    config = DigestConfig(
        threshold=int(os.environ.get(DIGEST_THRESHOLD_ENV, default.threshold)),
        window_seconds=int(os.environ.get(DIGEST_WINDOW_ENV, default.window_seconds)),
    )
    return SlackNotifier(
        store,
        accounts,
        current_client(
            lambda: secrets.get().bot_token,
            base_url=api_url,
            timeout=options.timeout,
            rate_limit_retries=options.rate_limit_retries,
            connection_retries=options.connection_retries,
        ),
        digests=Digests(dynamodb, settings.ledger_table, accounts, config),
        outbox=SlackOutbox(dynamodb, settings.ledger_table),
        pace=(
            None
            if options.pace_max_wait is None
            else ChannelPace(
                dynamodb, settings.ledger_table, PaceConfig(max_wait=options.pace_max_wait)
            )
        ),
        outbox_interval=30.0 if options.resend_owed else math.inf,
        outbox_batch=options.outbox_batch,
        outbox_seconds=options.outbox_seconds,
    )


def build_notifier(
    settings: Settings,
    accounts: Accounts,
    store: LedgerStore,
    *,
    session: Any = None,
    secrets: SlackSecrets | None = None,
    slack: SlackOptions = SlackOptions(),
    aws_config: Config | None = None,
    metrics: Any = None,
    defer_tickets: bool = False,
) -> CompositeNotifier:
    """Tickets (if a ticket system is configured; `defer_tickets` where a person waits),
    Slack (if a secret is configured), owners (if a topic is), and Security Hub."""
    session = session or boto3.session.Session()
    # One Secrets Manager client for both secrets, made only if one is configured.
    secretsmanager = functools.cache(lambda: session.client("secretsmanager"))
    parts: list[tuple[str, Notifier]] = []
    if tickets.configured(settings, accounts):
        # First: the parts after it link to the ticket it records.
        built = tickets.build_tickets(settings, accounts, store, session)
        parts.append(("tickets", tickets.TicketNotifier(built, defer=defer_tickets)))
    if settings.slack_secret_arn:
        notifier = build_slack_notifier(
            settings,
            accounts,
            store,
            secrets or SlackSecrets(settings.slack_secret_arn, client=secretsmanager()),
            session=session,
            options=slack,
            aws_config=aws_config,
        )
        parts.append(("slack", notifier))
    if settings.owner_topic_arn:
        signer = LinkSigner.from_settings(
            settings, client=secretsmanager() if settings.link_secret_arn else None
        )
        parts.append(
            (
                "owners",
                OwnersNotifier(
                    settings.owner_topic_arn,
                    accounts,
                    session.client("sns", config=aws_config),
                    links=signer.links if signer else None,
                ),
            )
        )
    parts.append(
        (
            "securityhub",
            SecurityHubFeedback(
                lambda region: session.client("securityhub", region_name=region, config=aws_config)
            ),
        )
    )
    return CompositeNotifier(parts, metrics)
