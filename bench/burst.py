"""A burst from an organisation: 10,000 findings from 300 member accounts in 3 regions.

Every finding goes through the real findings entry point (`remedy.handlers.findings.handler`)
the way Lambda delivers it: the events are fed to an SQS queue (moto), 300 ahead of the
consumers (moto's SQS slows with every message it holds), and five "containers"
(the template's ``MaximumConcurrency: 5``, each its own copy of the handler module, so its
own pipeline, clients and notifier) take batches of 10, delete what the handler consumed
and leave its batch item failures for redelivery, until the queue is empty. Slack is the
local server (`remedy.devtools.slack_server`); AWS is moto in-process, one request at a
time (a lock around moto's responder, as each DynamoDB item write is atomic in AWS).

The mix, per unique finding: 20 % Macie credentials on a real object (quarantine), 10 %
Macie personal data (approve: a message with buttons), 40 % Macie policy findings
(notify), 30 % Security Hub low-severity controls (ignore). On top, half the Macie
sensitive-data findings also arrive as Macie's copy in Security Hub (from the aggregator
account), and 10 % of all events are delivered twice.

The local Slack keeps Slack's pace: about one post a second per channel, ``--slack-burst``
(2) at once, and 429 ``ratelimited`` with ``Retry-After`` beyond that. What the burst
leaves owed is then re-sent by the scheduled Slack outbox function, run as its schedule
would run it, and counted.

Reported at each size (default 1,000 and 10,000):
- findings lost: every unique finding is in the ledger in its expected final or pending
  state, and every one a person must see has its own Slack message or is counted in a
  digest whose last rendering shows all it counted;
- Slack posts tried per second per channel (peak over any one-second window, and mean),
  which Slack keeps to about 1, and how many it answered 429;
- Slack messages owed after the burst, and the outbox runs that sent them;
- Slack messages and AWS calls per finding (calls the handler made, counted at moto);
- CPU ms per finding in the handler (its threads' CPU time less moto's own);
and how each grows from the small to the large run.

    .venv/bin/python bench/burst.py [--sizes 1000 10000] [--accounts 300] [--containers 5]
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import yaml
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixtures_aws as aws  # noqa: E402  (the tests' event builders and ledger table)
from interactions import fake_aws  # noqa: E402

REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
CHANNELS = 10  # team channels the accounts are spread over
BACKLOG = 300  # events kept waiting on the queue (see `feed` in `run`)
CORE_REGION = "eu-west-1"
PERSONAL_TYPE = "SensitiveData:S3Object/Personal"
PERSONAL_ASFF = "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal"
EXPECTED = {
    "quarantine": "QUARANTINED",
    "approve": "PENDING_APPROVAL",
    "notify": "NOTIFIED",
    "ignore": "IGNORED",
}
#: What a person must see in Slack (its own message, or counted in a digest).
SEEN = {"quarantine", "approve", "notify"}


def account_ids(count: int) -> list[str]:
    return [f"{210000000000 + i * 7919:012d}" for i in range(count)]


def policy_dir(accounts: list[str], into: Path) -> Path:
    """The shipped policy, with accounts.yaml naming every member and its team channel."""
    folder = into / "policies"
    shutil.copytree(ROOT / "policies", folder, ignore=shutil.ignore_patterns("schema"))
    document = yaml.safe_load((folder / "accounts.yaml").read_text(encoding="utf-8"))
    for i, account in enumerate(accounts):
        team = i % CHANNELS
        document["accounts"][account] = {
            "name": f"team-{team}-{i}",
            "environment": "prod" if i % 3 == 0 else "dev",
            "owners": [f"team-{team}@example.com"],
            "slack": {"channel": f"#team-{team}-security"},
        }
    (folder / "accounts.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


@dataclass
class Planned:
    """The events of a burst and what each unique finding must end as."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: (kind, account, region, marker) per unique finding; marker names its resource.
    findings: list[tuple[str, str, str, str]] = field(default_factory=list)


@functools.cache
def _member_s3(account: str, region: str) -> Any:
    return aws.admin_session(account, region).client("s3")


def _quarantine_target(account: str, region: str, ready: set[tuple[str, str]]) -> None:
    """What the member template gives an account and region: the quarantine bucket, its
    key alias, and a data bucket holding the objects Macie found."""
    if (account, region) in ready:
        return
    s3 = _member_s3(account, region)
    where = {} if region == "us-east-1" else {"LocationConstraint": region}
    for bucket in (f"{aws.PREFIX}-quarantine-{account}-{region}", f"data-{account}-{region}"):
        if where:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)  # type: ignore[arg-type]
        else:
            s3.create_bucket(Bucket=bucket)
    kms = aws.admin_session(account, region).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{aws.PREFIX}-quarantine", TargetKeyId=key)
    ready.add((account, region))


def plan(size: int, accounts: list[str]) -> Planned:
    """`size` events: unique findings, Security Hub copies and redeliveries."""
    planned = Planned()
    ready: set[tuple[str, str]] = set()
    policy_template = json.loads((aws.EVENTS / "macie-policy-s3bucketpublic.json").read_text())
    control_template = json.loads(
        (aws.EVENTS / "securityhub-control-s3.13-lifecycle-low.json").read_text()
    )
    copies: list[dict[str, Any]] = []
    i = 0
    while len(planned.events) + len(copies) < size * 10 // 11:
        account = accounts[i % len(accounts)]
        region = REGIONS[(i // len(accounts)) % len(REGIONS)]
        kind = ("quarantine", "quarantine", "approve", *["notify"] * 4, *["ignore"] * 3)[i % 10]
        marker = f"burst-{i}"
        if kind in ("quarantine", "approve"):
            _quarantine_target(account, region, ready)
            bucket, key = f"data-{account}-{region}", f"found/{marker}.txt"
            put = _member_s3(account, region).put_object(Bucket=bucket, Key=key, Body=b"x" * 64)
            finding_type = aws.CREDENTIALS_TYPE if kind == "quarantine" else PERSONAL_TYPE
            event = aws.macie_event(
                account, bucket, key, etag=put["ETag"], size=64, finding_type=finding_type
            )
            event["region"] = event["detail"]["region"] = region
            if i % 20 < 10:  # half of them are also published to Security Hub
                asff = (
                    "Sensitive Data Identifications/Passwords/SensitiveData:S3Object-Credentials"
                    if kind == "quarantine"
                    else PERSONAL_ASFF
                )
                copies.append(
                    aws.securityhub_copy(
                        account, bucket, key, etag=put["ETag"], asff_type=asff, region=region
                    )
                )
        elif kind == "notify":
            event = copy.deepcopy(policy_template)
            event["id"] = str(uuid.uuid4())
            event["account"] = event["detail"]["accountId"] = account
            event["region"] = event["detail"]["region"] = region
            event["detail"]["id"] = uuid.uuid4().hex
            event["detail"]["type"] = "Policy:IAMUser/S3BucketEncryptionDisabled"
            resource = event["detail"]["resourcesAffected"]["s3Bucket"]
            resource["name"], resource["arn"] = marker, f"arn:aws:s3:::{marker}"
        else:
            event = copy.deepcopy(control_template)
            event["id"] = str(uuid.uuid4())
            event["account"], event["region"] = account, region
            finding = event["detail"]["findings"][0]
            finding["Id"] = f"arn:aws:securityhub:{region}:{account}:finding/{marker}"
            finding["AwsAccountId"], finding["Region"] = account, region
            finding["Resources"][0]["Id"] = f"arn:aws:s3:::{marker}"
        planned.events.append(event)
        planned.findings.append((kind, account, region, marker))
        i += 1
    # Copies and redeliveries arrive later than the first delivery, as they do.
    planned.events += copies
    extra = size - len(planned.events)
    if extra > 0:
        planned.events += planned.events[:: max(1, len(planned.events) // extra)][:extra]
    return planned


class MotoMeter:
    """AWS as the handler sees it: moto answers one request at a time, and the requests
    made (and moto's own CPU time) are counted for handler threads only."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.calls: Counter[str] = Counter()
        self.moto_cpu = 0.0
        self._process = BotocoreStubber.process_request

    @contextmanager
    def installed(self) -> Iterator[MotoMeter]:
        meter, process = self, self._process

        def metered(stubber: BotocoreStubber, request: Any) -> Any:
            counting = getattr(meter.local, "handler", False)
            with meter.lock:
                start = time.thread_time()
                try:
                    return process(stubber, request)
                finally:
                    if counting:
                        meter.moto_cpu += time.thread_time() - start
                        meter.calls[_service(request.url)] += 1

        BotocoreStubber.process_request = metered  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BotocoreStubber.process_request = process  # type: ignore[method-assign]


@contextmanager
def pace_waits() -> Iterator[list[float]]:
    """Seconds the Slack pace made the handler sleep (Lambda bills them): the sum of what
    every `ChannelPace.wait` returned while installed."""
    from remedy.notify.pace import ChannelPace

    waited = [0.0]
    lock = threading.Lock()
    original = ChannelPace.wait

    def wait(self: ChannelPace, channel: str) -> float:
        slept = original(self, channel)
        with lock:
            waited[0] += slept
        return slept

    ChannelPace.wait = wait  # type: ignore[method-assign]
    try:
        yield waited
    finally:
        ChannelPace.wait = original  # type: ignore[method-assign]


_SERVICES = ("s3", "dynamodb", "sts", "sns", "secretsmanager", "kms", "securityhub", "lambda")


def _service(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return next((label for label in host.split(".") if label in _SERVICES), host)


def _container(entry_point: str = "remedy.handlers.findings") -> Any:
    """A fresh copy of an entry point module: its own runtime, as a container."""
    spec = importlib.util.find_spec(entry_point)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _in_queue(sqs: Any, queue_url: str) -> int:
    counts = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in counts.values())


def _sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": CORE_REGION,
            }
            for m in messages
        ]
    }


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": aws.CORE,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": CORE_REGION,
        "resources": [],
        "detail": {},
    }


def _resend_owed(dynamodb: Any, context: Any) -> tuple[int, int]:
    """How many Slack messages the burst left owed, and how many runs of the scheduled
    Slack outbox function (every 5 minutes in AWS; at most 10 here) sent them all."""
    from remedy.notify.outbox import SlackOutbox

    owed = first = SlackOutbox(dynamodb, aws.LEDGER_TABLE).count()
    outbox = _container("remedy.handlers.slack_outbox") if owed else None
    runs = 0
    while outbox is not None and owed and runs < 10:
        owed = outbox.handler(_scheduled_event(), context)["owed"]
        runs += 1
    return first, runs


def run(
    size: int, accounts: list[str], containers: int, scratch: Path, slack_burst: int
) -> dict[str, Any]:
    from remedy.devtools.slack_server import SlackServer

    with mock_aws(), SlackServer() as slack:
        slack.limit_posts(per_second=1.0, burst=slack_burst)
        dynamodb = boto3.client("dynamodb", region_name=CORE_REGION)
        aws.create_ledger_table(dynamodb)
        secret_arn = boto3.client("secretsmanager", region_name=CORE_REGION).create_secret(
            Name="remedy/slack",
            SecretString=json.dumps({"bot_token": slack.token, "signing_secret": "burst"}),
        )["ARN"]
        topic_arn = boto3.client("sns", region_name=CORE_REGION).create_topic(Name="remedy-owners")[
            "TopicArn"
        ]
        os.environ.update(
            {
                "REMEDY_LEDGER_TABLE": aws.LEDGER_TABLE,
                "REMEDY_SLACK_SECRET_ARN": secret_arn,
                "REMEDY_OWNER_TOPIC_ARN": topic_arn,
                "REMEDY_EXTERNAL_ID": aws.EXTERNAL_ID,
                "REMEDY_SLACK_API_URL": slack.url,
                "REMEDY_POLICY_DIR": str(policy_dir(accounts, scratch)),
            }
        )
        _member_s3.cache_clear()  # a new moto: new credentials
        planned = plan(size, accounts)
        sqs = boto3.client("sqs", region_name=CORE_REGION)
        queue_url = sqs.create_queue(
            QueueName="remedy-findings", Attributes={"VisibilityTimeout": "20"}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        errors: queue.Queue[BaseException] = queue.Queue()
        fed = threading.Event()

        def feed() -> None:
            # moto's SQS looks at every message in the queue on each send and receive, so a
            # queue holding all 10,000 at once costs quadratic time in moto alone. The
            # events go in as the containers make room; the queue never runs dry.
            client = boto3.client("sqs", region_name=CORE_REGION)
            try:
                for first in range(0, len(planned.events), 10):
                    while _in_queue(client, queue_url) >= BACKLOG:
                        time.sleep(0.05)
                    client.send_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(n), "MessageBody": json.dumps(e)}
                            for n, e in enumerate(planned.events[first : first + 10])
                        ],
                    )
            except BaseException as error:  # reported by the main thread
                errors.put(error)
            finally:
                fed.set()

        meter = MotoMeter()
        handler_cpu = [0.0] * containers
        invocations = [0] * containers
        context = aws.LambdaContext()

        def container(index: int) -> None:
            profile = None
            if index == 0 and os.environ.get("BURST_PROFILE"):
                import cProfile

                profile = cProfile.Profile()
                profile.enable()
            module = _container()
            client = boto3.client("sqs", region_name=CORE_REGION)
            try:
                while True:
                    got = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
                    messages = got.get("Messages", [])
                    if not messages:
                        if fed.is_set() and not _in_queue(client, queue_url):
                            return
                        time.sleep(0.5)  # others still hold messages: they may come back
                        continue
                    meter.local.handler = True
                    start = time.thread_time()
                    answer = module.handler(_sqs_event(messages, queue_arn), context)
                    handler_cpu[index] += time.thread_time() - start
                    meter.local.handler = False
                    invocations[index] += 1
                    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
                    done = [m for m in messages if m["MessageId"] not in failed]
                    if done:
                        client.delete_message_batch(
                            QueueUrl=queue_url,
                            Entries=[
                                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                for n, m in enumerate(done)
                            ],
                        )
            except BaseException as error:  # reported by the main thread
                errors.put(error)
            finally:
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(os.environ["BURST_PROFILE"])

        log = scratch / f"handler-{size}.log"
        started = time.perf_counter()
        with (
            meter.installed(),
            pace_waits() as waited,
            log.open("w") as out,
            redirect_stdout(out),
        ):
            threads = [threading.Thread(target=feed)]
            threads += [threading.Thread(target=container, args=(n,)) for n in range(containers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        seconds = time.perf_counter() - started
        if not errors.empty():
            raise errors.get()
        moto_cpu = meter.moto_cpu
        slack_figures = _slack_figures(slack, len(planned.events))
        owed, outbox_runs = _resend_owed(dynamodb, context)
        lost = _lost(planned, dynamodb, slack)
        return {
            "events": len(planned.events),
            "unique": len(planned.findings),
            "lost": lost,
            "seconds": seconds,
            "invocations": sum(invocations),
            "cpu_ms": (sum(handler_cpu) - moto_cpu) * 1e3 / len(planned.events),
            "aws_calls": sum(meter.calls.values()) / len(planned.events),
            "calls_by_service": dict(meter.calls.most_common()),
            **slack_figures,
            "owed": owed,
            "pace_wait_s": waited[0] / len(planned.events),
            "outbox_runs": outbox_runs,
            "log": str(log),
            "quarantined": sum(1 for f in planned.findings if f[0] == "quarantine"),
        }


def _entries(dynamodb: Any) -> Iterator[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    for page in dynamodb.get_paginator("scan").paginate(TableName=aws.LEDGER_TABLE):
        for item in page["Items"]:
            yield {k: plain.deserialize(v) for k, v in item.items()}


def _lost(planned: Planned, dynamodb: Any, slack: Any) -> dict[str, Any]:
    """Every way a finding went missing, by kind (empty lists: nothing lost)."""
    items = list(_entries(dynamodb))
    by_marker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    digests = {i["pk"]: i for i in items if str(i["pk"]).startswith("slack#digest#")}
    for item in items:
        text = json.dumps(item, default=str)
        for marker in set(_markers(text)):
            by_marker[marker].append(item)
    missing, wrong_state, unseen, twice = [], [], [], []
    in_digest: Counter[str] = Counter()
    for kind, _account, _region, marker in planned.findings:
        entries = [e for e in by_marker.get(marker, []) if "state" in e]
        if not entries:
            missing.append(marker)
            continue
        if len(entries) > 1:
            twice.append(marker)
        entry = entries[0]
        if entry["state"] != EXPECTED[kind]:
            wrong_state.append(f"{marker}: {entry['state']} (expected {EXPECTED[kind]})")
        if kind in SEEN:
            shown = entry.get("attrs", {}).get("slack") or {}
            if shown.get("digest"):
                in_digest[shown["digest"]] += 1
            elif not shown.get("ts"):
                unseen.append(marker)
    stale = [
        f"{pk}: counted {d.get('digested')}, its message shows {d.get('rendered')}"
        for pk, d in digests.items()
        if "digested" in d and (d.get("rendered") != d["digested"] or "digest_ts" not in d)
    ]
    short = [
        f"{pk}: {n} findings point at it, it counted {digests[pk].get('digested')}"
        for pk, n in in_digest.items()
        if pk not in digests or int(digests[pk].get("digested", 0)) < n
    ]
    return {
        "not in the ledger": missing,
        "in the wrong state": wrong_state,
        "more than one ledger entry": twice,
        "on no Slack message or digest": unseen,
        "digest message behind its count": stale,
        "digest counting fewer than it holds": short,
        "digested": sum(in_digest.values()),
    }


def _markers(text: str) -> Iterator[str]:
    start = text.find("burst-")
    while start != -1:
        end = start + len("burst-")
        while end < len(text) and text[end].isdigit():
            end += 1
        yield text[start:end]
        start = text.find("burst-", end)


def _pace(times_by_channel: dict[str, list[float]]) -> tuple[int, float]:
    """The most requests one channel got in any one second, and the highest rate of a
    channel between its first and last request (n requests over their n-1 gaps)."""
    peak, mean = 0, 0.0
    for times in times_by_channel.values():
        times.sort()
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            peak = max(peak, last - first + 1)
        span = max(times[-1] - times[0], 1.0)
        mean = max(mean, (len(times) - 1) / span)
    return peak, mean


def _slack_figures(slack: Any, events: int) -> dict[str, Any]:
    posts: dict[str, list[float]] = defaultdict(list)
    changes: dict[str, list[float]] = defaultdict(list)
    methods: Counter[str] = Counter()
    for request in slack.requests:
        methods[request.method] += 1
        channel = slack.channel_id(str(request.params.get("channel")))
        if request.method == "chat.postMessage":
            posts[channel].append(request.at)
        if request.method in ("chat.postMessage", "chat.update"):
            changes[channel].append(request.at)
    post_peak, post_mean = _pace(posts)
    peak, mean = _pace(changes)
    refused = slack.rate_limited
    return {
        "messages": (methods["chat.postMessage"] - refused) / events,
        "slack_calls": sum(methods.values()) / events,
        "posts": methods["chat.postMessage"] - refused,
        "rate_limited": refused,
        "updates": methods["chat.update"],
        "channels": len(changes),
        "post_peak_per_channel": post_peak,
        "post_mean_per_channel": post_mean,
        "peak_per_channel": peak,
        "mean_per_channel": mean,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--containers", type=int, default=5)
    parser.add_argument(
        "--slack-burst",
        type=int,
        default=2,
        help="posts the local Slack takes at once per channel before its 1/s pace (429 after)",
    )
    parser.add_argument(
        "--save", type=Path, help="write the largest run's usage per finding here (bench/cost.py)"
    )
    args = parser.parse_args()
    fake_aws(CORE_REGION)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would flood stdout
    accounts = account_ids(args.accounts)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            where = Path(scratch) / str(size)
            where.mkdir()
            result = run(size, accounts, args.containers, where, args.slack_burst)
            results.append(result)
            lost = {k: v for k, v in result["lost"].items() if v and k != "digested"}
            print(
                f"{result['events']:>6} events ({result['unique']} unique findings, "
                f"{args.accounts} accounts x {len(REGIONS)} regions, {args.containers} "
                f"containers, {result['invocations']} invocations, {result['seconds']:.0f} s): "
                f"lost {sum(len(v) for v in lost.values())}"
                f"{' ' + json.dumps(lost)[:2000] if lost else ''}; "
                f"{result['lost']['digested']} in digests"
            )
            print(
                f"       Slack: {result['messages']:.3f} messages per finding, "
                f"{result['slack_calls']:.3f} API calls per finding ({result['posts']} posts, "
                f"{result['updates']} updates, {result['channels']} channels); per channel "
                f"peak {result['post_peak_per_channel']} posts tried in one second (mean "
                f"{result['post_mean_per_channel']:.2f}/s), {result['rate_limited']} answered "
                f"429; with updates peak {result['peak_per_channel']} (mean "
                f"{result['mean_per_channel']:.2f}/s); owed after the burst "
                f"{result['owed']}, sent by {result['outbox_runs']} outbox runs; pace waits "
                f"{result['pace_wait_s'] * 1e3:.1f} ms per finding"
            )
            print(
                f"       AWS: {result['aws_calls']:.2f} calls per finding "
                f"{result['calls_by_service']}; handler CPU {result['cpu_ms']:.2f} ms per finding"
            )
            if lost:
                print(f"       handler log: {result['log']}")
                shutil.copy(result["log"], ROOT / f"burst-{size}.log")
        if len(results) > 1:
            small, large = results[0], results[-1]
            factor = large["events"] / small["events"]
            print(f"growth x{factor:.0f} in findings:")
            for name in ("messages", "slack_calls", "aws_calls", "cpu_ms", "pace_wait_s"):
                ratio = large[name] / small[name] if small[name] else float("inf")
                print(
                    f"       per finding {name}: x{ratio:.2f} "
                    f"({'linear or better' if ratio <= 1.1 else 'WORSE than linear'})"
                )
    if args.save:
        largest = results[-1]
        usage = {
            "_about": "usage per finding event measured by bench/burst.py (input of bench/cost.py)",
            "events": largest["events"],
            "unique_findings": largest["unique"],
            "invocations_per_event": largest["invocations"] / largest["events"],
            "handler_cpu_ms_per_event": largest["cpu_ms"],
            "aws_calls_per_event": {
                k: v / largest["events"] for k, v in largest["calls_by_service"].items()
            },
            "slack_calls_per_event": largest["slack_calls"],
            "pace_wait_seconds_per_event": largest["pace_wait_s"],
            "quarantined_per_event": largest["quarantined"] / largest["events"],
        }
        args.save.write_text(json.dumps(usage, indent=2) + "\n", encoding="utf-8")
    return (
        0
        if all(not any(v for k, v in r["lost"].items() if k != "digested") for r in results)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
