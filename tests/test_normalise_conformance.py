"""Every AWS-authored payload in ../shared/conformance reads into the facts EXPECTED.md lists.

Each test names its file and asserts the facts of that file, traps included. The corpus is
read in place, never copied into the project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conftest import CONFORMANCE, EVENTS, load_json
from remedy.model import Detection, Finding, ResourceKind, Severity, Source
from remedy.normalise import normalise
from remedy.normalise.registry import lookup, normalisers

COVERED = {
    "macie-sensitive-reveal-csv-multiple.json",
    "macie-sensitive-reveal-key-with-spaces.json",
    "macie-sensitive-reveal-cdi-customidentifier.json",
    "macie-policy-awscli-s3bucketpublicreadaccess.json",
    "securityhub-securityhub-control-consolidated-cloudtrail2.json",
    "securityhub-securityhub-control-nist-cloudtrail2.json",
    "securityhub-config-s3-bucket-level-public-access.json",
    "securityhub-guardduty-ec2-sshbruteforce.json",
    "securityhub-inspector-network-reachability-port22.json",
    "securityhub-accessanalyzer-s3-cross-account.json",
    "securityhub-guardduty-iamuser-consolelogin-customaction.json",
    "securityhub-custom-custodian-lambda-crossaccount-customaction.json",
    "securityhub-securityhub-cis-cloudtrail-customaction.json",
    "cloudtrail-ec2-authorizesecuritygroupingress-open-world.json",
    "cloudtrail-ec2-authorizesecuritygroupingress-ssh-world.json",
    "cloudtrail-s3-putbucketpolicy-public.json",
    "cloudtrail-s3-putbucketacl.json",
    "cloudtrail-ec2-attachinternetgateway.json",
    "macie-sensitive-siemplify-personal-key-with-space.json",
    "securityhub-securityhub-control-fsbp-s32-passed.json",
    "securityhub-securityhub-control-fsbp-ec27-account-failed.json",
    "securityhub-v2-exposure-lambda.json",
    "securityhub-v2-inspector-lambda-cve.json",
    "securityhub-v2-securityhub-control-iam1-pass.json",
    "securityhub-v2-securityhub-control-redshift3-account-pass.json",
    "securityhub-v2-securityhub-control-sqs1-fail.json",
    "securityhub-v2-securityhub-control-ssm1-ec2-fail.json",
    "guardduty-ec2-recon-portprobeunprotectedport.json",
    "guardduty-s3-pentest-parrotlinux.json",
    "guardduty-ec2-canary-integtest.json",
}

MULTIPLE_DETECTIONS = (
    Detection("FINANCIAL_INFORMATION", "CREDIT_CARD_NUMBER", 30),
    Detection("PERSONAL_INFORMATION", "USA_SOCIAL_SECURITY_NUMBER", 30),
    Detection("PERSONAL_INFORMATION", "PHONE_NUMBER", 28),
    Detection("PERSONAL_INFORMATION", "DATE_OF_BIRTH", 30),
    Detection("PERSONAL_INFORMATION", "NAME", 20),
    Detection("PERSONAL_INFORMATION", "ADDRESS", 28),
)


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(CONFORMANCE / name)
    return data


def one(name: str) -> Finding:
    findings = normalise(event(name))
    assert len(findings) == 1
    return findings[0]


def test_every_corpus_file_is_covered(conformance_dir: Path) -> None:
    on_disk = {p.name for p in conformance_dir.glob("*.json")}
    assert on_disk == COVERED


@pytest.mark.parametrize("name", sorted(COVERED))
def test_every_finding_is_complete_and_serialisable(name: str) -> None:
    for finding in normalise(event(name)):
        assert finding.key and finding.account and finding.region and finding.type
        out = json.loads(json.dumps(finding.to_dict()))
        assert out["severity"] in {s.name for s in Severity}


def test_event_patterns_route_each_event_to_its_normaliser_only() -> None:
    """The registered EventBridge patterns, on moto's bus: each corpus and events/ file
    reaches its own normaliser's queue; a CloudTrail call that is not guarded reaches none.
    (moto 5.2.5 leaves TestEventPattern unimplemented, so this goes through real rules.)"""
    files = sorted(CONFORMANCE.glob("*.json")) + sorted(EVENTS.glob("*.json"))
    unguarded = event("cloudtrail-ec2-attachinternetgateway.json")
    unguarded["detail"]["eventName"] = "RunInstances"
    with mock_aws():
        bus = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queues = {}
        for entry in normalisers():
            url = sqs.create_queue(QueueName=entry.name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            bus.put_rule(Name=entry.name, EventPattern=json.dumps(entry.event_pattern))
            bus.put_targets(
                Rule=entry.name, Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}]
            )
            queues[entry.name] = url
        expected: dict[str, list[str]] = {name: [] for name in queues}
        for path in files:
            raw = load_json(path)
            route = lookup(raw["source"], raw["detail-type"])
            assert route is not None, path.name
            expected[route.name].append(raw["id"])
        for raw in [load_json(path) for path in files] + [unguarded]:
            bus.put_events(
                Entries=[
                    {
                        "Source": raw["source"],
                        "DetailType": raw["detail-type"],
                        # Carried in Detail so each delivery can be told apart.
                        "Detail": json.dumps({**raw["detail"], "sample-id": raw["id"]}),
                    }
                ]
            )
        for name, url in queues.items():
            delivered = []
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    delivered.append(json.loads(message["Body"])["detail"]["sample-id"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            assert sorted(delivered) == sorted(expected[name]), name


# --- Macie -------------------------------------------------------------------------------


def test_macie_csv_multiple() -> None:
    f = one("macie-sensitive-reveal-csv-multiple.json")
    assert f.source is Source.MACIE and f.product == "Macie"
    assert (f.account, f.region) == ("555555555555", "us-east-1")
    assert f.id == "00000000000000000000000000000001"
    assert f.category == "CLASSIFICATION"
    assert f.type == "SensitiveData:S3Object/Multiple"
    assert f.severity is Severity.HIGH
    assert f.created_at == f.updated_at == "2021-10-25T23:25:04.250Z"
    obj, bucket = f.resources
    assert obj.kind is ResourceKind.S3_OBJECT
    assert obj.bucket == "DOC-EXAMPLE-BUCKET1"
    assert obj.key == "macie-workshop/sample-data.csv"
    assert obj.size == 4750
    # trap: versionId "" means no version
    assert obj.version_id is None
    assert bucket.kind is ResourceKind.S3_BUCKET
    assert bucket.id == "arn:aws:s3:::DOC-EXAMPLE-BUCKET1"
    # trap: detailedResultsLocation names another bucket, which is not a resource
    assert all(r.bucket == "DOC-EXAMPLE-BUCKET1" for r in f.resources)
    assert f.detections == MULTIPLE_DETECTIONS
    totals: dict[str, int] = {}
    for d in f.detections:
        totals[d.category] = totals.get(d.category, 0) + d.count
    assert totals == {"FINANCIAL_INFORMATION": 30, "PERSONAL_INFORMATION": 136}


def test_macie_key_with_spaces_is_kept_and_not_merged_by_id() -> None:
    plain = one("macie-sensitive-reveal-csv-multiple.json")
    spaced = one("macie-sensitive-reveal-key-with-spaces.json")
    assert spaced.s3_objects[0].key == "macie-workshop/sample-data with spaces.csv"
    assert spaced.s3_objects[0].version_id is None
    assert (spaced.account, spaced.region, spaced.severity) == (
        "555555555555",
        "us-east-1",
        Severity.HIGH,
    )
    assert spaced.detections == MULTIPLE_DETECTIONS
    # trap: the same finding id for two objects; the dedupe key must tell them apart
    assert spaced.id == plain.id == "00000000000000000000000000000001"
    assert spaced.key != plain.key


def test_macie_custom_identifier() -> None:
    f = one("macie-sensitive-reveal-cdi-customidentifier.json")
    assert (f.account, f.region) == ("555555555555", "us-east-1")
    assert f.id == "00000000000000000000000000000005"
    assert f.type == "SensitiveData:S3Object/CustomIdentifier"
    assert f.category == "CLASSIFICATION"
    assert f.severity is Severity.MEDIUM
    obj = f.s3_objects[0]
    assert (obj.bucket, obj.key, obj.size, obj.version_id) == (
        "DOC-EXAMPLE-BUCKET1",
        "test-cdi.csv",
        4855,
        None,
    )
    # trap: the identifier's "arn" is a bare UUID; it is not used, the name is
    assert f.detections == (Detection("CUSTOM_IDENTIFIER", "email check", 1),)
    assert f.created_at == "2022-03-11T05:49:17.220Z"


def test_macie_policy_finding_with_unknown_subtype_and_odd_score() -> None:
    f = one("macie-policy-awscli-s3bucketpublicreadaccess.json")
    assert (f.account, f.region) == ("123456789012", "us-east-1")
    assert f.id == "64ed80b084b5b7b985b12345"
    assert f.category == "POLICY"
    # trap: not a documented policy type, still parsed
    assert f.type == "Policy:IAMUser/S3BucketPublicReadAccess"
    # trap: score 7.4; the description decides
    assert f.severity is Severity.HIGH
    assert f.title == "Bucket policy allows public read access"
    assert f.description == "The S3 bucket is publicly readable."
    # no s3Object: the bucket only
    (bucket,) = f.resources
    assert bucket.kind is ResourceKind.S3_BUCKET
    assert bucket.bucket == "amzn-s3-demo-bucket"
    assert bucket.id == "arn:aws:s3:::amzn-s3-demo-bucket"
    assert f.s3_objects == ()
    # trap: classificationDetails on a POLICY finding holds no detections
    assert f.detections == ()
    # trap: timestamps with offset and microseconds are kept as given
    assert f.created_at == "2023-05-07T20:21:01.656000+00:00"


# --- Security Hub ------------------------------------------------------------------------


def test_securityhub_control_consolidated_with_string_normalized() -> None:
    f = one("securityhub-securityhub-control-consolidated-cloudtrail2.json")
    assert f.source is Source.SECURITYHUB
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    assert f.id == (
        "arn:aws:securityhub:us-east-2:123456789012:security-control/CloudTrail.2/finding/"
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    )
    assert f.product_arn == "arn:aws:securityhub:us-east-2::product/aws/securityhub"
    assert f.product == "Security Hub"
    assert f.type == "Software and Configuration Checks/Industry and Regulatory Standards"
    assert f.severity is Severity.MEDIUM
    assert f.parameters["control_id"] == "CloudTrail.2"
    assert f.compliance_status == "FAILED"
    (trail,) = f.resources
    assert (trail.kind, trail.type, trail.region) == (
        ResourceKind.OTHER,
        "AwsCloudTrailTrail",
        "us-east-2",
    )
    assert trail.id == "arn:aws:cloudtrail:us-east-2:123456789012:trail/AWSMacieTrail-DO-NOT-EDIT"
    assert (f.workflow_status, f.record_state) == ("NEW", "ACTIVE")
    assert f.updated_at == "2022-10-28T16:10:00.093Z"
    assert f.title == "CloudTrail should have encryption at-rest enabled"


def test_securityhub_string_normalized_alone_is_read_as_a_number() -> None:
    # trap: Severity.Normalized is the string "40"; with no Label it alone decides.
    raw = event("securityhub-securityhub-control-consolidated-cloudtrail2.json")
    del raw["detail"]["findings"][0]["Severity"]["Label"]
    assert normalise(raw)[0].severity is Severity.MEDIUM


def test_securityhub_control_nist_ignores_contradicting_product_fields() -> None:
    f = one("securityhub-securityhub-control-nist-cloudtrail2.json")
    assert (f.account, f.region) == ("123456789012", "us-east-1")
    assert f.id.startswith(
        "arn:aws:securityhub:us-east-1:123456789012:subscription/nist-800-53/v/5.0.0/CloudTrail.2/"
    )
    assert f.severity is Severity.MEDIUM
    assert f.compliance_status == "FAILED"
    # trap: ProductFields point at us-east-2, a us-west-2 trail and CloudTrail.9
    assert f.parameters["control_id"] == "CloudTrail.2"
    (trail,) = f.resources
    assert trail.id == "arn:aws:cloudtrail:us-east-1:123456789012:trail/AWSMacieTrail-DO-NOT-EDIT"
    assert trail.region == "us-east-1"


def test_securityhub_config_keys_on_id_not_product_fields() -> None:
    raw = event("securityhub-config-s3-bucket-level-public-access.json")
    f = normalise(raw)[0]
    assert (f.account, f.region) == ("123456789012", "eu-central-1")
    assert f.product == "Config"
    assert f.product_arn == "arn:aws:securityhub:eu-central-1::product/aws/config"
    assert f.type == "Software and Configuration Checks"
    assert f.severity is Severity.MEDIUM
    assert f.title == "s3-bucket-level-public-access-prohibited-config-integration-demo"
    assert f.compliance_status == "FAILED"
    (bucket,) = f.resources
    assert bucket.kind is ResourceKind.S3_BUCKET
    assert bucket.bucket == "config-integration-demo-bucket"
    assert bucket.region == "eu-central-1"
    # trap: ProductFields' FindingId (46f0...) differs from Id (45g0...); the key uses Id
    assert f.id.endswith("45g070df80cb50b68fa6a43594kc6fda1e517932")
    changed = event("securityhub-config-s3-bucket-level-public-access.json")
    changed["detail"]["findings"][0]["ProductFields"]["aws/securityhub/FindingId"] = "other"
    assert normalise(changed)[0].key == f.key
    changed["detail"]["findings"][0]["Id"] += "-other"
    assert normalise(changed)[0].key != f.key


def test_securityhub_guardduty_malformed_arns() -> None:
    f = one("securityhub-guardduty-ec2-sshbruteforce.json")
    # trap: every ARN has an extra colon; account and instance still come out right
    assert f.account == "193043430472"
    # no F.Region: the resource's region
    assert f.region == "us-east-1"
    # The doc's ProductArn (arn:aws::securityhub:...) is not AWS's product ARN: Security Hub
    # would refuse it, so whatever imported it is not GuardDuty, whatever it says.
    assert f.product == "custom: GuardDuty"
    assert f.type == "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"
    assert f.severity is Severity.MEDIUM
    (instance,) = f.resources
    assert instance.kind is ResourceKind.EC2_INSTANCE
    # The ARN as AWS defines it (the typo mended), the bare id as its name.
    assert instance.id == "arn:aws:ec2:us-east-1:193043430472:instance/i-0c10c2c7863d1a356"
    assert instance.name == "i-0c10c2c7863d1a356"
    assert instance.details == {"tags": {"Name": "kubectl"}}
    assert instance.type == "AwsEc2Instance"
    assert instance.region == "us-east-1"
    assert f.updated_at == "2020-09-30T12:14:00.206Z"
    assert (f.workflow_status, f.record_state) == ("NEW", "ACTIVE")


def test_securityhub_inspector_account_is_not_the_resource_arns() -> None:
    f = one("securityhub-inspector-network-reachability-port22.json")
    # trap: the resource ARN is in 193043430472; the finding is 111122223333's
    assert f.account == "111122223333"
    assert f.region == "us-east-1"
    assert f.product == "Inspector"
    assert f.product_arn == "arn:aws:securityhub:us-east-1::product/aws/inspector"
    assert f.type == (
        "Software and Configuration Checks/AWS Security Best Practices/"
        "Network Reachability - Recognized port reachable from internet"
    )
    assert f.severity is Severity.MEDIUM
    (instance,) = f.resources
    assert instance.id == "arn:aws:ec2:us-east-1:193043430472:instance/i-0c10c2c7863d1a356"
    assert instance.name == "i-0c10c2c7863d1a356"


def test_securityhub_access_analyzer_region_from_product_arn() -> None:
    f = one("securityhub-accessanalyzer-s3-cross-account.json")
    assert f.account == "111122223333"
    # no Region anywhere but in ProductArn (and Id)
    assert f.region == "us-west-2"
    # no ProductName and (trap) no ProductFields: derived from ProductArn
    assert f.product == "IAM Access Analyzer"
    assert f.type == (
        "Software and Configuration Checks/AWS Security Best Practices/External Access Granted"
    )
    assert f.severity is Severity.LOW
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket, bucket.id) == (
        ResourceKind.S3_BUCKET,
        "my-bucket",
        "arn:aws:s3:::my-bucket",
    )
    assert bucket.region == "us-west-2"


def test_securityhub_custom_action_guardduty_console_login() -> None:
    raw = event("securityhub-guardduty-iamuser-consolelogin-customaction.json")
    # trap: a Custom Action event with a non-AWS top-level key
    assert raw["detail-type"] == "Security Hub Findings - Custom Action" and raw["debug"] is True
    (f,) = normalise(raw)
    assert f.action_name == "Ec2 aws"
    assert f.account == f.envelope_account == "644160558196"
    assert f.region == "us-east-1"
    assert f.product == "GuardDuty"
    assert f.product_arn == "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    # GuardDuty's own type, from Types' "Unusual Behaviors/User/UnauthorizedAccess:IAMUser-
    # ConsoleLogin": the native finding's, so one rule decides both alike.
    assert f.type == "UnauthorizedAccess:IAMUser/ConsoleLogin"
    # trap: no Severity.Label; Normalized 50 agrees with the ProductFields label MEDIUM
    assert f.severity is Severity.MEDIUM
    key, user = f.resources
    # trap: a literal "null" inside the id is kept as it is, and names no key to act on
    assert (key.kind, key.type, key.id, key.name) == (
        ResourceKind.OTHER,
        "AwsIamAccessKey",
        "AWS::IAM::AccessKey:null",
        "kapil",
    )
    # the user it belongs to is known
    assert (user.kind, user.id, user.name) == (
        ResourceKind.IAM_USER,
        "arn:aws:iam::644160558196:user/kapil",
        "kapil",
    )
    # the custom-action ARN in env.resources is not a finding id
    assert f.id.startswith("arn:aws:guardduty:us-east-1:644160558196:detector/")


def test_securityhub_custom_action_cross_account() -> None:
    (f,) = normalise(event("securityhub-custom-custodian-lambda-crossaccount-customaction.json"))
    # the finding's own account, not the envelope's 519413311747
    assert f.account == "644160558196"
    assert f.envelope_account == "519413311747"
    assert f.region == "us-east-1"
    assert f.action_name == "Lambda remediate"
    assert f.product_arn == (
        "arn:aws:securityhub:us-east-1:644160558196:product/644160558196/default"
    )
    assert f.id == (
        "us-east-1/644160558196/356580e4704cf1222cbee13685416652/84a7b9799285262dbf00c7b214463dde"
    )
    assert f.type == "Software and Configuration Checks/Custodian/Monkey Lambda"
    assert f.compliance_status == "FAILED"
    # no Label: Normalized 6 is LOW, as the ProductFields label says
    assert f.severity is Severity.LOW
    (function,) = f.resources
    assert (function.kind, function.type) == (ResourceKind.OTHER, "Other")
    assert function.id == (
        "arn:aws:lambda:us-east-1:644160558196:function:"
        "custodian-enterprise-ec2-instances-no-elastic-ip-isolate"
    )
    assert f.created_at == "2020-01-15T15:55:49.624441+00:00"


def test_securityhub_custom_action_cis_passed() -> None:
    (f,) = normalise(event("securityhub-securityhub-cis-cloudtrail-customaction.json"))
    assert f.account == f.envelope_account == "644160558196"
    assert f.region == "us-east-1"
    assert f.action_name == "Ec2 aws"
    assert f.title == "2.2 Ensure CloudTrail log file validation is enabled (Scored)"
    assert f.type == (
        "Software and Configuration Checks/Industry and Regulatory Standards/"
        "CIS AWS Foundations Benchmark"
    )
    # Normalized 0 is INFORMATIONAL, as the ProductFields label says
    assert f.severity is Severity.INFORMATIONAL
    # a passing check
    assert f.compliance_status == "PASSED"
    (trail,) = f.resources
    assert trail.id == "arn:aws:cloudtrail:us-east-1:644160558196:trail/skunk-trails"
    # the bucket in Details.Other is not an affected resource
    assert trail.bucket is None


def test_securityhub_product_fields_label_is_the_last_fallback() -> None:
    raw = event("securityhub-securityhub-cis-cloudtrail-customaction.json")
    del raw["detail"]["findings"][0]["Severity"]
    assert normalise(raw)[0].severity is Severity.INFORMATIONAL
    raw = event("securityhub-guardduty-iamuser-consolelogin-customaction.json")
    del raw["detail"]["findings"][0]["Severity"]["Normalized"]
    assert normalise(raw)[0].severity is Severity.MEDIUM


# --- CloudTrail --------------------------------------------------------------------------


def test_cloudtrail_open_world_ingress_ipv4_and_ipv6() -> None:
    f = one("cloudtrail-ec2-authorizesecuritygroupingress-open-world.json")
    assert f.source is Source.CLOUDTRAIL and f.product == "CloudTrail"
    # trap: no recipientAccountId; the envelope account
    assert f.account == "000000000000"
    assert f.region == "us-east-1"
    assert f.type == "ec2:AuthorizeSecurityGroupIngress"
    assert f.api_call == "ec2.amazonaws.com:AuthorizeSecurityGroupIngress"
    assert f.actor == "arn:aws:iam::000000000000:user/test"
    assert f.created_at == "2020-02-17T05:42:21Z"
    assert f.error_code is None
    (group,) = f.resources
    assert (group.kind, group.id) == (ResourceKind.SECURITY_GROUP, "sg-00000bd0bf00f0000")
    assert f.parameters["group_id"] == "sg-00000bd0bf00f0000"
    # trap: the second item's ipRanges is {}, not a list
    assert f.parameters["permissions"] == [
        {
            "protocol": "tcp",
            "from_port": 55,
            "to_port": 55,
            "cidrs_v4": ["0.0.0.0/0"],
            "cidrs_v6": [],
            "open_to_world": True,
        },
        {
            "protocol": "tcp",
            "from_port": 55,
            "to_port": 55,
            "cidrs_v4": [],
            "cidrs_v6": ["::/0"],
            "open_to_world": True,
        },
    ]
    assert f.parameters["open_to_world"] is True
    assert f.severity is Severity.HIGH


def test_cloudtrail_ssh_world() -> None:
    f = one("cloudtrail-ec2-authorizesecuritygroupingress-ssh-world.json")
    assert (f.account, f.region) == ("112233445566", "us-east-1")
    assert f.id == "42155429-7e8e-43b5-9b5e-6953f80d51d5"
    assert f.actor == "arn:aws:sts::112233445566:assumed-role/Operator/ryan@example.com"
    assert f.created_at == "2020-04-30T04:40:52Z"
    assert f.resources[0].id == "sg-0d921df5d84f7270a"
    (permission,) = f.parameters["permissions"]
    assert (permission["protocol"], permission["from_port"], permission["to_port"]) == (
        "tcp",
        22,
        22,
    )
    assert permission["cidrs_v4"] == ["0.0.0.0/0"] and permission["cidrs_v6"] == []
    assert f.parameters["open_to_world"] is True
    assert f.severity is Severity.HIGH
    assert f.error_code is None


def test_cloudtrail_put_bucket_policy_object() -> None:
    f = one("cloudtrail-s3-putbucketpolicy-public.json")
    assert (f.account, f.region) == ("123456789012", "us-west-2")
    assert f.type == "s3:PutBucketPolicy"
    assert f.api_call == "s3.amazonaws.com:PutBucketPolicy"
    assert f.created_at == "2019-01-01T00:00:00Z"
    assert f.actor == "arn:aws:sts::123456789012:assumed-role/example-role/example-user"
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket) == (ResourceKind.S3_BUCKET, "example-bucket")
    assert f.parameters["bucket"] == "example-bucket"
    # the policy arrived as a JSON object
    (statement,) = f.parameters["policy"]["Statement"]
    assert statement == {
        "Action": "s3:GetBucketAcl",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Resource": "arn:aws:s3:::example-bucket",
        "Sid": "Public Access",
    }
    assert f.parameters["public"] is True
    assert f.severity is Severity.HIGH
    assert f.error_code is None


def test_cloudtrail_put_bucket_acl_empty_bucket_single_grant() -> None:
    f = one("cloudtrail-s3-putbucketacl.json")
    assert (f.account, f.region) == ("111122223333", "us-west-2")
    assert f.id == "607b9532-1423-41c7-b048-ec2641693c47"
    assert f.actor == "arn:aws:iam::111122223333:user/myUserName"
    assert f.created_at == "2019-02-01T03:22:33Z"
    # trap: bucketName "" is no bucket; none is invented
    assert f.parameters["bucket"] is None
    assert f.resources == ()
    # trap: Grant is one object, not a list
    assert f.parameters["grants"] == [
        {
            "grantee_type": "CanonicalUser",
            "grantee": "d25639fbe9c19cd30a4c0f43fbf00e2d3f96400a9aa8dabfbbebe1906Example",
            "permission": "FULL_CONTROL",
        }
    ]
    # no AllUsers/AuthenticatedUsers grantee: not public
    assert f.parameters["public"] is False
    assert f.severity is Severity.INFORMATIONAL


def test_cloudtrail_attach_internet_gateway() -> None:
    f = one("cloudtrail-ec2-attachinternetgateway.json")
    assert (f.account, f.region) == ("123456789012", "us-west-2")
    assert f.type == "ec2:AttachInternetGateway"
    assert f.actor == "arn:aws:sts::123456789012:assumed-role/tester"
    (gateway,) = f.resources
    assert (gateway.kind, gateway.id) == (ResourceKind.INTERNET_GATEWAY, "igw-1")
    assert f.parameters == {"internet_gateway_id": "igw-1", "vpc_id": "vpc-1"}
    assert f.severity is Severity.MEDIUM
    assert f.error_code is None


# --- Published in the second round (issue 17) --------------------------------------------


def test_macie_siemplify_boto3_timestamps_and_key_with_space() -> None:
    f = one("macie-sensitive-siemplify-personal-key-with-space.json")
    assert (f.account, f.region) == ("582302349248", "us-east-1")
    assert f.id == "4e958e42874e5e24ae7e92257cf2783e"
    assert (f.category, f.type) == ("CLASSIFICATION", "SensitiveData:S3Object/Personal")
    assert f.severity is Severity.LOW
    obj, bucket = f.resources
    assert (obj.bucket, obj.key, obj.size) == ("testsiemplify2", "Full name.xlsx", 8651)
    assert obj.etag == "2a1b18df586e9e4afc13fe0cb2473160"
    # trap: versionId "" is no version
    assert obj.version_id is None
    assert bucket.id == "arn:aws:s3:::testsiemplify2"
    assert f.detections == (Detection("PERSONAL_INFORMATION", "NAME", 1),)
    # trap: boto3's timestamps (a space, an offset) are read, kept as given
    assert f.created_at == f.updated_at == "2020-10-26 13:47:03.127000+00:00"
    assert f.record_state is None


def test_securityhub_fsbp_s32_passed_control_from_product_fields() -> None:
    f = one("securityhub-securityhub-control-fsbp-s32-passed.json")
    assert (f.account, f.region) == ("111111111111", "us-east-1")
    assert f.id == (
        "arn:aws:securityhub:us-east-1:111111111111:subscription/"
        "aws-foundational-security-best-practices/v/1.0.0/S3.2/finding/"
        "ef33c951-94b7-4d92-acd2-99c2a3e3a78a"
    )
    assert (f.product, f.product_arn) == (
        "Security Hub",
        "arn:aws:securityhub:us-east-1::product/aws/securityhub",
    )
    assert f.type == "Effects/Data Exposure/AWS-Foundational-Security-Best-Practices"
    assert f.severity is Severity.INFORMATIONAL
    # no SecurityControlId: the control id comes from ProductFields.ControlId
    assert f.parameters["control_id"] == "S3.2"
    assert f.compliance_status == "PASSED"
    # trap: Workflow.Status RESOLVED wins over the older WorkflowState NEW
    assert (f.workflow_status, f.record_state) == ("RESOLVED", "ACTIVE")
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket, bucket.region) == (
        ResourceKind.S3_BUCKET,
        "so0111-aws-cloudtrail-111111111111",
        "us-east-1",
    )
    assert f.title == "S3.2 S3 buckets should prohibit public read access"
    assert f.created_at == f.updated_at == "2021-07-22T15:22:40.888Z"


def test_securityhub_fsbp_ec27_failed_account_resource_and_foreign_envelope() -> None:
    raw = event("securityhub-securityhub-control-fsbp-ec27-account-failed.json")
    (f,) = normalise(raw)
    assert (f.account, f.envelope_account) == ("111111111111", "111111111111")
    # no F.Region: the resource's
    assert f.region == "us-east-1"
    # trap: the envelope belongs to another finding (CIS 1.3); the facts come from F
    assert f.id.endswith("EC2.7/finding/0003b335-cf3f-4f93-a025-6b1a7baced06")
    assert "cis-aws-foundations-benchmark" in raw["resources"][0]
    assert f.product == "Security Hub"
    assert f.parameters["control_id"] == "EC2.7"
    assert f.title == "EC2.7 EBS default encryption should be enabled"
    # trap: FAILED, yet INFORMATIONAL
    assert (f.compliance_status, f.severity) == ("FAILED", Severity.INFORMATIONAL)
    assert (f.workflow_status, f.record_state) == ("NEW", "ACTIVE")
    (account,) = f.resources
    # trap: the resource is the account, its id not an ARN
    assert (account.kind, account.type, account.id) == (
        ResourceKind.OTHER,
        "AwsAccount",
        "AWS::::Account:111111111111",
    )
    assert f.created_at == "2021-02-17T14:56:09.063Z"


def test_ocsf_exposure_lambda() -> None:
    f = one("securityhub-v2-exposure-lambda.json")
    assert f.source is Source.SECURITYHUB
    assert (f.account, f.region) == ("123456789012", "us-east-1")
    assert f.id == (
        "arn:aws:securityhub:us-east-1:123456789012:risk:"
        "1234f781c7ae7507f01e2fb460f15ca8fe7f9c95e257698a092cb74a4ea84a42"
    )
    assert f.type == "Exposure/Potential Impact/Resource Hijacking"
    assert f.severity is Severity.CRITICAL
    assert f.workflow_status == "NEW"
    assert f.compliance_status is None
    # trap: the related events' products and controls are not this finding's
    assert f.product_arn == "arn:aws:securityhub:us-east-1::productv2/aws/securityhub-risk"
    assert "control_id" not in f.parameters
    assert f.title.startswith("Publicly invocable Lambda function executed outside of VPC")
    # trap: "finding.info.modified_time_dt" is not modified_time_dt
    assert f.updated_at is None
    assert f.created_at == "2024-11-15T21:39:26.337224100Z"
    # A Lambda function, named by its ARN (no "function:" segment in this one)
    (function,) = f.resources
    assert (function.kind, function.type, function.id, function.name) == (
        ResourceKind.LAMBDA_FUNCTION,
        "AwsLambdaFunction",
        "arn:aws:lambda:us-east-1:123456789012:application-function",
        None,
    )


def test_ocsf_inspector_lambda_cve() -> None:
    f = one("securityhub-v2-inspector-lambda-cve.json")
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    assert f.id == (
        "arn:aws:inspector2:us-east-2:123456789012:finding/2123456789abcdefabcdef12345679"
    )
    assert (f.product, f.product_arn) == (
        "Inspector",
        "arn:aws:securityhub:us-east-2::productv2/aws/inspector",
    )
    assert f.type == "Software and Configuration Checks/Vulnerabilities/CVE"
    assert f.title == "CVE-2025-47906 - go/stdlib"
    assert (f.severity, f.workflow_status, f.compliance_status) == (
        Severity.MEDIUM,
        "NEW",
        None,
    )
    assert f.updated_at == "2025-09-23T21:19:28.239Z"
    # trap: uid is the function name, uid_alt the ARN
    (function,) = f.resources
    assert (function.kind, function.id, function.name, function.region) == (
        ResourceKind.LAMBDA_FUNCTION,
        "arn:aws:lambda:us-east-2:123456789012:function:cloudtrail-test-ab-LambdaFunction-jVHJUsdbdkj6",
        "cloudtrail-test-ab-LambdaFunction-jVHJUsdbdkj6",
        "us-east-2",
    )


def test_ocsf_iam1_pass() -> None:
    f = one("securityhub-v2-securityhub-control-iam1-pass.json")
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    assert f.id.endswith("security-control/IAM.1/finding/11233211-1234-efab-abcd-701234567892")
    assert f.product == "Security Hub"
    assert f.type == "Software and Configuration Checks/Industry and Regulatory Standards"
    assert f.title == 'IAM policies should not allow full "*" administrative privileges'
    assert (f.severity, f.workflow_status) == (Severity.INFORMATIONAL, "RESOLVED")
    assert (f.parameters["control_id"], f.compliance_status) == ("IAM.1", "PASSED")
    assert f.updated_at == "2025-09-19T09:19:18.940Z"
    # trap: uid is the policy id; the ARN (uid_alt) is what iam-policy-guard acts on
    (policy,) = f.resources
    assert (policy.kind, policy.id, policy.name) == (
        ResourceKind.IAM_POLICY,
        "arn:aws:iam::123456789012:policy/service-role/Amazon_EventBridge_Invoke_Sqs_1412345678",
        "AJKSDBVKJJKVBJDSVBWKURGBFWK",
    )


def test_ocsf_redshift3_pass_on_the_account() -> None:
    f = one("securityhub-v2-securityhub-control-redshift3-account-pass.json")
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    assert f.id.endswith("security-control/Redshift.3/finding/c3abcd12-3456-7890-abdf-c2123456abcd")
    assert (f.severity, f.workflow_status) == (Severity.INFORMATIONAL, "RESOLVED")
    assert (f.parameters["control_id"], f.compliance_status) == ("Redshift.3", "PASSED")
    # trap: the resource is the account itself, no Redshift cluster
    (account,) = f.resources
    assert (account.kind, account.type, account.id) == (
        ResourceKind.OTHER,
        "AWS::::Account",
        "123456789012",
    )
    assert f.created_at == "2024-09-11T23:08:40.044Z"
    assert f.updated_at == "2025-09-26T11:34:42.714Z"


def test_ocsf_sqs1_fail() -> None:
    f = one("securityhub-v2-securityhub-control-sqs1-fail.json")
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    # trap: a 13-character last group; the id is kept as it is
    assert f.id.endswith("SQS.1/finding/7dabcdef-1234-8912-5678-5012345678904")
    assert f.title == "Amazon SQS queues should be encrypted at rest"
    assert (f.severity, f.workflow_status) == (Severity.MEDIUM, "NEW")
    assert (f.parameters["control_id"], f.compliance_status) == ("SQS.1", "FAILED")
    assert f.updated_at == "2025-09-19T09:17:27.903Z"
    # trap: uid is the queue URL, uid_alt the ARN
    (queue,) = f.resources
    assert (queue.kind, queue.id, queue.name) == (
        ResourceKind.SQS_QUEUE,
        "arn:aws:sqs:us-east-2:123456789012:securityhubfinding",
        "https://sqs.us-east-2.amazonaws.com/123456789012/securityhubfinding",
    )


def test_ocsf_ssm1_fail() -> None:
    f = one("securityhub-v2-securityhub-control-ssm1-ec2-fail.json")
    assert (f.account, f.region) == ("123456789012", "us-east-2")
    assert f.id.endswith("SSM.1/finding/cabc123e-1235-ef12-abcd-6123456abcd1")
    assert f.title == "EC2 instances should be managed by AWS Systems Manager"
    assert (f.severity, f.workflow_status) == (Severity.MEDIUM, "NEW")
    assert (f.parameters["control_id"], f.compliance_status) == ("SSM.1", "FAILED")
    assert f.updated_at == "2025-09-26T08:27:00.981Z"
    # trap: uid is the instance id, uid_alt the ARN
    (instance,) = f.resources
    assert (instance.kind, instance.id, instance.name, instance.region) == (
        ResourceKind.EC2_INSTANCE,
        "arn:aws:ec2:us-east-2:123456789012:instance/i-abcd1235cdef1234",
        "i-abcd1235cdef1234",
        "us-east-2",
    )
    assert len(instance.details["tags"]) == 10
    assert instance.details["tags"]["eks:cluster-name"] == "demo_prod"


def test_guardduty_recon_port_probe() -> None:
    f = one("guardduty-ec2-recon-portprobeunprotectedport.json")
    assert f.source is Source.GUARDDUTY
    # trap: an account starting with 0 stays a 12-character string
    assert (f.account, f.region) == ("012345678910", "us-east-1")
    assert f.id == "38af75470eced5f1c6e4ee9895961baa"
    assert f.product_arn == (
        "arn:aws:guardduty:us-east-1:012345678910:detector/aaaf7420746be13be119afd94e417684/"
        "finding/38af75470eced5f1c6e4ee9895961baa"
    )
    assert f.type == "Recon:EC2/PortProbeUnprotectedPort"
    assert f.severity is Severity.LOW
    assert f.title == "Unprotected port in EC2 Instance i-0d6c314027f74dc82 is being probed."
    # trap: "+0000" without a colon, kept as given
    assert f.created_at == f.updated_at == "2017-11-01T21:31:05.542+0000"
    (instance,) = f.resources
    assert (instance.kind, instance.id, instance.name) == (
        ResourceKind.EC2_INSTANCE,
        "arn:aws:ec2:us-east-1:012345678910:instance/i-0d6c314027f74dc82",
        "i-0d6c314027f74dc82",
    )
    (interface,) = instance.details["network_interfaces"]
    assert (interface["vpc_id"], interface["subnet_id"], interface["security_groups"]) == (
        "vpc-c9c4f0ae",
        "subnet-1637825f",
        ["sg-67e3bb1d"],
    )
    assert instance.details["iam_instance_profile_arn"] == (
        "arn:aws:iam::012345678910:instance-profile/nodes.k8s.travellogic.info"
    )
    assert len(instance.details["tags"]) == 4


def test_guardduty_s3_pentest_sample() -> None:
    f = one("guardduty-s3-pentest-parrotlinux.json")
    assert (f.account, f.region) == ("123456789012", "us-east-1")
    assert f.id == "2cbf285e52a6e74ff96f4cb3cf93296d"
    assert f.type == "PenTest:S3/ParrotLinux"
    assert f.severity is Severity.MEDIUM
    # trap: the bucket of s3BucketDetails, not the one the action names
    bucket = next(r for r in f.resources if r.kind is ResourceKind.S3_BUCKET)
    assert (bucket.bucket, bucket.id) == ("bucketName", "arn:aws:s3:::bucketName")
    assert all(r.bucket != "GeneratedFindingS3Bucket" for r in f.resources)
    # the credentials involved, and (trap) not the instanceDetails of an S3Bucket finding
    assert [(r.kind, r.id) for r in f.resources[1:]] == [
        (ResourceKind.IAM_ACCESS_KEY, "GeneratedFindingAccessKeyId"),
        (ResourceKind.IAM_USER, "arn:aws:iam::123456789012:user/GeneratedFindingUserName"),
    ]
    assert f.created_at == "2022-01-13T00:00:47.437Z"


def test_guardduty_canary_unknown_threat_purpose() -> None:
    f = one("guardduty-ec2-canary-integtest.json")
    assert (f.account, f.region) == ("123456789012", "us-east-1")
    assert f.id == "16afba5c5c43e07c9e3e5e2e544e95df"
    # trap: an undocumented threat purpose reads
    assert f.type == f.title == "Canary:EC2/Stateless.IntegTest"
    assert f.severity is Severity.MEDIUM
    assert f.created_at == "2017-10-31T23:16:23.824Z"
    (instance,) = f.resources
    assert (instance.name, instance.details["tags"]) == (
        "i-05746eb48123455e0",
        {"Name": "ssh-22-open"},
    )
