"""A resource's Region is what the member wrote: it never reaches a link as written.

A custom product's finding at HIGH (the shipped policy notifies these) whose resources name
hostile regions, delivered by the member itself, through the pipeline on moto to the
local Slack server and the owners' email (SNS to SQS). Slack gets no ``<!here>``, and every
"Object in S3" or "Bucket in S3" link points at the AWS console of the finding's own region.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from fixtures_aws import (
    EVENTS,
    MEMBERS,
    REGION,
    World,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from notify_support import slack, slack_client
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import State
from remedy.normalise import normalise
from remedy.notify.composite import CompositeNotifier
from remedy.notify.console import console_base
from remedy.notify.owners import OwnersNotifier
from remedy.notify.slack import SlackNotifier
from remedy.notify.slack_message import link
from remedy.policy import load_policy

__all__ = ["slack"]

A, B, _ = MEMBERS
HOSTILE = ["x|y><!here>", "evil.example#", "evil.example/", "us-east-1.evil.example?", ""]
CONSOLE = f"https://{REGION}.console.aws.amazon.com/"


def custom_event(account: str, object_region: str, bucket_region: str) -> dict[str, Any]:
    """A finding of the member's own custom product, HIGH, on one object and its bucket."""
    event = json.loads((EVENTS / "securityhub-macie-personal-copy.json").read_text("utf-8"))
    event = copy.deepcopy(event)
    event["account"] = account
    finding = event["detail"]["findings"][0]
    product = f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default"
    finding.update(
        {
            "Id": f"custom-{uuid.uuid4().hex}",
            "AwsAccountId": account,
            "ProductArn": product,
            "ProductName": "Default",
            "CompanyName": "Personal",
            "GeneratorId": "custom-scanner",
            "Types": ["Software and Configuration Checks/Custom"],
            "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "HIGH"},
            "FindingProviderFields": {"Severity": {"Label": "HIGH"}},
        }
    )
    finding["ProductFields"] = {}
    bucket, obj = finding["Resources"]
    bucket["Region"] = bucket_region
    obj["Region"] = object_region
    obj["Id"] = "arn:aws:s3:::example-corp-hr-uploads/people.csv"
    return event


@pytest.fixture
def sent(world: World, slack: SlackServer) -> Any:
    sns = world.core.client("sns")
    sqs = world.core.client("sqs")
    topic = sns.create_topic(Name=f"owners-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"owners-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    accounts = load_policy(world.policy_dir).accounts
    notifier = CompositeNotifier(
        [
            ("slack", SlackNotifier(world.store, accounts, slack_client(slack))),
            ("owners", OwnersNotifier(topic, accounts, sns)),
        ]
    )
    pipeline = world.pipeline(notifiers=[notifier])

    def send(event: dict[str, Any]) -> tuple[str, str]:
        (entry,) = pipeline.process(event)
        assert entry.state is State.NOTIFIED, entry.history[-1].note
        assert notifier.failures == {}
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[-1]["ReceiptHandle"])
        post = slack.calls("chat.postMessage")[-1]
        return json.dumps(post["blocks"]), json.loads(got[-1]["Body"])["Message"]

    return send


@pytest.mark.parametrize("region", HOSTILE)
def test_a_hostile_resource_region_falls_back_to_the_findings(sent: Any, region: str) -> None:
    event = custom_event(A, region, region)
    blocks, email = sent(event)

    assert "<!here>" not in blocks and "!here" not in blocks
    assert "evil.example" not in blocks and "evil.example" not in email
    assert f"<{CONSOLE}s3/object/example-corp-hr-uploads?region={REGION}&" in blocks
    assert f"{CONSOLE}s3/object/example-corp-hr-uploads?region={REGION}&" in email


def test_the_normalised_finding_carries_the_findings_region(world: World) -> None:
    # Both accounts: a valid region in another resource is kept as it was.
    for account in (A, B):
        (finding,) = normalise(custom_event(account, "x|y><!here>", "us-west-2"))
        regions = {r.type: r.region for r in finding.resources}
        assert regions == {"AwsS3Object": REGION, "AwsS3Bucket": "us-west-2"}


@pytest.mark.parametrize("region", HOSTILE)
def test_a_console_link_is_never_built_for_what_is_not_a_region(region: str) -> None:
    with pytest.raises(ValueError) as refused:
        console_base(region)
    assert str(refused.value) == f"{region!r} is not an AWS region such as us-east-1"


@pytest.mark.parametrize("url", ["https://a.example/x|<!here>", "https://a.example/>x", "<x"])
def test_slack_link_refuses_what_would_end_it_early(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        link(url, "Object in S3")
    assert str(refused.value) == (
        f"a Slack link's URL must be percent-encoded (no |, < or >): {url!r}"
    )
    assert link("https://a.example/x%7C", "a <b>") == "<https://a.example/x%7C|a &lt;b&gt;>"
