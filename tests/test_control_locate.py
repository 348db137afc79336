"""Which resource a control remediation acts on, however the finding names it: the ARN in
`Resource.id`, in ``details``, a bare id in `Resource.name` or in `id`, a queue URL; and
never a resource whose ARN (or queue URL) names another account than the finding's."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures_guard import MEMBERS, REGION, finding
from remedy.actions.controls.locate import ForeignResource, Located, locate
from remedy.model import Finding, Resource, ResourceKind, Source

A, B = MEMBERS
QUEUE_TYPES = frozenset({"AwsSqsQueue", "AWS::SQS::Queue"})
INSTANCE_TYPES = frozenset({"AwsEc2Instance", "AWS::EC2::Instance"})


def of(*resources: Resource) -> Finding:
    return finding(A, source=Source.SECURITYHUB, type="x", resources=resources)


def queue(*resources: Resource) -> Located | None:
    return locate(of(*resources), service="sqs", prefixes=("",), types=QUEUE_TYPES)


def instance(*resources: Resource) -> Located | None:
    return locate(
        of(*resources),
        service="ec2",
        prefixes=("instance/",),
        types=INSTANCE_TYPES,
        bare=lambda ref, type: ref if ref.startswith("i-") else None,
    )


def res(id: str, type: str, **extra: Any) -> Resource:
    return Resource(kind=ResourceKind.OTHER, id=id, type=type, region=REGION, **extra)


def test_arn_in_id_details_or_uid_alt() -> None:
    arn = f"arn:aws:sqs:eu-west-1:{A}:jobs"
    assert queue(res(arn, "AwsSqsQueue")) == Located("jobs", "eu-west-1")
    assert queue(res("jobs", "AWS::SQS::Queue", details={"arn": arn})) == Located(
        "jobs", "eu-west-1"
    )
    assert queue(res("x", "AWS::SQS::Queue", details={"uid_alt": arn})) == Located(
        "jobs", "eu-west-1"
    )


def test_queue_url_is_read_as_its_arn_and_its_account_checked() -> None:
    url = f"https://sqs.{REGION}.amazonaws.com/{A}/jobs"
    assert queue(res(url, "AWS::SQS::Queue")) == Located("jobs", REGION)
    with pytest.raises(ForeignResource) as foreign:
        queue(res(f"https://sqs.{REGION}.amazonaws.com/{B}/jobs", "AWS::SQS::Queue"))
    assert foreign.value.account == B


def test_bare_id_in_id_or_name_only_for_the_named_types() -> None:
    assert instance(res("i-0abc", "AwsEc2Instance")) == Located("i-0abc", REGION)
    named = res(f"arn:aws:ec2:{REGION}:{A}:instance/i-0abc", "AwsEc2Instance", name="i-0abc")
    assert instance(named) == Located("i-0abc", REGION)
    assert instance(res("x", "AWS::EC2::Instance", name="i-0def")) == Located("i-0def", REGION)
    assert instance(res("i-0abc", "AwsEc2Volume")) is None


def test_a_foreign_arn_rules_out_the_bare_id_beside_it() -> None:
    foreign = res(
        "i-0abc", "AwsEc2Instance", details={"arn": f"arn:aws:ec2:{REGION}:{B}:instance/i-0abc"}
    )
    with pytest.raises(ForeignResource):
        instance(foreign)
    # Another resource of the finding that is ours is acted on instead.
    assert instance(foreign, res("i-0def", "AwsEc2Instance")) == Located("i-0def", REGION)


def test_other_services_and_prefixes_are_not_matches() -> None:
    assert instance(res(f"arn:aws:ec2:{REGION}:{A}:volume/vol-1", "AwsEc2Volume")) is None
    assert queue(res(f"arn:aws:sns:{REGION}:{A}:jobs", "AwsSnsTopic")) is None
    assert queue() is None
