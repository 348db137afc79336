"""One finding, three formats: native, ASFF (Security Hub CSPM) and OCSF (the new Security
Hub, in both layouts of its resources) read into one key and the same resources (issue 17).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE, EVENTS, load_json
from ocsf_support import ARN, CAPTURED, ocsf_copy
from policy_support import SHIPPED, policy_dir
from remedy.errors import InvalidEvent
from remedy.model import Finding, Resource, ResourceKind
from remedy.normalise import normalise
from remedy.policy import decide, load_policy

LAYOUTS = (ARN, CAPTURED)


def one(event: dict[str, Any]) -> Finding:
    (finding,) = normalise(event)
    return finding


def identity(resource: Resource) -> tuple[Any, ...]:
    """What names the thing itself (``name`` is what a format shows beside it)."""
    return (
        resource.kind,
        resource.id,
        resource.bucket,
        resource.key,
        resource.version_id,
        resource.name if resource.kind is ResourceKind.EC2_INSTANCE else None,
    )


def identities(finding: Finding) -> list[tuple[Any, ...]]:
    return sorted(map(identity, finding.resources), key=repr)


# --- one key whichever format carries the finding ------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "sample",
    [
        EVENTS / "securityhub-guardduty-ec2-command-and-control.json",
        EVENTS / "securityhub-inspector-ec2-package-vulnerability.json",
        EVENTS / "securityhub-control-s3.8-block-public-access.json",
        EVENTS / "securityhub-control-ec2.19-open-security-group.json",
        EVENTS / "securityhub-control-iam.1-admin-policy.json",
        CONFORMANCE / "securityhub-securityhub-control-consolidated-cloudtrail2.json",
        EVENTS / "securityhub-macie-personal-copy.json",
    ],
    ids=lambda p: p.name,
)
def test_asff_and_ocsf_copies_share_key_and_resources(sample: Any, layout: str) -> None:
    asff_event = load_json(sample)
    asff = one(asff_event)
    ocsf = one(ocsf_copy(asff_event, layout))
    assert ocsf.product_arn is not None and ":productv2/" in ocsf.product_arn
    assert (ocsf.key, ocsf.product, ocsf.type) == (asff.key, asff.product, asff.type)
    assert identities(ocsf) == identities(asff)


def test_macie_through_ocsf_in_the_captured_layout_keys_as_the_native_event() -> None:
    native = one(load_json(EVENTS / "macie-classification-personal.json"))
    asff_event = load_json(EVENTS / "securityhub-macie-personal-copy.json")
    ocsf = one(ocsf_copy(asff_event, CAPTURED))
    asff = one(asff_event)
    assert ocsf.key == asff.key == native.key
    assert identities(ocsf) == identities(asff) == identities(native)


def _guardduty_copies(
    threat: tuple[str, str] = (
        "Recon:EC2/PortProbeUnprotectedPort",
        "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort",
    ),
    severity: tuple[float, str] = (2, "LOW"),
) -> tuple[Finding, Finding, Finding, Finding]:
    """Native GuardDuty (AWS's published sample), its ASFF copy and its OCSF copies; as
    the `threat` (its native and ASFF spellings) of `severity` if given."""
    native_event = load_json(CONFORMANCE / "guardduty-ec2-recon-portprobeunprotectedport.json")
    detail = native_event["detail"]
    detail["type"], detail["severity"] = threat[0], severity[0]
    instance = detail["resource"]["instanceDetails"]
    arn = f"arn:aws:ec2:us-east-1:012345678910:instance/{instance['instanceId']}"
    asff_event = {
        **copy.deepcopy(native_event),
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "detail": {
            "findings": [
                {
                    "Id": detail["arn"],
                    "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
                    "AwsAccountId": detail["accountId"],
                    "Region": detail["region"],
                    "Types": [threat[1]],
                    "Severity": {"Label": severity[1], "Normalized": int(severity[0] * 10)},
                    "Title": detail["title"],
                    "Resources": [
                        {
                            "Type": "AwsEc2Instance",
                            "Id": arn,
                            "Region": "us-east-1",
                            "Tags": {t["key"]: t["value"] for t in instance["tags"]},
                        }
                    ],
                }
            ]
        },
    }
    return (
        one(native_event),
        one(asff_event),
        one(ocsf_copy(asff_event, ARN)),
        one(ocsf_copy(asff_event, CAPTURED)),
    )


def test_guardduty_native_asff_and_ocsf_share_key_and_instance() -> None:
    native, asff, *ocsf = _guardduty_copies()
    assert {f.key for f in (asff, *ocsf)} == {native.key}
    expected = (
        ResourceKind.EC2_INSTANCE,
        "arn:aws:ec2:us-east-1:012345678910:instance/i-0d6c314027f74dc82",
        "i-0d6c314027f74dc82",
    )
    for finding in (native, asff, *ocsf):
        (instance,) = finding.resources
        assert (instance.kind, instance.id, instance.name) == expected
        assert instance.details["tags"]["Name"] == "nodes.k8s.travellogic.info"
    # The native finding alone names the interfaces and the profile.
    assert native.resources[0].details == {
        "network_interfaces": [
            {
                "id": None,
                "security_groups": ["sg-67e3bb1d"],
                "vpc_id": "vpc-c9c4f0ae",
                "subnet_id": "subnet-1637825f",
            }
        ],
        "iam_instance_profile_arn": (
            "arn:aws:iam::012345678910:instance-profile/nodes.k8s.travellogic.info"
        ),
        "tags": {
            "KubernetesCluster": "k8s.travellogic.info",
            "Name": "nodes.k8s.travellogic.info",
            "k8s.io/role/node": "1",
            "aws:autoscaling:groupName": "nodes.k8s.travellogic.info",
        },
    }


@pytest.mark.parametrize(
    ("threat", "severity", "rule"),
    [
        (
            (
                "Backdoor:EC2/C&CActivity.B!DNS",
                "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS",
            ),
            (8, "HIGH"),
            "isolate-compromised-instances",
        ),
        (
            (
                "UnauthorizedAccess:EC2/TorClient",
                "Effects/Resource Consumption/UnauthorizedAccess:EC2-TorClient",
            ),
            (5, "MEDIUM"),
            "notify-threats-below-high",
        ),
    ],
)
def test_guardduty_native_asff_and_ocsf_have_one_type_and_one_decision(
    threat: tuple[str, str], severity: tuple[float, str], rule: str
) -> None:
    """Whichever copy arrives first keeps the key and is decided: an ASFF copy read under
    its ASFF type was only notified, and the native finding after it was its duplicate, so
    the instance was never isolated."""
    policy = load_policy(SHIPPED)
    copies = _guardduty_copies(threat, severity)
    assert {f.type for f in copies} == {threat[0]}
    assert {decide(f, policy).rule for f in copies} == {rule}


@pytest.mark.parametrize("spelling", ["product", "productv2"])
def test_a_product_arn_rule_in_either_spelling_matches_both_formats(
    tmp_path: Path, spelling: str
) -> None:
    rule = {
        "id": "guardduty-by-arn",
        "match": {"product_arn": [f"arn:aws:securityhub:*::{spelling}/aws/guardduty"]},
        "action": "notify",
    }
    policy = load_policy(policy_dir(tmp_path, [rule]))
    _, asff, *ocsf = _guardduty_copies()
    assert ocsf[0].product_arn == "arn:aws:securityhub:us-east-1::productv2/aws/guardduty"
    assert [decide(f, policy).rule for f in (asff, *ocsf)] == ["guardduty-by-arn"] * 3


# --- native GuardDuty resources ------------------------------------------------------------


def test_guardduty_access_key_and_user_but_not_the_sample_instance() -> None:
    f = one(load_json(CONFORMANCE / "guardduty-s3-pentest-parrotlinux.json"))
    bucket, key, user = f.resources
    assert (bucket.kind, bucket.id) == (ResourceKind.S3_BUCKET, "arn:aws:s3:::bucketName")
    assert (key.kind, key.id, key.name, key.details) == (
        ResourceKind.IAM_ACCESS_KEY,
        "GeneratedFindingAccessKeyId",
        "GeneratedFindingUserName",
        {"principal_id": "GeneratedFindingPrincipalId", "user_type": "IAMUser"},
    )
    assert (user.kind, user.id, user.name) == (
        ResourceKind.IAM_USER,
        "arn:aws:iam::123456789012:user/GeneratedFindingUserName",
        "GeneratedFindingUserName",
    )
    # trap: instanceDetails in an S3Bucket finding (GuardDuty fills every block of a sample)
    assert all(r.kind is not ResourceKind.EC2_INSTANCE for r in f.resources)


def test_guardduty_canary_instance_with_its_interface() -> None:
    f = one(load_json(CONFORMANCE / "guardduty-ec2-canary-integtest.json"))
    (instance,) = f.resources
    assert (instance.id, instance.name) == (
        "arn:aws:ec2:us-east-1:123456789012:instance/i-05746eb48123455e0",
        "i-05746eb48123455e0",
    )
    (interface,) = instance.details["network_interfaces"]
    assert interface["security_groups"] == ["sg-9918a123"]
    assert instance.details["tags"] == {"Name": "ssh-22-open"}


@pytest.mark.parametrize(
    ("resource_type", "block", "details", "expected"),
    [
        (
            "AccessKey",
            "accessKeyDetails",
            {
                "accessKeyId": "ASIAROLE",
                "principalId": "AROA:s",
                "userType": "AssumedRole",
                "userName": "ops",
            },
            [
                (ResourceKind.IAM_ACCESS_KEY, "ASIAROLE", "ops"),
                (ResourceKind.IAM_ROLE, "arn:aws:iam::012345678910:role/ops", "ops"),
            ],
        ),
        (
            "AccessKey",
            "accessKeyDetails",
            {
                "accessKeyId": "AKIAROOT",
                "principalId": "012345678910",
                "userType": "Root",
                "userName": "Root",
            },
            [(ResourceKind.IAM_ACCESS_KEY, "AKIAROOT", "Root")],
        ),
        (
            "EKSCluster",
            "eksClusterDetails",
            {"name": "prod", "arn": "arn:aws:eks:us-east-1:012345678910:cluster/prod"},
            [(ResourceKind.EKS_CLUSTER, "arn:aws:eks:us-east-1:012345678910:cluster/prod", "prod")],
        ),
        (
            "ECSCluster",
            "ecsClusterDetails",
            {"name": "web"},
            [(ResourceKind.ECS_CLUSTER, "arn:aws:ecs:us-east-1:012345678910:cluster/web", "web")],
        ),
        (
            "RDSDBInstance",
            "rdsDbInstanceDetails",
            {"dbInstanceIdentifier": "db1"},
            [(ResourceKind.RDS_DB_INSTANCE, "arn:aws:rds:us-east-1:012345678910:db:db1", "db1")],
        ),
        (
            "Lambda",
            "lambdaDetails",
            {
                "functionName": "fn",
                "functionArn": "arn:aws:lambda:us-east-1:012345678910:function:fn",
            },
            [
                (
                    ResourceKind.LAMBDA_FUNCTION,
                    "arn:aws:lambda:us-east-1:012345678910:function:fn",
                    "fn",
                )
            ],
        ),
    ],
)
def test_guardduty_resource_blocks(
    resource_type: str, block: str, details: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    event = load_json(CONFORMANCE / "guardduty-ec2-recon-portprobeunprotectedport.json")
    event["detail"]["resource"] = {"resourceType": resource_type, block: details}
    assert [(r.kind, r.id, r.name) for r in one(event).resources] == expected


def test_guardduty_bad_instance_block_names_its_field() -> None:
    event = load_json(CONFORMANCE / "guardduty-ec2-recon-portprobeunprotectedport.json")
    event["detail"]["resource"]["instanceDetails"]["networkInterfaces"][0]["securityGroups"] = [
        {"groupName": "no id"}
    ]
    before = copy.deepcopy(event)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert str(caught.value) == (
        "detail.resource.instanceDetails.networkInterfaces[0].securityGroups[0].groupId: "
        "missing, expected a non-empty string"
    )
    assert event == before


# --- an S3 object named by its key alone ---------------------------------------------------


def _captured_macie(key: str) -> dict[str, Any]:
    asff_event = load_json(EVENTS / "securityhub-macie-personal-copy.json")
    event = ocsf_copy(asff_event, CAPTURED)
    for resource in event["detail"]["findings"][0]["resources"]:
        if resource["type"] == "AWS::S3::Object":
            resource["uid"] = key
    return event


def test_a_key_with_slashes_is_a_key_not_bucket_and_key() -> None:
    (obj,) = one(_captured_macie("people/2026/contract.pdf")).s3_objects
    assert (obj.bucket, obj.key) == ("example-corp-hr-uploads", "people/2026/contract.pdf")
    assert obj.id == "arn:aws:s3:::example-corp-hr-uploads/people/2026/contract.pdf"


def test_a_key_without_a_slash_reads_too() -> None:
    (obj,) = one(_captured_macie("contract.pdf")).s3_objects
    assert (obj.bucket, obj.key) == ("example-corp-hr-uploads", "contract.pdf")


def test_the_objects_own_arn_wins_over_the_bucket_resource() -> None:
    event = _captured_macie("people/2026/contract.pdf")
    obj = next(
        r for r in event["detail"]["findings"][0]["resources"] if r["type"].endswith("Object")
    )
    obj["uid_alt"] = "arn:aws:s3:::example-corp-hr-uploads/people/2026/contract.pdf"
    (found,) = one(event).s3_objects
    assert (found.bucket, found.key) == ("example-corp-hr-uploads", "people/2026/contract.pdf")


def test_a_key_that_looks_like_an_arn_is_a_key_in_the_captured_layout() -> None:
    """A member chooses its keys: ``arn:aws:s3:::payroll/salaries.csv`` in its upload
    bucket names that object, not the payroll one, with or without the ARN in uid_alt."""
    key = "arn:aws:s3:::payroll/2026/salaries.csv"
    event = _captured_macie(key)
    (obj,) = one(event).s3_objects
    assert (obj.bucket, obj.key) == ("example-corp-hr-uploads", key)
    resource = next(
        r for r in event["detail"]["findings"][0]["resources"] if r["type"].endswith("Object")
    )
    resource["uid_alt"] = f"arn:aws:s3:::example-corp-hr-uploads/{key}"
    assert one(event).s3_objects == (obj,)


def test_uid_and_uid_alt_naming_two_objects_is_rejected() -> None:
    event = _captured_macie("arn:aws:s3:::payroll/2026/salaries.csv")
    resource = event["detail"]["findings"][0]["resources"][1]
    assert resource["type"] == "AWS::S3::Object"
    resource["uid_alt"] = "arn:aws:s3:::example-corp-hr-uploads/other.csv"
    before = copy.deepcopy(event)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert caught.value.field == "detail.findings[0].resources[1].uid"
    assert caught.value.message == (
        "uid 'arn:aws:s3:::payroll/2026/salaries.csv' and uid_alt "
        "'arn:aws:s3:::example-corp-hr-uploads/other.csv' name two different S3 objects; "
        "expected the object's key in one and its ARN in the other"
    )
    assert event == before


@pytest.mark.parametrize(
    ("buckets", "found"),
    [
        ([], "none"),
        (["example-corp-hr-uploads", "other-bucket"], "example-corp-hr-uploads, other-bucket"),
    ],
)
def test_an_object_with_no_bucket_or_two_is_rejected(buckets: list[str], found: str) -> None:
    event = _captured_macie("people/2026/contract.pdf")
    item = event["detail"]["findings"][0]
    objects = [r for r in item["resources"] if r["type"] == "AWS::S3::Object"]
    item["resources"] = [
        {"type": "AWS::S3::Bucket", "uid": name, "uid_alt": f"arn:aws:s3:::{name}"}
        for name in buckets
    ] + objects
    before = copy.deepcopy(event)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert caught.value.field == f"detail.findings[0].resources[{len(buckets)}].uid"
    assert caught.value.message == (
        "an S3 object named by its key alone needs its bucket: an S3 object ARN in uid or "
        f"uid_alt, or exactly one AWS::S3::Bucket resource in the finding (found {found})"
    )
    assert event == before


# --- every resource type, both layouts: one identity ---------------------------------------

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNT = "111111111111"
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,30}", fullmatch=True)
buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,30}[a-z0-9]", fullmatch=True)
# Any key S3 takes: slashes, spaces, unicode, even what looks like an ARN.
_texts = st.text(
    st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("/:. "),
    min_size=1,
    max_size=40,
)
keys = _texts | st.builds("arn:aws:s3:::{}/{}".format, buckets, _texts)
regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"])


def _arn(asff_type: str, region: str, name: str) -> str:
    return {
        "AwsEc2Instance": f"arn:aws:ec2:{region}:{ACCOUNT}:instance/i-{name}",
        "AwsEc2SecurityGroup": f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/sg-{name}",
        "AwsIamPolicy": f"arn:aws:iam::{ACCOUNT}:policy/service-role/{name}",
        "AwsIamRole": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AwsIamUser": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "AwsLambdaFunction": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}",
        "AwsSqsQueue": f"arn:aws:sqs:{region}:{ACCOUNT}:{name}",
        "AwsEksCluster": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
        "AwsEcsCluster": f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{name}",
        "AwsRdsDbInstance": f"arn:aws:rds:{region}:{ACCOUNT}:db:{name}",
        "AwsS3Bucket": f"arn:aws:s3:::{name}",
    }[asff_type]


@st.composite
def asff_events(draw: st.DrawFn) -> dict[str, Any]:
    """An ASFF finding of one resource of any type remedy knows (an S3 object beside its
    bucket), with any names."""
    region = draw(regions)
    asff_type = draw(
        st.sampled_from(
            [
                "AwsS3Object",
                "AwsS3Bucket",
                "AwsEc2Instance",
                "AwsEc2SecurityGroup",
                "AwsIamPolicy",
                "AwsIamRole",
                "AwsIamUser",
                "AwsLambdaFunction",
                "AwsSqsQueue",
                "AwsEksCluster",
                "AwsEcsCluster",
                "AwsRdsDbInstance",
            ]
        )
    )
    if asff_type == "AwsS3Object":
        bucket = draw(buckets)
        resources = [
            {"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::{bucket}", "Region": region},
            {"Type": "AwsS3Object", "Id": f"arn:aws:s3:::{bucket}/{draw(keys)}", "Region": region},
        ]
    else:
        name = draw(buckets if asff_type == "AwsS3Bucket" else names)
        resources = [{"Type": asff_type, "Id": _arn(asff_type, region, name), "Region": region}]
    event = load_json(EVENTS / "securityhub-control-s3.8-block-public-access.json")
    finding = event["detail"]["findings"][0]
    finding.update({"AwsAccountId": ACCOUNT, "Region": region, "Resources": resources})
    return event


@SETTINGS
@given(asff_events())
def test_every_resource_type_has_one_identity_in_every_layout(event: dict[str, Any]) -> None:
    asff = one(event)
    by_arn = one(ocsf_copy(event, ARN))
    captured = one(ocsf_copy(event, CAPTURED))
    assert identities(asff) == identities(by_arn) == identities(captured)
    assert asff.key == by_arn.key == captured.key
    assert all(r.kind is not ResourceKind.OTHER for r in captured.resources)


def test_another_accounts_bucket_is_no_candidate() -> None:
    """A bucket resource of another account is never the object's bucket (remedy acts only
    in the finding's account): with it alone, the object has no bucket."""
    event = _captured_macie("people/2026/contract.pdf")
    item = event["detail"]["findings"][0]
    for resource in item["resources"]:
        if resource["type"] == "AWS::S3::Bucket":
            resource["owner"] = {"account": {"uid": "333333333333"}}
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert caught.value.message.endswith("in the finding (found none)")


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("Name", "detail.resource.instanceDetails.tags[1]: expected an object, got a string"),
        (
            {"value": "x"},
            "detail.resource.instanceDetails.tags[1].key: missing, expected a non-empty string",
        ),
        (
            {"key": "k", "value": 5},
            "detail.resource.instanceDetails.tags[1].value: expected a string, got a number",
        ),
    ],
)
def test_guardduty_bad_tag_names_its_field(tag: Any, message: str) -> None:
    event = load_json(CONFORMANCE / "guardduty-ec2-recon-portprobeunprotectedport.json")
    event["detail"]["resource"]["instanceDetails"]["tags"][1] = tag
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert str(caught.value) == message
