"""Slack figures: the interactions handler's answer time, and messages per finding in a burst.

(a) Answer time. The real entry point (`remedy.handlers.interactions.handler`, built once
    as in a warm container) gets `--requests` (default 500) correctly signed clicks from
    approvers, each on its own pending approval (4 in 5 approve, 1 in 5 dismiss), as
    HTTP API payload-format-2.0 events. Every one does the whole path: signature, ledger
    read, authorisation, the conditional write, the asynchronous Lambda invoke (approve),
    the SNS email (dismiss) and the Slack message update. AWS is moto in-process, Slack
    the local server (`remedy.devtools.slack_server`). Prints p50, p99 and max; the target
    is p99 <= 300 ms, far inside Slack's 3 s.

(b) Burst. `--burst` (default 1,000) Macie policy findings (unencrypted buckets, which
    the shipped policy decides ``notify``) from four accounts that share one Slack channel
    go through the real pipeline, 10 per invocation with the notifier flushed at the end
    of each, as the findings function does. Prints Slack messages posted per finding, and
    all Slack API calls per finding.

    .venv/bin/python bench/interactions.py [--requests 500] [--burst 1000]
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import os
import platform
import statistics
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from moto import mock_aws

from remedy.ledger.indexes import TABLE_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
TABLE = "remedy-ledger"
SIGNING_SECRET = "bench-signing-secret-0123456789"  # noqa: S105 - a fake for the bench
APPROVERS = ("U0PAYLEAD1", "U0PAYLEAD2")  # approvers of 111111111111 in policies/accounts.yaml
BURST_ACCOUNTS = ("333333333333", "555555555555", "123456789012", "444444444444")
TARGET_P99_MS = 300.0


def _env(slack_url: str, secret_arn: str, topic_arn: str) -> None:
    os.environ.update(
        {
            "REMEDY_LEDGER_TABLE": TABLE,
            "REMEDY_SLACK_SECRET_ARN": secret_arn,
            "REMEDY_OWNER_TOPIC_ARN": topic_arn,
            "REMEDY_REMEDIATOR_FUNCTION": "remedy-remediator",
            "REMEDY_SLACK_API_URL": slack_url,
            "REMEDY_POLICY_DIR": str(ROOT / "policies"),
        }
    )


def _core(slack_token: str) -> tuple[str, str]:
    """The core account's pieces the handler uses: table, secret, topic, remediator."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="remedy/slack",
        SecretString=json.dumps({"bot_token": slack_token, "signing_secret": SIGNING_SECRET}),
    )["ARN"]
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="remedy-owners")[
        "TopicArn"
    ]
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="remedy-remediator",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="remedy-remediator",
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return secret_arn, topic_arn


def _sign(body: bytes, ts: int) -> dict[str, str]:
    import hashlib
    import hmac

    mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={mac.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def _click(key: str, action_id: str, user: str, channel: str) -> dict[str, Any]:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower()},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel},
        "actions": [{"type": "button", "action_id": action_id, "value": key}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "headers": _sign(body, int(time.time())),
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def answer_time(requests: int) -> dict[str, float]:
    from remedy.devtools.slack_server import SlackServer
    from remedy.handlers import interactions as entry_point
    from remedy.ledger.base import State
    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.normalise import normalise
    from remedy.notify.slack import SlackNotifier, web_client
    from remedy.notify.slack_message import DISMISS_ACTION, QUARANTINE_ACTION
    from remedy.pipeline import Announcer, Pipeline
    from remedy.policy import load_policy

    with mock_aws(config={"lambda": {"use_docker": False}}), SlackServer() as slack:
        secret_arn, topic_arn = _core(slack.token)
        _env(slack.url, secret_arn, topic_arn)
        policy = load_policy(ROOT / "policies")
        store = DynamoDBLedgerStore(TABLE, boto3.client("dynamodb", region_name=REGION))
        poster = SlackNotifier(store, policy.accounts, web_client(slack.token, base_url=slack.url))
        pipeline = Pipeline(store, policy, {}, Announcer([poster]))
        template = json.loads((ROOT / "events" / "macie-classification-personal.json").read_text())
        pending = []
        for i in range(requests):
            event = copy.deepcopy(template)
            event["detail"]["resourcesAffected"]["s3Object"]["key"] = f"people/{i}.txt"
            (finding,) = normalise(event)
            entry = pipeline.handle(finding)  # PENDING_APPROVAL, its message posted
            assert entry.state is State.PENDING_APPROVAL, entry.state
            pending.append(store.get(entry.key))
        entry_point._app = entry_point.build()
        times = []
        for i, entry in enumerate(pending):
            assert entry is not None
            action = DISMISS_ACTION if i % 5 == 4 else QUARANTINE_ACTION
            event = _click(entry.key, action, APPROVERS[i % 2], entry.attrs["slack"]["channel"])
            start = time.perf_counter()
            response = entry_point.handler(event, None)
            times.append((time.perf_counter() - start) * 1000)
            assert response["statusCode"] == 200, response
        decided = Counter(s.state for s in (store.get(e.key) for e in pending if e) if s)
        assert decided == {
            State.APPROVED: requests - requests // 5,
            State.DISMISSED: requests // 5,
        }, decided
        times.sort()
        return {
            "p50": statistics.median(times),
            "p99": times[min(len(times) - 1, round(0.99 * len(times)) - 1)],
            "max": times[-1],
            "updates": len(slack.calls("chat.update")),
        }


def burst(findings: int, batch: int = 10) -> dict[str, float]:
    from remedy.devtools.slack_server import SlackServer
    from remedy.ledger.dynamodb import DynamoDBLedgerStore
    from remedy.notify.composite import CompositeNotifier
    from remedy.notify.digest import DigestConfig, Digests
    from remedy.notify.outbox import SlackOutbox
    from remedy.notify.slack import SlackNotifier, web_client
    from remedy.pipeline import Announcer, Pipeline
    from remedy.policy import load_policy

    with mock_aws(), SlackServer() as slack:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
        policy = load_policy(ROOT / "policies")
        store = DynamoDBLedgerStore(TABLE, dynamodb)
        slack_notifier = SlackNotifier(
            store,
            policy.accounts,
            web_client(slack.token, base_url=slack.url),
            digests=Digests(dynamodb, TABLE, policy.accounts, DigestConfig()),
            outbox=SlackOutbox(dynamodb, TABLE),
        )
        notifier = CompositeNotifier([("slack", slack_notifier)])
        pipeline = Pipeline(store, policy, {}, Announcer([notifier]))
        template = json.loads((ROOT / "events" / "macie-policy-s3bucketpublic.json").read_text())
        events = []
        for i in range(findings):
            event = copy.deepcopy(template)
            account = BURST_ACCOUNTS[i % len(BURST_ACCOUNTS)]
            event["account"] = event["detail"]["accountId"] = account
            # A policy finding remedy only reports (rule notify-macie-policy).
            event["detail"]["type"] = "Policy:IAMUser/S3BucketEncryptionDisabled"
            event["detail"]["resourcesAffected"]["s3Bucket"]["name"] = f"bucket-{i}"
            event["detail"]["resourcesAffected"]["s3Bucket"]["arn"] = f"arn:aws:s3:::bucket-{i}"
            events.append(event)
        start = time.perf_counter()
        for first in range(0, len(events), batch):
            for event in events[first : first + batch]:
                (entry,) = pipeline.process(event)
                assert entry.state.value == "NOTIFIED", entry.state
            notifier.flush()
        seconds = time.perf_counter() - start
        assert notifier.failures == {}, notifier.failures
        methods = Counter(r.method for r in slack.requests)
        digests = [m for m in slack.messages() if m.text.startswith(":package: Digest")]
        return {
            "posts": methods["chat.postMessage"],
            "updates": methods["chat.update"],
            "digests": len(digests),
            "digest_text": digests[0].text if digests else "",
            "per_finding": methods["chat.postMessage"] / findings,
            "calls_per_finding": sum(methods.values()) / findings,
            "seconds": seconds,
        }


def fake_aws(region: str) -> None:
    """moto's fake credentials for this process and its children, and what it runs on."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
    }.items():
        os.environ[name] = value
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    fake_aws(REGION)

    timing = answer_time(args.requests)
    print(
        f"(a) interactions handler, {args.requests} signed clicks: p50 {timing['p50']:.1f} ms, "
        f"p99 {timing['p99']:.1f} ms, max {timing['max']:.1f} ms "
        f"(target p99 <= {TARGET_P99_MS:.0f} ms); {timing['updates']:.0f} message updates"
    )
    figures = burst(args.burst)
    print(
        f"(b) burst of {args.burst} notify findings to one channel: "
        f"{figures['posts']:.0f} messages posted ({figures['digests']:.0f} digest: "
        f"{figures['digest_text']!r}), {figures['updates']:.0f} digest updates; "
        f"{figures['per_finding']:.3f} messages per finding, "
        f"{figures['calls_per_finding']:.3f} Slack API calls per finding "
        f"({figures['seconds']:.1f} s on moto)"
    )
    return 0 if timing["p99"] <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
