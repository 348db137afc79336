"""Owner notifications over SNS on moto: filtered subscriptions, sync, delivery."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from notify_support import REGION, ROOT, accounts, aws, finding_from
from remedy.cli import main
from remedy.ledger.base import Entry, HistoryItem, State
from remedy.model import Finding
from remedy.notify.facts import facts_of
from remedy.notify.owners import (
    OwnersError,
    OwnersNotifier,
    desired_filters,
    plan,
    render_text,
    sync,
)
from remedy.policy.accounts import Accounts, build

__all__ = ["accounts", "aws"]

SHIPPED = yaml.safe_load((ROOT / "policies" / "accounts.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def topic(aws: None) -> tuple[Any, str]:
    sns = boto3.client("sns", region_name=REGION)
    return sns, sns.create_topic(Name="remedy-owners")["TopicArn"]


def email_filters(sns: Any, topic_arn: str) -> dict[str, dict[str, Any]]:
    out = {}
    for sub in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        if sub["Protocol"] == "email":
            attrs = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
            out[sub["Endpoint"]] = json.loads(attrs["Attributes"]["FilterPolicy"])
    return out


def test_desired_filters_from_the_shipped_accounts(accounts: Accounts) -> None:
    assert desired_filters(accounts) == {
        "analytics-team@example.com": {"account_id": ["222222222222"]},
        # Default owners also stand for every account accounts.yaml does not list, and
        # for listed ones that name no owners: all but the accounts others own.
        "cloud-security@example.com": {
            "account_id": [{"anything-but": ["111111111111", "222222222222", "333333333333"]}]
        },
        "payments-oncall@example.com": {"account_id": ["111111111111"]},
        "platform-team@example.com": {"account_id": ["333333333333"]},
    }


def test_sync_subscribes_each_owner_once_and_is_idempotent(
    topic: tuple[Any, str], accounts: Accounts
) -> None:
    sns, arn = topic
    first = sync(sns, arn, accounts, dry_run=False)
    assert sorted((c.kind, c.email) for c in first) == [
        ("subscribe", "analytics-team@example.com"),
        ("subscribe", "cloud-security@example.com"),
        ("subscribe", "payments-oncall@example.com"),
        ("subscribe", "platform-team@example.com"),
    ]
    assert email_filters(sns, arn) == desired_filters(accounts)
    assert sync(sns, arn, accounts, dry_run=False) == []
    assert len(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]) == 4


def test_dry_run_changes_nothing(topic: tuple[Any, str], accounts: Accounts) -> None:
    sns, arn = topic
    changes = sync(sns, arn, accounts, dry_run=True)
    assert len(changes) == 4
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_sync_updates_filters_and_removes_former_owners_leaving_other_protocols(
    topic: tuple[Any, str], accounts: Accounts
) -> None:
    sns, arn = topic
    sync(sns, arn, accounts, dry_run=False)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)

    document = copy.deepcopy(SHIPPED)
    document["accounts"]["333333333333"]["owners"] = ["analytics-team@example.com"]
    changed = build(document)
    changes = sync(sns, arn, changed, dry_run=False)
    assert sorted((c.kind, c.email) for c in changes) == [
        ("unsubscribe", "platform-team@example.com"),
        ("update", "analytics-team@example.com"),
    ]
    assert email_filters(sns, arn)["analytics-team@example.com"] == {
        "account_id": ["222222222222", "333333333333"]
    }
    assert "platform-team@example.com" not in email_filters(sns, arn)
    protocols = [
        s["Protocol"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    ]
    assert protocols.count("sqs") == 1
    assert plan(sns, arn, changed) == []


def test_an_owner_filter_over_150_accounts_is_refused_with_a_fix() -> None:
    document = copy.deepcopy(SHIPPED)
    for i in range(151):
        document["accounts"][f"{700000000000 + i}"] = {
            "name": f"a{i}",
            "environment": "dev",
            "owners": ["big-team@example.com"],
        }
    with pytest.raises(OwnersError, match=r"owner big-team@example\.com needs a filter over 151"):
        desired_filters(build(document))


def _entry(finding: Finding, account: str, state: State = State.QUARANTINED) -> Entry:
    return Entry(
        key=f"{finding.key}-{account}",
        state=state,
        account=account,
        region=finding.region,
        finding={**finding.to_dict(), "account": account},
        decision={"action": "quarantine", "rule": "quarantine-credentials", "reason": "why"},
        created_at="2024-10-02T10:20:00Z",
        updated_at="2024-10-02T10:20:05Z",
        attrs={
            "destination": {
                "bucket": f"remedy-quarantine-{account}-{REGION}",
                "key": "example-corp-dev-artifacts/deploy/config/.aws/credentials",
            }
        },
        history=(
            HistoryItem("2024-10-02T10:20:01Z", "remedy", "RECEIVED", "QUARANTINING"),
            HistoryItem("2024-10-02T10:20:05Z", "remedy", "QUARANTINING", state.value, "verified"),
        ),
    )


def _queue_for(sns: Any, topic_arn: str, name: str, policy: dict[str, Any]) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "true"},
    )
    return url


def _received(url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_each_owner_receives_only_their_accounts_messages(
    topic: tuple[Any, str], accounts: Accounts
) -> None:
    """Email is not observable on moto; SQS queues subscribed with exactly the filter
    policies `sync` gives each owner stand in for their inboxes."""
    sns, arn = topic
    inboxes = {
        email: _queue_for(sns, arn, email.split("@")[0], policy)
        for email, policy in desired_filters(accounts).items()
    }
    finding = finding_from("macie-classification-credentials.json")
    notifier = OwnersNotifier(arn, accounts, sns)
    for account in ("111111111111", "222222222222", "333333333333", "999999999999", "444444444444"):
        notifier.on_change(_entry(finding, account))
    notifier.on_change(_entry(finding, "111111111111", State.QUARANTINING))  # not an email

    got = {email: _received(url) for email, url in inboxes.items()}
    accounts_seen = {
        email: sorted(b.split("(", 2)[2].split(")")[0] for b in bodies)
        for email, bodies in got.items()
    }
    assert accounts_seen == {
        "payments-oncall@example.com": ["111111111111"],
        "analytics-team@example.com": ["222222222222"],
        "platform-team@example.com": ["333333333333"],
        "cloud-security@example.com": ["444444444444", "999999999999"],
    }


def test_message_has_attributes_and_the_same_facts_as_slack(
    topic: tuple[Any, str], accounts: Accounts
) -> None:
    sns, arn = topic
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="all")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    finding = finding_from("macie-classification-credentials.json")
    item = _entry(finding, "111111111111")
    OwnersNotifier(arn, accounts, sns).on_change(item)

    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "remedy [HIGH] Quarantined in prod-payments (111111111111)"
    assert {k: v["Value"] for k, v in envelope["MessageAttributes"].items()} == {
        "account_id": "111111111111",
        "severity": "HIGH",
        "action": "quarantine",
        "state": "QUARANTINED",
    }
    body = envelope["Message"]
    assert body == render_text(facts_of(item, "prod-payments"))
    for fact in (
        "Severity:  HIGH",
        "Account:   prod-payments (111111111111)",
        "Region:    eu-west-1",
        "Resource:  s3://example-corp-dev-artifacts/deploy/config/.aws/credentials",
        "Found:     2 AWS secret keys",
        "Decision:  quarantine (rule quarantine-credentials)",
        "Status:    Quarantined",
        "Outcome:   moved to s3://remedy-quarantine-111111111111-eu-west-1/",
        "Finding in Macie: https://eu-west-1.console.aws.amazon.com/macie/home",
        "Object in S3: https://eu-west-1.console.aws.amazon.com/s3/object/",
        "Quarantined copy: https://",
    ):
        assert fact in body, fact


def test_cli_sync_dry_run_then_for_real(
    topic: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sns, arn = topic
    policy = str(ROOT / "policies")
    assert main(["owners", "sync", "--dry-run", "--policy", policy, "--topic-arn", arn]) == 0
    out, err = capsys.readouterr()
    assert "would subscribe payments-oncall@example.com with filter" in out
    assert "owners sync: would make 4 change(s)" in err
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    assert main(["owners", "sync", "--policy", policy, "--topic-arn", arn]) == 0
    assert main(["owners", "sync", "--policy", policy, "--topic-arn", arn]) == 0
    out, err = capsys.readouterr()
    assert "owners sync: made 0 change(s)" in err.splitlines()[-1]


def test_cli_errors_exit_2(
    topic: tuple[Any, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, arn = topic
    monkeypatch.delenv("REMEDY_OWNER_TOPIC_ARN", raising=False)
    assert main(["owners", "sync"]) == 2
    assert "no topic: pass --topic-arn or set REMEDY_OWNER_TOPIC_ARN" in capsys.readouterr().err
    assert main(["owners", "sync", "--policy", str(tmp_path), "--topic-arn", arn]) == 2
    assert "accounts.yaml" in capsys.readouterr().err
    missing = arn.replace("remedy-owners", "nope")
    assert main(["owners", "sync", "--policy", str(ROOT / "policies"), "--topic-arn", missing]) == 2
    assert capsys.readouterr().err == (
        f"remedy owners sync: {missing}: not found (ListSubscriptionsByTopic): Topic does not "
        "exist: is the core stack deployed in this account and region, and do the REMEDY_* "
        "settings name it?\n"
    )


def test_pending_confirmations_are_reported_not_touched(aws: None, accounts: Accounts) -> None:
    """SNS lists a subscription awaiting confirmation as ``PendingConfirmation``, with no
    ARN to change or remove; moto confirms at once, so SNS's answers come from a Stubber."""
    sns = boto3.client("sns", region_name=REGION)
    arn = f"arn:aws:sns:{REGION}:999999999999:remedy-owners"
    confirmed = f"{arn}:0b7a1c2d-0000-4000-8000-000000000001"
    listed = [
        {"Endpoint": "Payments-Oncall@Example.com", "SubscriptionArn": confirmed},
        {"Endpoint": "platform-team@example.com", "SubscriptionArn": "PendingConfirmation"},
        {"Endpoint": "left-the-company@example.com", "SubscriptionArn": "PendingConfirmation"},
    ]
    with Stubber(sns) as stub:
        stub.add_response(
            "list_subscriptions_by_topic",
            {
                "Subscriptions": [
                    {**s, "Protocol": "email", "Owner": "999999999999", "TopicArn": arn}
                    for s in listed
                ]
            },
            {"TopicArn": arn},
        )
        stub.add_response(
            "get_subscription_attributes",
            {"Attributes": {"FilterPolicy": json.dumps({"account_id": ["111111111111"]})}},
            {"SubscriptionArn": confirmed},
        )
        changes = plan(sns, arn, accounts)
    assert sorted((c.kind, c.email) for c in changes) == [
        ("pending", "platform-team@example.com"),
        ("subscribe", "analytics-team@example.com"),
        ("subscribe", "cloud-security@example.com"),
    ]
    pending = next(c for c in changes if c.kind == "pending")
    assert pending.describe().startswith(
        "platform-team@example.com: awaiting email confirmation, its filter cannot change"
    )
