"""Lambda entry point of the remediator, invoked asynchronously with ``{"key": ...}``
after an approval: carries out the approved entry (`remedy.pipeline.Pipeline.remediate`).

A FAILED outcome raises, so Lambda's asynchronous retries try again (so does an entry
another worker still holds, `InProgress`); every other outcome is final for this
invocation and returned, as is the refusal of an invocation without a known key. Pieces
are built once per container.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from remedy.errors import RemedyError
from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE, Runtime
from remedy.ledger.base import State

logger = Logger(service="remedy-remediator")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
runtime = Runtime(metrics)


class RemediationFailed(RemedyError):
    """Raised so Lambda retries the invocation."""


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = event.get("key") if isinstance(event, dict) else None
    if not isinstance(key, str) or not key:
        # Not retryable: a malformed invocation stays malformed.
        logger.error(f"remediator invoked without a ledger key: {event!r:.200}")
        runtime.count("InvalidInvocations")
        return {"error": 'expected {"key": "<ledger key>"}'}
    # With the pipeline, on the first request: the module import stays light (runtime.py).
    from remedy.pipeline import UnknownEntry

    try:
        entry = runtime.pipeline.remediate(key)
    except UnknownEntry as error:
        logger.error(str(error))
        runtime.count("InvalidInvocations")
        return {"error": str(error)}
    finally:
        runtime.flush()
    if entry.state is State.FAILED:
        raise RemediationFailed(f"remediation of {key} failed; Lambda will retry")
    return {"key": key, "state": entry.state.value}
