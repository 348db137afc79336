"""Lambda entry point an EventBridge schedule runs every few minutes: re-sends the Slack
messages and digests still owed after a Slack outage (`remedy.notify.outbox`).

The findings and remediator functions re-send what is owed when they next notify; this
schedule covers the quiet hours after an outage, when no finding arrives to do it. What
is still owed afterwards is reported as the ``SlackMessagesOwed`` metric, which the core
template's SlackOwedAlarm watches: messages owed for long mean Slack is down or refuses
them (a revoked token, a deleted channel), and the logs say which. The approvals still
pending are reported as ``PendingApprovals`` for the operations dashboard, and those past
their deadline are announced again or, where their rule says so, decided
(`remedy.approvals.deadlines`): the same schedule, since a reminder is one more message
owed to people. The tickets owed to a ticket system (`remedy.tickets`) are sent again on
the same schedule and reported as ``TicketsOwed`` (TicketsOwedAlarm). Only wiring; the
pieces are built once per container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE, policy_version

if TYPE_CHECKING:
    from remedy.approvals.deadlines import Deadlines
    from remedy.notify.slack import SlackNotifier
    from remedy.tickets.lifecycle import Tickets

logger = Logger(service="remedy-slack-outbox")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
OWED_METRIC = "SlackMessagesOwed"
PENDING_METRIC = "PendingApprovals"
TICKETS_METRIC = "TicketsOwed"
# Slack takes about one message a second per channel: a run re-sends at most 100, and
# starts no send after 150 s, which leaves a slow send (timeouts, retries, a rate limit
# waited out) time to finish within the function's 240 s; the next run takes the rest.
OUTBOX_BATCH = 100
OUTBOX_SECONDS = 150.0


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What a run uses: the Slack notifier (its outbox) and the approval deadlines."""

    slack: SlackNotifier
    deadlines: Deadlines
    #: None: no ticket system is configured.
    tickets: Tickets | None = None


_scheduled: Scheduled | None = None
#: The live policy version it was built with (`remedy.handlers.runtime.policy_version`).
_policy: str | None = None


def build(session: Any = None) -> Scheduled:
    # Imported on the first run, not with the module (see remedy.handlers.interactions).
    import boto3

    from remedy.approvals.deadlines import Deadlines
    from remedy.approvals.decide import Decisions
    from remedy.approvals.slack import lambda_hand_over
    from remedy.ledger.dynamodb import DynamoDBLedgerStore, utc_now
    from remedy.ledger.indexes import PENDING
    from remedy.ledger.queries import LedgerQueries
    from remedy.notify.base import Notifier
    from remedy.notify.composite import CompositeNotifier, SlackOptions, build_slack_notifier
    from remedy.notify.owners import OwnersNotifier
    from remedy.notify.secrets import SlackSecrets
    from remedy.policy.organizations import load_resolved_policy
    from remedy.policy.rules import DEFAULT_DEADLINE_HOURS
    from remedy.settings import Settings
    from remedy.tickets.notifier import build_tickets, configured

    options = SlackOptions(outbox_batch=OUTBOX_BATCH, outbox_seconds=OUTBOX_SECONDS)
    settings = Settings.from_env()
    session = session or boto3.session.Session()
    policy = load_resolved_policy(settings, session=session)
    dynamodb = session.client("dynamodb")
    store = DynamoDBLedgerStore.from_settings(settings, dynamodb)
    secrets = SlackSecrets(settings.slack_secret_arn, client=session.client("secretsmanager"))
    slack = build_slack_notifier(
        settings, policy.accounts, store, secrets, session=session, options=options
    )
    # Slack and the owners only: a decision on a deadline is handed to the remediator,
    # which tells Security Hub when it has carried it out, as after a click.
    parts: list[tuple[str, Notifier]] = [("slack", slack)]
    if settings.owner_topic_arn:
        owners = OwnersNotifier(settings.owner_topic_arn, policy.accounts, session.client("sns"))
        parts.append(("owners", owners))
    notifier = CompositeNotifier(parts, metrics)
    queries = LedgerQueries(settings.ledger_table, dynamodb)
    deadlines = Deadlines(
        lambda: queries.waiting(PENDING),
        store,
        Decisions(
            store,
            notifier,
            lambda_hand_over(session.client("lambda"), settings.remediator_function),
        ),
        notifier.remind,
        default_hours=DEFAULT_DEADLINE_HOURS,
        clock=utc_now,
    )
    tickets = (
        build_tickets(settings, policy.accounts, store, session, aws=False)
        if configured(settings, policy.accounts)
        else None
    )
    return Scheduled(slack, deadlines, tickets)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _scheduled, _policy
    if _scheduled is None or _policy != policy_version(check=True):
        _scheduled = build()
        _policy = policy_version()
    _scheduled.slack.flush()
    owed = _scheduled.slack.owed()
    metrics.add_metric(name=OWED_METRIC, unit=MetricUnit.Count, value=owed)
    if owed:
        logger.warning(f"{owed} Slack message(s) still owed; the warnings above say why")
    tickets_owed = 0
    if _scheduled.tickets is not None:
        _scheduled.tickets.retry_owed(OUTBOX_BATCH)
        tickets_owed = _scheduled.tickets.owed()
        metrics.add_metric(name=TICKETS_METRIC, unit=MetricUnit.Count, value=tickets_owed)
        if tickets_owed:
            logger.warning(
                f"{tickets_owed} ticket(s) still owed; each entry's ticket_owed says why"
            )
    report = _scheduled.deadlines.run()
    metrics.add_metric(name=PENDING_METRIC, unit=MetricUnit.Count, value=report.pending)
    if report.failed:
        logger.warning(
            f"{report.failed} approval deadline(s) not handled; the errors above say why"
        )
    result = {
        "owed": owed,
        "pending_approvals": report.pending,
        "reminded": report.reminded,
        "timed_out": report.timed_out,
        "escalated": report.escalated,
        "failed": report.failed,
    }
    if _scheduled.tickets is not None:
        result["tickets_owed"] = tickets_owed
    return result
