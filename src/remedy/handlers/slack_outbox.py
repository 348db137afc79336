"""Lambda entry point an EventBridge schedule runs every few minutes: re-sends the Slack
messages and digests still owed after a Slack outage (`remedy.notify.outbox`).

The findings and remediator functions re-send what is owed when they next notify; this
schedule covers the quiet hours after an outage, when no finding arrives to do it. What
is still owed afterwards is reported as the ``SlackMessagesOwed`` metric, which the core
template's SlackOwedAlarm watches: messages owed for long mean Slack is down or refuses
them (a revoked token, a deleted channel), and the logs say which. The approvals still
pending are reported as ``PendingApprovals`` for the operations dashboard. Only wiring;
the pieces are built once per container.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import PENDING
from remedy.ledger.queries import LedgerQueries
from remedy.notify.composite import SlackOptions, build_slack_notifier
from remedy.notify.secrets import SlackSecrets
from remedy.notify.slack import SlackNotifier
from remedy.policy.organizations import load_resolved_policy
from remedy.settings import Settings

logger = Logger(service="remedy-slack-outbox")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
OWED_METRIC = "SlackMessagesOwed"
PENDING_METRIC = "PendingApprovals"
# Slack takes about one message a second per channel: a run re-sends at most 100, and
# starts no send after 150 s, which leaves a slow send (timeouts, retries, a rate limit
# waited out) time to finish within the function's 240 s; the next run takes the rest.
OPTIONS = SlackOptions(outbox_batch=100, outbox_seconds=150)

_slack: SlackNotifier | None = None
_pending: LedgerQueries | None = None


def build(session: Any = None) -> SlackNotifier:
    settings = Settings.from_env()
    session = session or boto3.session.Session()
    policy = load_resolved_policy(settings, session=session)
    store = DynamoDBLedgerStore.from_settings(settings, session.client("dynamodb"))
    secrets = SlackSecrets(settings.slack_secret_arn, client=session.client("secretsmanager"))
    return build_slack_notifier(
        settings, policy.accounts, store, secrets, session=session, options=OPTIONS
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _slack, _pending
    if _slack is None:
        _slack = build()
    if _pending is None:
        _pending = LedgerQueries(Settings.from_env().ledger_table, boto3.client("dynamodb"))
    _slack.flush()
    owed = _slack.owed()
    metrics.add_metric(name=OWED_METRIC, unit=MetricUnit.Count, value=owed)
    if owed:
        logger.warning(f"{owed} Slack message(s) still owed; the warnings above say why")
    pending = _pending.count(PENDING)
    metrics.add_metric(name=PENDING_METRIC, unit=MetricUnit.Count, value=pending)
    return {"owed": owed, "pending_approvals": pending}
