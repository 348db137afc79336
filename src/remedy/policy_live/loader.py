"""The policy a function acts on: the live bundle, checked before it takes effect.

On a cold start `LivePolicy` reads the live bundle; it then asks for a newer one at most
once every `REFRESH_SECONDS`, with a conditional GET (``If-None-Match`` the ETag it
holds), so a warm invocation within the minute makes no call and one after it costs one
request that S3 answers 304 while nothing changed.

A bundle is written into its own folder under the function's ``/tmp`` and loaded from
there exactly as ``remedy policy validate`` loads a folder; only then does it take
effect, and it becomes the process's policy folder (`remedy.policy_files.use`), so the
remediation actions' guard lists are read from the same version. A bundle that
cannot be read or fails validation never takes effect: the function keeps the policy
it has, logs the version refused and why, and emits ``PolicyLoadFailed`` (the core
template's PolicyLoadFailedAlarm), once at the refusal and again at every check while
that version is still the live one. A cold start that finds the live version bad takes
the newest older version that loads, the one warm functions kept. A bucket that holds no
bundle yet means the policy built into the function (the repository's ``policies/``,
the first deploy's content).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from remedy import policy_files
from remedy.errors import PolicyError, RemedyError
from remedy.policy import Policy, load_policy
from remedy.policy_live import bundle
from remedy.policy_live.bucket import PolicyBucket, Stored

if TYPE_CHECKING:
    from botocore.config import Config

    from remedy.settings import Settings

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0
METRIC = "PolicyLoadFailed"
#: What names the policy bucket in a function's environment (`remedy.settings.Settings`).
BUCKET_ENV = "REMEDY_POLICY_BUCKET"
#: `LivePolicy.version` while the function runs on the policy built into it.
BUILT_IN = "built-in"


def emit_refused(version: str, reason: str) -> None:
    """``PolicyLoadFailed`` as one Embedded Metric Format line, flushed now: every
    function can refuse a bundle, not only those that keep a Powertools Metrics object.
    Namespace and ``service`` dimension are the ones the template gives every function
    (``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_SERVICE_NAME``), as the alarm names."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=METRIC,
        unit=MetricUnit.Count,
        value=1,
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "remedy"),
    ) as metric:
        metric.add_dimension(
            name="service", value=os.environ.get("POWERTOOLS_SERVICE_NAME", "remedy")
        )


class NoGoodPolicy(RemedyError):
    """A cold start found no version of the bundle that loads."""


class LivePolicy:
    def __init__(
        self,
        store: PolicyBucket,
        *,
        built_in: Path | None = None,
        workdir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        refused: Callable[[str, str], None] = emit_refused,
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self.store = store
        self.built_in = built_in
        self.workdir = workdir or Path(tempfile.gettempdir()) / "remedy-policy"
        self.clock = clock
        self.refused = refused
        self.interval = interval
        self.version: str | None = None
        self._policy: Policy | None = None
        #: ETag of the live version last seen (taken or refused): the conditional GET's.
        self._etag = ""
        #: Why the live version last seen was refused; empty when it is the one in effect.
        self._refusal = ""
        self._refused_version = ""
        self._checked_at = 0.0

    def get(self) -> Policy:
        """The policy in effect, read on the first call (a cold start)."""
        if self._policy is None:
            self._cold_start()
        assert self._policy is not None
        return self._policy

    def refresh(self) -> bool:
        """Ask for a newer bundle if `interval` has passed since the last check; True when
        a new policy took effect (the caller rebuilds what it built from the old one)."""
        if self._policy is None:
            self._cold_start()
            return True
        now = self.clock()
        if now - self._checked_at < self.interval:
            return False
        self._checked_at = now
        try:
            stored = self.store.fetch_if_changed(self._etag) if self._etag else self.store.fetch()
        except (ClientError, BotoCoreError, RemedyError) as error:
            # Not remembered as a refusal: the next check simply tries again.
            log.error("cannot read %s, keeping version %s: %s", self.store.uri, self.version, error)
            self.refused("(unread)", str(error))
            return False
        if stored is None:
            if self._refusal:
                self._refuse(self._refused_version, self._refusal)
            return False
        self._etag = stored.etag
        try:
            policy = self._load(stored)
        except PolicyError as error:
            self._refuse(stored.version_id, "; ".join(error.problems))
            return False
        self._take(policy, stored.version_id)
        self._refusal = ""
        return True

    def _refuse(self, version: str, reason: str) -> None:
        self._refusal = reason
        self._refused_version = version
        log.error(
            "policy version %s refused, keeping version %s: %s",
            version,
            self.version or "(none)",
            reason,
        )
        self.refused(version, reason)

    def _take(self, policy: Policy, version: str) -> None:
        if self.version is not None:
            log.info("policy version %s in effect (was %s)", version, self.version)
        self._policy, self.version = policy, version
        # The actions' guard lists are read from the folder the policy came from.
        policy_files.use(policy.directory)

    def _load(self, stored: Stored) -> Policy:
        where = self.store.where(stored.version_id)
        found = bundle.from_bytes(stored.body, where)
        folder = self.workdir / found.sha256
        policy: Policy = bundle.validate(found, folder, where)
        return policy

    def _cold_start(self) -> None:
        self._checked_at = self.clock()
        live = self.store.fetch()
        if live is None:
            if self.built_in is None:
                raise NoGoodPolicy(f"{self.store.uri} holds no policy bundle yet")
            log.info("%s holds no bundle yet: the policy built into the function", self.store.uri)
            self._take(load_policy(self.built_in), BUILT_IN)
            return
        self._etag = live.etag
        try:
            self._take(self._load(live), live.version_id)
            return
        except PolicyError as error:
            self._refuse(live.version_id, "; ".join(error.problems))
        # The live version is bad: the newest one before it that loads is the one warm
        # functions kept.
        for older in self.store.versions():
            if older.version_id == live.version_id:
                continue
            stored = self.store.fetch(older.version_id)
            if stored is None:
                continue
            try:
                self._take(self._load(stored), stored.version_id)
            except PolicyError as error:
                log.error("policy version %s refused too: %s", older.version_id, error)
                continue
            return
        raise NoGoodPolicy(
            f"{self.store.uri}: no version of the policy bundle loads; push a good one "
            "(remedy policy push) or roll back (remedy policy rollback)"
        )


#: The process's live policy: functions build it once and keep it while warm.
_live: LivePolicy | None = None


def current_policy(
    settings: Settings, *, session: Any = None, config: Config | None = None
) -> Policy:
    """The policy a function runs with: the live bundle when the settings name a policy
    bucket, else the folder they name (the CLI, tests, a stack without a bucket)."""
    global _live
    if not settings.policy_bucket:
        return load_policy(settings.policy_dir)
    if _live is None or _live.store.bucket != settings.policy_bucket:
        import boto3

        client = (session or boto3.session.Session()).client("s3", config=config)
        built_in = Path(settings.policy_dir) if settings.policy_dir else None
        _live = LivePolicy(
            PolicyBucket(client, settings.policy_bucket),
            built_in=built_in,
            interval=settings.policy_refresh_seconds,
        )
    return _live.get()


def version(*, check: bool = False) -> str | None:
    """The live policy version this process acts on (None: it reads no policy bucket);
    with `check`, after asking the bucket (at most one conditional GET a minute). A handler
    compares it with the version it built its pieces with, and builds them again if a new
    one took effect."""
    # Only for the bucket this process is set up with (one per Lambda function; the demo
    # runs several functions, and the tests several setups, in one process).
    if _live is None or _live.store.bucket != os.environ.get(BUCKET_ENV):
        return None
    if check:
        _live.refresh()
    return _live.version
