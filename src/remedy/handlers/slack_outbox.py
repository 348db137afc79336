"""Lambda entry point an EventBridge schedule runs every few minutes: re-sends the Slack
messages and digests still owed after a Slack outage (`remedy.notify.outbox`).

The findings and remediator functions re-send what is owed when they next notify; this
schedule covers the quiet hours after an outage, when no finding arrives to do it. What
is still owed afterwards is reported as the ``SlackMessagesOwed`` metric, which the core
template's SlackOwedAlarm watches: messages owed for long mean Slack is down or refuses
them (a revoked token, a deleted channel), and the logs say which. Only wiring; the
pieces are built once per container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE

if TYPE_CHECKING:
    from remedy.notify.slack import SlackNotifier

logger = Logger(service="remedy-slack-outbox")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
OWED_METRIC = "SlackMessagesOwed"
# Slack takes about one message a second per channel: a run re-sends at most 100, and
# starts no send after 150 s, which leaves a slow send (timeouts, retries, a rate limit
# waited out) time to finish within the function's 240 s; the next run takes the rest.
OUTBOX_BATCH = 100
OUTBOX_SECONDS = 150.0

_slack: SlackNotifier | None = None


def build(session: Any = None) -> SlackNotifier:
    # Imported on the first run, not with the module (see remedy.handlers.interactions).
    import boto3

    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.notify.composite import SlackOptions, build_slack_notifier
    from remedy.notify.secrets import SlackSecrets
    from remedy.policy import load_policy
    from remedy.settings import Settings

    options = SlackOptions(outbox_batch=OUTBOX_BATCH, outbox_seconds=OUTBOX_SECONDS)
    settings = Settings.from_env()
    session = session or boto3.session.Session()
    policy = load_policy(settings.policy_dir)
    store = DynamoDBLedgerStore.from_settings(settings, session.client("dynamodb"))
    secrets = SlackSecrets(settings.slack_secret_arn, client=session.client("secretsmanager"))
    return build_slack_notifier(
        settings, policy.accounts, store, secrets, session=session, options=options
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _slack
    if _slack is None:
        _slack = build()
    _slack.flush()
    owed = _slack.owed()
    metrics.add_metric(name=OWED_METRIC, unit=MetricUnit.Count, value=owed)
    if owed:
        logger.warning(f"{owed} Slack message(s) still owed; the warnings above say why")
    return {"owed": owed}
