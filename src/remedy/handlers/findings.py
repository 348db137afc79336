"""Lambda entry point for the findings queue (SQS; each record's body is one EventBridge
event), with partial batch responses.

Only wiring: Powertools' BatchProcessor hands each record to `record`, which parses the
body and runs `remedy.pipeline.Pipeline.process`. A record is reported as a batch item
failure, so SQS delivers it again and, after the queue's maxReceiveCount, moves it to the
DLQ, when:

- its body is not an event remedy can read (rejected with a one-line reason and counted
  as ``InvalidEvents``; it lands in the DLQ, principle 5);
- a finding's remediation FAILED (retryable: throttling, a 5xx, an unfinished copy);
- another worker holds the finding (`InProgress`), or AWS failed under the ledger.

Everything else is consumed: QUARANTINED and the outcomes a person must act on (GONE,
CHANGED, LOCKED, ARCHIVED, DENIED: retrying cannot change them; the notifiers alert), and
an event of several findings of which only some cannot be read (each of those is
recorded REJECTED with its reason and counted as ``InvalidFindings`` by the pipeline;
the others are processed).
The other records of the batch are never affected. Pieces are built once per container.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from remedy.errors import InvalidEvent, RemedyError
from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE, Runtime
from remedy.ledger.base import State

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger(service="remedy-findings")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
# A batch whose records all failed is answered like any other (every id listed), not
# raised: a batch of malformed events is bad input, not a function error (principle 5).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
runtime = Runtime(metrics)


class RetryLater(RemedyError):
    """The record's work is not finished; SQS should deliver it again."""


def record(record: SQSRecord) -> None:
    # Powertools' BatchProcessor passes the record by keyword: the parameter must be `record`.
    item = record
    try:
        event = json.loads(item.body)
    except ValueError as error:
        reason = InvalidEvent(f"body is not JSON: {error}")
        logger.warning(f"rejected message {item.message_id}: {reason}")
        runtime.count("InvalidEvents")
        raise reason from None
    try:
        entries = runtime.pipeline.process(event)
    except InvalidEvent as error:
        logger.warning(f"rejected message {item.message_id}: {error}")
        runtime.count("InvalidEvents")
        raise
    failed = [e.key for e in entries if e.state is State.FAILED]
    if failed:
        raise RetryLater(f"remediation failed for {', '.join(failed)}; will be retried")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> Any:
    try:
        return process_partial_response(
            event=event, record_handler=record, processor=processor, context=context
        )
    finally:
        runtime.flush()
