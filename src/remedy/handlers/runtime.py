"""What the findings and remediator functions build once per container: the pipeline
with its notifier, and the metrics counter. Built on first use, reused while warm.

The pipeline's modules (policy, actions, notifiers, Slack) are imported with it, on the
first request, not when the entry point is imported: the module import stays within
bare ``import boto3`` + 100 ms (bench/cold_start.py), and nothing here is part of a cycle
(`remedy.pipeline` never imports the handlers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remedy.pipeline import Pipeline

#: Every function's custom metrics share one namespace and one ``service`` dimension:
#: the core template's alarms name exactly these (see RemediationFailedAlarm).
METRICS_NAMESPACE = "remedy"
METRICS_SERVICE = "remedy"


def policy_version(*, check: bool = False) -> str | None:
    """The live policy version in effect (`remedy.policy_live.loader.version`): a handler
    keeps the one it built its pieces with and builds them again when another took
    effect. Imported here, not with the module: by then the first request has loaded it."""
    from remedy.policy_live.loader import version

    return version(check=check)


class Runtime:
    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self._pipeline: Pipeline | None = None
        #: The live policy version the pipeline was built with.
        self._policy: str | None = None
        self._notifier: Any = None

    def count(self, name: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    def measure(self, name: str, seconds: float) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=seconds)

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is not None and self._policy != policy_version(check=True):
            # A new policy version: what was built from the old one is built again, after
            # the old notifier has sent what it holds.
            self.flush()
            self._pipeline = None
        if self._pipeline is None:
            import boto3

            from remedy.notify.composite import build_notifier
            from remedy.pipeline import Pipeline
            from remedy.rails.alerts import BreakerAlerts
            from remedy.settings import Settings

            settings = Settings.from_env()
            # One session for the ledger and the notifier: service models load once.
            session = boto3.session.Session()
            pipeline = Pipeline.from_settings(
                settings, count=self.count, measure=self.measure, session=session
            )
            self._notifier = build_notifier(
                settings,
                pipeline.policy.accounts,
                pipeline.store,
                session=session,
                metrics=self.metrics,
            )
            pipeline.announce.notifiers = (self._notifier,)
            pipeline.rails.alert = BreakerAlerts(pipeline.policy.accounts, self._notifier)
            self._pipeline = pipeline
            self._policy = policy_version()
        return self._pipeline

    def flush(self) -> None:
        """End of an invocation: let the notifier send what it batched or owes."""
        if self._notifier is not None:
            self._notifier.flush()
