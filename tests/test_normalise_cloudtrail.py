"""The CloudTrail normaliser on the project's samples in events/ and on variations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import EVENTS, event, load_json, one
from remedy.model import ResourceKind, Severity, Source
from remedy.normalise.cloudtrail import EVENT_PATTERN, GUARDED, policy_is_public
from remedy.normalise.keys import cloudtrail_key

ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def test_every_guarded_call_has_a_sample() -> None:
    seen = set()
    for path in EVENTS.glob("cloudtrail-*.json"):
        detail = load_json(path)["detail"]
        seen.add((detail["eventSource"], detail["eventName"]))
    assert seen == set(GUARDED)
    assert len(GUARDED) == 10


def test_event_pattern_lists_the_guarded_calls() -> None:
    expected = {
        "source": ["aws.ec2", "aws.iam", "aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["ec2.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com"],
            "eventName": sorted(name for _, name in GUARDED),
        },
    }
    assert expected == EVENT_PATTERN


@pytest.mark.parametrize("path", sorted(EVENTS.glob("cloudtrail-*.json")), ids=lambda p: p.name)
def test_common_fields(path: Any) -> None:
    raw = load_json(path)
    detail = raw["detail"]
    f = one(raw)
    service = detail["eventSource"].split(".")[0]
    assert f.source is Source.CLOUDTRAIL and f.product == "CloudTrail"
    assert f.type == f"{service}:{detail['eventName']}"
    assert f.api_call == f"{detail['eventSource']}:{detail['eventName']}"
    assert f.account == detail["recipientAccountId"] == f.envelope_account
    assert f.region == detail["awsRegion"]
    assert f.actor == detail["userIdentity"]["arn"]
    assert f.id == detail["eventID"]
    assert f.key == cloudtrail_key(f.account, detail["eventID"])
    assert f.key.startswith("ct-") and len(f.key) == 35
    assert f.created_at == detail["eventTime"]
    assert f.error_code == detail.get("errorCode")


def test_world_open_rdp() -> None:
    f = one(event("cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json"))
    assert f.severity is Severity.HIGH
    (group,) = f.resources
    assert (group.kind, group.id, group.region) == (
        ResourceKind.SECURITY_GROUP,
        "sg-0a1b2c3d4e5f60718",
        "eu-west-1",
    )
    assert f.parameters == {
        "group_id": "sg-0a1b2c3d4e5f60718",
        "permissions": [
            {
                "protocol": "tcp",
                "from_port": 3389,
                "to_port": 3389,
                "cidrs_v4": ["0.0.0.0/0"],
                "cidrs_v6": ["::/0"],
                "open_to_world": True,
            }
        ],
        "open_to_world": True,
    }
    assert f.title == "ec2:AuthorizeSecurityGroupIngress on sg-0a1b2c3d4e5f60718"


@pytest.mark.parametrize(
    ("cidrs_v4", "cidrs_v6", "world"),
    [
        (["10.0.0.0/8"], [], False),
        (["203.0.113.7/32"], ["2001:db8::/32"], False),
        (["10.0.0.0/8", "0.0.0.0/0"], [], True),
        ([], ["::/0"], True),
        ([], ["0::/0"], True),
        (["1.2.3.4/0"], [], True),
        (["0.0.0.0"], [], False),  # noqa: S104 (an address without a prefix, not a bind)
    ],
)
def test_open_to_world_needs_a_zero_prefix(
    cidrs_v4: list[str], cidrs_v6: list[str], world: bool
) -> None:
    raw = event("cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json")
    item = raw["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    item["ipRanges"] = {"items": [{"cidrIp": c} for c in cidrs_v4]} if cidrs_v4 else {}
    item["ipv6Ranges"] = {"items": [{"cidrIpv6": c} for c in cidrs_v6]} if cidrs_v6 else {}
    f = one(raw)
    assert f.parameters["open_to_world"] is world
    assert f.severity is (Severity.HIGH if world else Severity.INFORMATIONAL)


def test_ingress_by_group_name_and_without_permissions() -> None:
    raw = event("cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json")
    params = raw["detail"]["requestParameters"]
    del params["groupId"], params["ipPermissions"]
    params["groupName"] = "default"
    f = one(raw)
    assert f.resources[0].id == "default"
    assert f.parameters == {
        "group_id": None,
        "group_name": "default",
        "permissions": [],
        "open_to_world": False,
    }
    assert f.severity is Severity.INFORMATIONAL


def test_bucket_policy_as_a_json_string() -> None:
    raw = event("cloudtrail-s3-putbucketpolicy-public-string.json")
    assert isinstance(raw["detail"]["requestParameters"]["bucketPolicy"], str)
    f = one(raw)
    assert f.severity is Severity.HIGH
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket, bucket.id) == (
        ResourceKind.S3_BUCKET,
        "example-corp-public-site-staging",
        "arn:aws:s3:::example-corp-public-site-staging",
    )
    assert f.parameters["bucket"] == "example-corp-public-site-staging"
    assert f.parameters["policy"] == json.loads(raw["detail"]["requestParameters"]["bucketPolicy"])
    assert f.parameters["public"] is True


def statement(**fields: Any) -> dict[str, Any]:
    base = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    base.update(fields)
    return {"Version": "2012-10-17", "Statement": [base]}


@pytest.mark.parametrize(
    ("document", "public"),
    [
        (statement(Principal="*"), True),
        (statement(Principal={"AWS": "*"}), True),
        (statement(Principal={"AWS": ["arn:aws:iam::111111111111:root", "*"]}), True),
        (statement(Principal={"AWS": "arn:aws:iam::111111111111:root"}), False),
        (statement(Principal={"Service": "cloudfront.amazonaws.com"}), False),
        (statement(Principal="*", Effect="Deny"), False),
        (statement(NotPrincipal={"AWS": "arn:aws:iam::111111111111:root"}), True),
        (
            statement(
                Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}}
            ),
            False,
        ),
        (
            statement(Principal="*", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b"}}),
            False,
        ),
        (
            statement(Principal="*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            False,
        ),
        (
            statement(Principal="*", Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
            True,
        ),
        (
            statement(Principal="*", Condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}}),
            True,
        ),
        (
            statement(
                Principal="*",
                Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
            ),
            True,
        ),
        (
            statement(
                Principal="*",
                Condition={"StringEqualsIfExists": {"aws:SourceAccount": "111111111111"}},
            ),
            True,
        ),
        (statement(Principal="*", Condition={"Bool": {"aws:SecureTransport": "true"}}), True),
        ({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*"}}, True),
        ({"Statement": "nonsense"}, False),
        ({"Statement": [None, 3, "x"]}, False),
        ({}, False),
    ],
)
def test_bucket_policy_publicness(document: dict[str, Any], public: bool) -> None:
    assert policy_is_public(document) is public
    raw = event("cloudtrail-s3-putbucketpolicy-public-string.json")
    raw["detail"]["requestParameters"]["bucketPolicy"] = document
    f = one(raw)
    assert f.parameters["public"] is public
    assert f.severity is (Severity.HIGH if public else Severity.INFORMATIONAL)


def test_failed_call_keeps_the_error_code() -> None:
    f = one(event("cloudtrail-s3-putbucketpolicy-accessdenied.json"))
    assert f.error_code == "AccessDenied"
    assert f.description == "Access Denied"
    assert f.title == (
        "s3:PutBucketPolicy on arn:aws:s3:::example-corp-finance-exports (failed: AccessDenied)"
    )
    # what it tried is still read, so a person can see it
    assert f.parameters["public"] is True


def test_failed_call_without_parameters_or_with_a_bad_document() -> None:
    raw = event("cloudtrail-s3-putbucketpolicy-accessdenied.json")
    del raw["detail"]["requestParameters"]
    f = one(raw)
    assert (f.error_code, f.resources, f.parameters, f.severity) == (
        "AccessDenied",
        (),
        {},
        Severity.INFORMATIONAL,
    )
    raw = event("cloudtrail-s3-putbucketpolicy-accessdenied.json")
    raw["detail"]["errorCode"] = "MalformedPolicy"
    raw["detail"]["requestParameters"]["bucketPolicy"] = "{not json"
    f = one(raw)
    assert f.parameters["policy"] == "{not json"
    assert f.parameters["public"] is False


def test_public_acl_grant_list() -> None:
    f = one(event("cloudtrail-s3-putbucketacl-public-read.json"))
    assert f.severity is Severity.HIGH
    assert f.parameters["bucket"] == "example-corp-marketing-assets"
    assert f.parameters["public"] is True
    assert f.parameters["grants"] == [
        {"grantee_type": "CanonicalUser", "grantee": "0" * 64, "permission": "FULL_CONTROL"},
        {
            "grantee_type": "Group",
            "grantee": "http://acs.amazonaws.com/groups/global/AllUsers",
            "permission": "READ",
        },
    ]


@pytest.mark.parametrize(
    ("extra", "public"),
    [
        ({"x-amz-acl": ["public-read"]}, True),
        ({"x-amz-acl": "authenticated-read"}, True),
        ({"x-amz-acl": ["private"]}, False),
        ({"x-amz-grant-read": ['uri="http://acs.amazonaws.com/groups/global/AllUsers"']}, True),
        ({"x-amz-grant-write": "id=0123"}, False),
    ],
)
def test_acl_headers(extra: dict[str, Any], public: bool) -> None:
    raw = event("cloudtrail-s3-putbucketacl-public-read.json")
    params = raw["detail"]["requestParameters"]
    del params["AccessControlPolicy"]
    params.update(extra)
    f = one(raw)
    assert f.parameters["public"] is public
    assert f.parameters["grants"] == []


def test_authenticated_users_grant_is_public() -> None:
    raw = event("cloudtrail-s3-putbucketacl-public-read.json")
    grants = raw["detail"]["requestParameters"]["AccessControlPolicy"]["AccessControlList"]
    grants["Grant"] = {
        "Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
        "Permission": "WRITE",
    }
    assert one(raw).parameters["public"] is True


def test_delete_public_access_block() -> None:
    f = one(event("cloudtrail-s3-deletepublicaccessblock.json"))
    assert f.severity is Severity.HIGH
    assert f.parameters == {"bucket": "example-corp-public-site-staging"}
    assert f.resources[0].bucket == "example-corp-public-site-staging"


def test_attach_internet_gateway() -> None:
    f = one(event("cloudtrail-ec2-attachinternetgateway-to-vpc.json"))
    assert f.severity is Severity.MEDIUM
    (gateway,) = f.resources
    assert (gateway.kind, gateway.id, gateway.details) == (
        ResourceKind.INTERNET_GATEWAY,
        "igw-0a1b2c3d4e5f60718",
        {"vpc_id": "vpc-0fedcba9876543210"},
    )
    assert f.parameters == {
        "internet_gateway_id": "igw-0a1b2c3d4e5f60718",
        "vpc_id": "vpc-0fedcba9876543210",
    }


def test_create_policy() -> None:
    f = one(event("cloudtrail-iam-createpolicy.json"))
    assert f.severity is Severity.MEDIUM
    assert f.region == "us-east-1"
    arn = "arn:aws:iam::111111111111:policy/example-break-glass-admin"
    (policy,) = f.resources
    assert (policy.kind, policy.id) == (ResourceKind.IAM_POLICY, arn)
    assert f.parameters == {
        "policy_name": "example-break-glass-admin",
        "policy_arn": arn,
        "policy_document": ADMIN,
    }


def test_create_policy_refused_gets_the_arn_it_would_have() -> None:
    raw = event("cloudtrail-iam-createpolicy.json")
    raw["detail"]["responseElements"] = None
    raw["detail"]["errorCode"] = "AccessDenied"
    raw["detail"]["requestParameters"]["path"] = "/team/"
    f = one(raw)
    assert f.parameters["policy_arn"] == (
        "arn:aws:iam::111111111111:policy/team/example-break-glass-admin"
    )
    assert f.error_code == "AccessDenied"


def test_create_policy_version() -> None:
    f = one(event("cloudtrail-iam-createpolicyversion.json"))
    arn = "arn:aws:iam::333333333333:policy/example-data-reader"
    assert f.resources[0].id == arn
    assert f.parameters == {"policy_arn": arn, "policy_document": ADMIN, "set_as_default": True}
    assert f.severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("name", "principal", "principal_name", "policy_name"),
    [
        ("cloudtrail-iam-putuserpolicy.json", "user", "example-ci-user", "inline-admin"),
        ("cloudtrail-iam-putrolepolicy.json", "role", "example-app-role", "inline-data-lake-read"),
        ("cloudtrail-iam-putgrouppolicy.json", "group", "example-developers", "inline-admin"),
    ],
)
def test_inline_policies(name: str, principal: str, principal_name: str, policy_name: str) -> None:
    raw = event(name)
    f = one(raw)
    assert f.severity is Severity.MEDIUM
    (policy,) = f.resources
    assert policy.kind is ResourceKind.IAM_POLICY
    assert policy.id == f"{principal}/{principal_name}/{policy_name}"
    assert policy.type == f"AwsIam{principal.capitalize()}Policy"
    assert f.parameters == {
        f"{principal}_name": principal_name,
        "policy_name": policy_name,
        "policy_document": json.loads(raw["detail"]["requestParameters"]["policyDocument"]),
    }


def test_account_falls_back_to_the_envelope() -> None:
    raw = event("cloudtrail-iam-putuserpolicy.json")
    del raw["detail"]["recipientAccountId"]
    f = one(raw)
    assert f.account == raw["account"] == "222222222222"


def test_empty_bucket_name_invents_no_bucket() -> None:
    raw = event("cloudtrail-s3-deletepublicaccessblock.json")
    raw["detail"]["requestParameters"]["bucketName"] = ""
    f = one(raw)
    assert f.resources == ()
    assert f.parameters == {"bucket": None}
    assert f.title == "s3:DeletePublicAccessBlock"
