"""The safety rails in the demo (docs/safety-rails.md), on the same local AWS and Slack.

The live policy gets three rails as an operator gives them (``remedy policy pull``, an
edit, ``remedy policy push``): a breaker of 3 automatic remediations per rule in an
account, ``mode: dry-run`` on the financial-data rule, and the shipped default for
resources managed as code (ask). The deployed findings function then acts on it, its
pipeline built as its runtime builds it (`Runtime`: its environment, its role's
credentials, the Slack and owners' notifiers, the breaker's alerts). Then:

- a burst of 6 credentials findings in one member: 3 quarantined, the other 3 wait for
  approval, one Slack message and one owners' email say the breaker opened;
- a public-bucket call on a bucket a CloudFormation stack manages: an approval naming the
  stack, the bucket left as it is;
- card numbers under the dry-run rule: recorded with the plan, and no request about the
  object on the wire.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remedy.demo import wire
from remedy.demo.lambda_runtime import LocalFunction
from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import Organisation
from remedy.demo.policy_change import SETTLE_SECONDS, run_cli
from remedy.demo.report import Claim
from remedy.demo.samples import Stored, stored_sample
from remedy.demo.scenario import dated, macie_object_event
from remedy.devtools.slack_server import SlackServer
from remedy.handlers.runtime import Runtime, policy_version
from remedy.ledger.base import Entry, State
from remedy.policy_live.loader import BUCKET_ENV
from remedy.rails.breaker import Breaker

BURST = 6
LIMIT = 3
#: The findings this part sends: the burst, the managed bucket's call, the dry run.
FINDINGS = BURST + 2
STACK = "payments-site"


class Metrics:
    """What Powertools' Metrics is asked to record, counted by name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.counts[name] += int(value)


def _push_rails(aws: LocalAWS, org: Organisation, progress: Callable[[str], None]) -> None:
    """The live policy pulled, given the rails and pushed (a refused push shows in the
    progress, and in the claims: no rail acts); back once the functions can have taken it."""
    env = {**aws.credentials(org.core), BUCKET_ENV: org.outputs["PolicyBucketName"]}
    folder = aws.workdir / "rails-policy"
    run_cli(env, ["policy", "pull", str(folder)])
    rules = folder / "remediation.yaml"
    text = rules.read_text(encoding="utf-8").replace(
        "  - id: quarantine-financial\n", "  - id: quarantine-financial\n    mode: dry-run\n", 1
    )
    rules.write_text(text + f"\nrails:\n  breaker: {{per_rule: {LIMIT}}}\n", encoding="utf-8")
    message = f"rails: a breaker of {LIMIT} per rule, a dry run for financial data"
    status, out, err = run_cli(
        env, ["policy", "push", str(folder), "--allow-example-accounts", "-m", message]
    )
    progress(f"rails: remedy policy push -m {message!r}: exit {status} {(out + err).strip()}")
    time.sleep(SETTLE_SECONDS)


def _event(root: Path, name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((root / "events" / name).read_text(encoding="utf-8"))
    return dated(event, datetime.now(UTC))


def macie_event(root: Path, name: str, stored: Stored) -> dict[str, Any]:
    event = macie_object_event(_event(root, name), stored)
    # What EventBridge sets: the sender's account, and an id of its own per event.
    event["account"] = stored.account
    event["id"] = str(uuid.uuid4())
    event["detail"]["id"] = uuid.uuid4().hex
    return event


def put_object(aws: LocalAWS, account: str, bucket: str, key: str, body: bytes) -> Stored:
    s3 = aws.session(account).client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return stored_sample(s3, account, bucket, key, body)


def new_bucket(aws: LocalAWS, account: str, name: str) -> str:
    aws.session(account).client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region}
    )
    return name


def stack_bucket(session: Any, account: str, stack: str, bucket: str) -> str:
    """`bucket`, deployed in `account` by CloudFormation stack `stack` through `session`
    (an administrator's), tagged as AWS tags a stack's resources; also used by the tests."""
    from moto.s3.models import s3_backends

    template = {
        "Resources": {"Data": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}}
    }
    stack_id = session.client("cloudformation").create_stack(
        StackName=stack, TemplateBody=json.dumps(template)
    )["StackId"]
    # moto's CloudFormation adds no aws:cloudformation:* tags, and its S3 API refuses aws:
    # tags from a requester (as AWS does): set them in moto as AWS would.
    s3_backends[account]["global"].put_bucket_tagging(
        bucket, {"aws:cloudformation:stack-id": stack_id, "aws:cloudformation:stack-name": stack}
    )
    return bucket


def _public_call(root: Path, account: str, bucket: str) -> dict[str, Any]:
    event = _event(root, "cloudtrail-s3-putbucketpolicy-public-string.json")
    sample_account = event["detail"]["recipientAccountId"]
    sample_bucket = event["detail"]["requestParameters"]["bucketName"]
    text = json.dumps(event).replace(sample_account, account).replace(sample_bucket, bucket)
    changed: dict[str, Any] = json.loads(text)
    changed["account"] = account
    return changed


def show(
    aws: LocalAWS,
    root: Path,
    org: Organisation,
    findings: LocalFunction,
    slack: SlackServer,
    progress: Callable[[str], None],
) -> list[Claim]:
    """The rails' part of the demo, as claims checked against what AWS and Slack hold."""
    first, second, third = org.members
    _push_rails(aws, org, progress)
    metrics = Metrics()
    runtime = Runtime(metrics)
    burst_bucket = new_bucket(aws, first, f"rails-burst-{first}")
    burst = [
        put_object(aws, first, burst_bucket, f"deploy/{n}/.env", b"aws_secret_access_key=demo")
        for n in range(BURST)
    ]
    managed = stack_bucket(aws.session(second), second, STACK, f"{STACK}-{second}")
    cards = put_object(
        aws,
        third,
        new_bucket(aws, third, f"rails-dry-{third}"),
        "exports/cards.csv",
        b"4111111111111111",
    )
    scope = f"rule:quarantine-credentials:{first}"
    aws.start_recording()
    with findings._container():
        # What the function's next invocation does first: take the version just pushed.
        policy_version(check=True)
        pipeline = runtime.pipeline
        # The story before counted its own quarantines in the span: the room left.
        counted = Breaker(
            pipeline.rails.dynamodb, pipeline.rails.table, pipeline.policy.rails.breaker
        )
        room = LIMIT - counted.status().counts.get(scope, 0)
        held = [
            pipeline.process(macie_event(root, "macie-classification-credentials.json", s))[0]
            for s in burst
        ]
        runtime.flush()
        progress(
            f"rails: a burst of {BURST} credentials findings in {first}: "
            + ", ".join(f"{n} {s}" for s, n in Counter(e.state.value for e in held).items())
        )
        (stacked,) = pipeline.process(_public_call(root, second, managed))
        runtime.flush()
        progress(f"rails: public-bucket call on {managed} (stack {STACK}): {stacked.state.value}")
        before = len(aws.recorded())
        (dry,) = pipeline.process(macie_event(root, "macie-classification-financial.json", cards))
        runtime.flush()
        progress(f"rails: card numbers under the dry-run rule: {dry.state.value}")
    requests = aws.recorded()
    aws.stop_recording()
    return [
        _burst_claim(held, room, metrics, slack, requests, first),
        _managed_claim(stacked, aws, second, managed, slack),
        _dry_run_claim(dry, cards, aws, requests[before:]),
    ]


def _burst_claim(
    entries: list[Entry],
    room: int,
    metrics: Metrics,
    slack: SlackServer,
    requests: list[dict[str, Any]],
    account: str,
) -> Claim:
    states = [e.state for e in entries]
    alerts = [m for m in slack.messages() if "circuit breaker open" in m.text]
    emails = wire.published(requests, "circuit breaker open")
    ok = (
        states == [State.QUARANTINED] * room + [State.PENDING_APPROVAL] * (BURST - room)
        and all(e.decision.get("mode") == "hold" for e in entries[room:])
        and len(alerts) == 1
        and emails == 1
        and metrics.counts["BreakerOpen"] == 1
    )
    return Claim(
        f"a burst of {BURST} findings in {account} tripped the breaker at {LIMIT} ({room} "
        "room left by the story): the rest wait for approval, one Slack message, one owners' "
        "email, BreakerOpen once",
        ok,
        f"states {[s.value for s in states]}, {len(alerts)} Slack alert(s), {emails} email(s), "
        f"BreakerOpen {metrics.counts['BreakerOpen']}",
    )


def _managed_claim(
    entry: Entry, aws: LocalAWS, account: str, bucket: str, slack: SlackServer
) -> Claim:
    s3 = aws.session(account).client("s3")
    try:
        s3.get_public_access_block(Bucket=bucket)
        untouched = False
    except s3.exceptions.ClientError:
        untouched = True
    named = any(f"managed by stack {STACK}" in json.dumps(m.blocks) for m in slack.messages())
    ok = entry.state is State.PENDING_APPROVAL and untouched and named
    return Claim(
        f"a bucket stack {STACK} manages got an approval naming the stack, not a fix",
        ok,
        f"{entry.state.value}; Block Public Access untouched: {untouched}; Slack names the "
        f"stack: {named}",
    )


def _dry_run_claim(
    entry: Entry, stored: Stored, aws: LocalAWS, requests: list[dict[str, Any]]
) -> Claim:
    about = [r for r in requests if stored.key in str(r.get("url", ""))]
    body = aws.session(stored.account).client("s3").get_object(Bucket=stored.bucket, Key=stored.key)
    still_there = body["Body"].read() == stored.body
    plan = entry.attrs.get("dry_run") or {}
    ok = entry.state is State.DRY_RUN and not about and still_there and bool(plan.get("calls"))
    return Claim(
        "the dry-run rule recorded what it would have done and made no request about the object",
        ok,
        f"{entry.state.value}; would {plan.get('would')} with {len(plan.get('calls', []))} "
        f"declared calls; {len(about)} request(s) about {stored.uri} on the wire",
    )
