"""Data anyone can read (issue 17.5): read from every source that says so, matched by
``public: true``, quarantined at once by the shipped policy, and told to people.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from conftest import CONFORMANCE, EVENTS, load_json
from notify_support import REGION, accounts, aws, entry_for
from ocsf_support import CAPTURED, ocsf_copy
from policy_support import policy_dir
from remedy.errors import InvalidEvent, PolicyError
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.notify.facts import facts_of
from remedy.notify.owners import OwnersNotifier, render_text
from remedy.notify.slack_message import build_message
from remedy.policy import decide, load_policy
from remedy.policy.accounts import Accounts

__all__ = ["accounts", "aws"]

PERSONAL = "macie-classification-personal.json"
MACIE_COPY = "securityhub-macie-personal-copy.json"


def one(event: dict[str, Any]) -> Finding:
    (finding,) = normalise(event)
    return finding


def public_personal() -> dict[str, Any]:
    """Macie's personal-data finding about an object in a bucket Macie says is PUBLIC."""
    event = load_json(EVENTS / PERSONAL)
    event["detail"]["resourcesAffected"]["s3Bucket"]["publicAccess"]["effectivePermission"] = (
        "PUBLIC"
    )
    return event


# --- read from each source -----------------------------------------------------------------


def test_macie_bucket_effective_permission() -> None:
    assert one(public_personal()).public is True
    # The published POLICY finding: its bucket is PUBLIC.
    assert one(load_json(CONFORMANCE / "macie-policy-awscli-s3bucketpublicreadaccess.json")).public
    for permission in ("NOT_PUBLIC", "UNKNOWN"):
        event = public_personal()
        event["detail"]["resourcesAffected"]["s3Bucket"]["publicAccess"]["effectivePermission"] = (
            permission
        )
        assert one(event).public is None
    assert one(load_json(CONFORMANCE / "macie-sensitive-reveal-csv-multiple.json")).public is None


def test_macie_bad_effective_permission_names_its_field() -> None:
    event = public_personal()
    event["detail"]["resourcesAffected"]["s3Bucket"]["publicAccess"]["effectivePermission"] = 1
    before = copy.deepcopy(event)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert event == before
    assert str(caught.value) == (
        "detail.resourcesAffected.s3Bucket.publicAccess.effectivePermission: "
        "expected a string, got a number"
    )


def test_the_flag_survives_the_ledger_snapshot() -> None:
    finding = one(public_personal())
    assert finding.to_dict()["public"] is True
    assert Finding.from_dict(finding.to_dict()).public is True
    assert "public" not in one(load_json(EVENTS / PERSONAL)).to_dict()


def test_macie_asff_copy_says_it_in_product_fields() -> None:
    event = load_json(EVENTS / MACIE_COPY)
    event["detail"]["findings"][0]["ProductFields"]["S3Bucket.effectivePermission"] = "PUBLIC"
    assert one(event).public is True
    # A custom product writing the same field is not Macie: not believed.
    forged = copy.deepcopy(event)
    forged["detail"]["findings"][0]["ProductArn"] = (
        "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"
    )
    assert one(forged).public is None


def test_ocsf_bucket_data_and_only_from_aws() -> None:
    event = ocsf_copy(load_json(EVENTS / MACIE_COPY), CAPTURED)
    item = event["detail"]["findings"][0]
    bucket = next(r for r in item["resources"] if r["type"] == "AWS::S3::Bucket")
    bucket["data"] = {"publicAccess": {"effectivePermission": "PUBLIC"}}
    assert one(event).public is True
    item["metadata"]["product"]["uid"] = (
        "arn:aws:securityhub:eu-west-1:111111111111:productv2/111111111111/default"
    )
    assert one(event).public is None


def test_guardduty_bucket_details() -> None:
    event = load_json(CONFORMANCE / "guardduty-s3-pentest-parrotlinux.json")
    assert one(event).public is None
    event["detail"]["resource"]["s3BucketDetails"][0]["publicAccess"]["effectivePermission"] = (
        "PUBLIC"
    )
    assert one(event).public is True


# --- rules and the shipped policy ----------------------------------------------------------


def test_shipped_policy_quarantines_public_personal_data_at_once() -> None:
    policy = load_policy()
    public = decide(one(public_personal()), policy)
    assert (public.action.value, public.rule) == ("quarantine", "quarantine-public-sensitive-data")
    private = decide(one(load_json(EVENTS / PERSONAL)), policy)
    assert (private.action.value, private.rule) == ("approve", "approve-personal-data")
    credentials = load_json(EVENTS / "macie-classification-credentials.json")
    credentials["detail"]["resourcesAffected"]["s3Bucket"]["publicAccess"][
        "effectivePermission"
    ] = "PUBLIC"
    assert decide(one(credentials), policy).rule == "quarantine-public-sensitive-data"


@pytest.mark.parametrize(("wanted", "public_rule"), [(True, "public"), (False, "private")])
def test_a_rule_matches_public(tmp_path: Any, wanted: bool, public_rule: str) -> None:
    rules = f"""version: 1
rules:
  - id: {public_rule}
    match:
      public: {str(wanted).lower()}
    action: notify
  - id: rest
    match: {{}}
    action: ignore
"""
    policy = load_policy(policy_dir(tmp_path, remediation=rules))
    assert (decide(one(public_personal()), policy).rule == public_rule) is wanted
    assert (decide(one(load_json(EVENTS / PERSONAL)), policy).rule == public_rule) is not wanted


def test_a_rule_with_a_non_boolean_public_is_refused(tmp_path: Any) -> None:
    rules = (
        "version: 1\nrules:\n  - id: r\n    match:\n      public: yes please\n    action: notify\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_dir(tmp_path, remediation=rules))
    folder = tmp_path / "policies"
    assert caught.value.problems == [
        f"{folder / 'remediation.yaml'}:rules[0].match.public: 'yes please' is not of type "
        "'boolean'"
    ]


# --- people are told -----------------------------------------------------------------------


def test_slack_message_says_publicly_readable() -> None:
    message = build_message(entry_for(one(public_personal())), "prod-payments")
    text = json.dumps(message.blocks_json())
    assert "*Exposure*\\n:warning: publicly readable" in text
    private = build_message(entry_for(one(load_json(EVENTS / PERSONAL))), "prod-payments")
    assert "publicly readable" not in json.dumps(private.blocks_json())


def test_owners_email_says_publicly_readable(aws: None, accounts: Accounts) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="remedy-owners")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue["QueueArn"])
    item = entry_for(one(public_personal()))
    OwnersNotifier(topic, accounts, sns).on_change(item)
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    body = json.loads(message["Body"])["Message"]
    assert body == render_text(facts_of(item, "prod-payments"))
    assert "Exposure:  publicly readable" in body.splitlines()
