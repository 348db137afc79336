"""Bad input: each case gets exactly one `InvalidEvent`, with the exact message and field.

Each case starts from a real sample (corpus or events/), changes one thing, and checks the
error and that the event given to `normalise` is left as it was.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from conftest import CONFORMANCE, EVENTS, load_json
from remedy.errors import InvalidEvent
from remedy.normalise import normalise

DELETE = object()

MACIE = EVENTS / "macie-classification-multiple.json"
MACIE_POLICY = CONFORMANCE / "macie-policy-awscli-s3bucketpublicreadaccess.json"
HUB = CONFORMANCE / "securityhub-config-s3-bucket-level-public-access.json"
HUB_BATCH = EVENTS / "securityhub-multi-account-batch.json"
HUB_MACIE = EVENTS / "securityhub-macie-personal-copy.json"
HUB_ACTION = CONFORMANCE / "securityhub-guardduty-iamuser-consolelogin-customaction.json"
HUB_NO_REGION = CONFORMANCE / "securityhub-accessanalyzer-s3-cross-account.json"
INGRESS = CONFORMANCE / "cloudtrail-ec2-authorizesecuritygroupingress-open-world.json"
BUCKET_POLICY = CONFORMANCE / "cloudtrail-s3-putbucketpolicy-public.json"
BUCKET_ACL = CONFORMANCE / "cloudtrail-s3-putbucketacl.json"
PUT_ROLE_POLICY = EVENTS / "cloudtrail-iam-putrolepolicy.json"
SCAN = EVENTS / "guardduty-malware-scan-threats-found.json"
GUARDDUTY = EVENTS / "guardduty-finding-s3-maliciousfile.json"
OCSF = EVENTS / "securityhub-v2-control-s3.8-block-public-access.json"
OCSF_MACIE = EVENTS / "securityhub-v2-macie-personal-copy.json"

F0 = ("detail", "findings", 0)
S3_OBJECT = ("detail", "s3ObjectDetails")
SCAN_RESULT = ("detail", "scanResultDetails")
GD_OBJECT = ("detail", "resource", "s3BucketDetails", 0, "s3ObjectDetails", 0)
PARAMS = ("detail", "requestParameters")
PERMISSION = (*PARAMS, "ipPermissions", "items", 0)
GUARDED = (
    "ec2:AuthorizeSecurityGroupIngress, ec2:AttachInternetGateway, s3:PutBucketPolicy, "
    "s3:PutBucketAcl, s3:DeletePublicAccessBlock, iam:CreatePolicy, iam:CreatePolicyVersion, "
    "iam:PutUserPolicy, iam:PutRolePolicy, iam:PutGroupPolicy"
)
LABELS = "one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL"

# (id, sample, path to change, new value or DELETE, message, field)
CASES: list[tuple[str, Path, tuple[Any, ...], Any, str, str]] = [
    # --- envelope ---
    (
        "source missing",
        MACIE,
        ("source",),
        DELETE,
        "missing, expected a non-empty string",
        "source",
    ),
    ("source number", MACIE, ("source",), 5, "expected a non-empty string, got a number", "source"),
    (
        "source empty",
        MACIE,
        ("source",),
        "",
        "expected a non-empty string, got an empty string",
        "source",
    ),
    (
        "detail-type null",
        MACIE,
        ("detail-type",),
        None,
        "missing, expected a non-empty string",
        "detail-type",
    ),
    (
        "account short",
        MACIE,
        ("account",),
        "12345",
        "expected a 12-digit AWS account id, got '12345'",
        "account",
    ),
    (
        "account number",
        MACIE,
        ("account",),
        222222222222,
        "expected a 12-digit AWS account id, got a number",
        "account",
    ),
    (
        "account other digits",
        MACIE,
        ("account",),
        "\u0661" * 12,  # ARABIC-INDIC DIGIT ONE: str.isdigit() alone would take it
        "expected a 12-digit AWS account id, got '" + "\u0661" * 12 + "'",
        "account",
    ),
    (
        "account missing",
        MACIE,
        ("account",),
        DELETE,
        "missing, expected a 12-digit AWS account id",
        "account",
    ),
    (
        "region bad",
        MACIE,
        ("region",),
        "Mars",
        "expected an AWS region such as us-east-1, got 'Mars'",
        "region",
    ),
    ("detail array", MACIE, ("detail",), [], "expected an object, got an array", "detail"),
    ("detail missing", MACIE, ("detail",), DELETE, "missing, expected an object", "detail"),
    (
        "unknown source",
        MACIE,
        ("source",),
        "aws.lambda",
        "unknown source 'aws.lambda'; "
        "supported: aws.ec2, aws.guardduty, aws.iam, aws.macie, aws.s3, aws.securityhub",
        "source",
    ),
    (
        "unknown macie detail-type",
        MACIE,
        ("detail-type",),
        "Macie Alert",
        "unknown detail-type 'Macie Alert' for source aws.macie; supported: Macie Finding",
        "detail-type",
    ),
    (
        "unknown securityhub detail-type",
        HUB,
        ("detail-type",),
        "Security Hub Insight Results",
        "unknown detail-type 'Security Hub Insight Results' for source aws.securityhub; "
        "supported: Findings Imported V2, Security Hub Findings - Imported, "
        "Security Hub Findings - Custom Action",
        "detail-type",
    ),
    (
        "unknown guardduty detail-type",
        SCAN,
        ("detail-type",),
        "GuardDuty Malware Protection Post Scan Action Failed",
        "unknown detail-type 'GuardDuty Malware Protection Post Scan Action Failed' for source "
        "aws.guardduty; supported: GuardDuty Malware Protection Object Scan Result, "
        "GuardDuty Finding",
        "detail-type",
    ),
    # --- GuardDuty Malware Protection scan results ---
    (
        "scan status missing",
        SCAN,
        ("detail", "scanStatus"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.scanStatus",
    ),
    (
        "scan of something other than an object",
        SCAN,
        ("detail", "resourceType"),
        "EBS_VOLUME",
        "expected S3_OBJECT, got 'EBS_VOLUME'",
        "detail.resourceType",
    ),
    (
        "scan object details missing",
        SCAN,
        S3_OBJECT,
        DELETE,
        "missing, expected an object",
        "detail.s3ObjectDetails",
    ),
    (
        "scan bucket empty",
        SCAN,
        (*S3_OBJECT, "bucketName"),
        "",
        "expected a non-empty string, got an empty string",
        "detail.s3ObjectDetails.bucketName",
    ),
    (
        "scan object key number",
        SCAN,
        (*S3_OBJECT, "objectKey"),
        7,
        "expected a non-empty string, got a number",
        "detail.s3ObjectDetails.objectKey",
    ),
    (
        "scan version number",
        SCAN,
        (*S3_OBJECT, "versionId"),
        3,
        "expected a string, got a number",
        "detail.s3ObjectDetails.versionId",
    ),
    (
        "scan result unknown",
        SCAN,
        (*SCAN_RESULT, "scanResultStatus"),
        "INFECTED",
        "expected one of THREATS_FOUND, NO_THREATS_FOUND, UNSUPPORTED, ACCESS_DENIED, FAILED, "
        "got 'INFECTED'",
        "detail.scanResultDetails.scanResultStatus",
    ),
    (
        "scan threat without a name",
        SCAN,
        (*SCAN_RESULT, "threats", 0, "name"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.scanResultDetails.threats[0].name",
    ),
    (
        "scan threats not an array",
        SCAN,
        (*SCAN_RESULT, "threats"),
        "EICAR",
        "expected an array, got a string",
        "detail.scanResultDetails.threats",
    ),
    # --- GuardDuty findings ---
    (
        "guardduty account bad",
        GUARDDUTY,
        ("detail", "accountId"),
        "1111",
        "expected a 12-digit AWS account id, got '1111'",
        "detail.accountId",
    ),
    (
        "guardduty severity string",
        GUARDDUTY,
        ("detail", "severity"),
        "HIGH",
        "expected a number from 0 to 10, got a string",
        "detail.severity",
    ),
    (
        "guardduty severity out of range",
        GUARDDUTY,
        ("detail", "severity"),
        11,
        "expected a number from 0 to 10, got 11",
        "detail.severity",
    ),
    (
        "guardduty object key missing",
        GUARDDUTY,
        (*GD_OBJECT, "key"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.resource.s3BucketDetails[0].s3ObjectDetails[0].key",
    ),
    # --- the new Security Hub (OCSF) ---
    (
        "ocsf findings empty",
        OCSF,
        ("detail", "findings"),
        [],
        "expected at least one finding, got an empty array",
        "detail.findings",
    ),
    (
        "ocsf account missing",
        OCSF,
        (*F0, "cloud", "account", "uid"),
        DELETE,
        "missing, expected a 12-digit AWS account id",
        "detail.findings[0].cloud.account.uid",
    ),
    (
        "ocsf region bad",
        OCSF,
        (*F0, "cloud", "region"),
        "global",
        "expected an AWS region such as us-east-1, got 'global'",
        "detail.findings[0].cloud.region",
    ),
    (
        "ocsf product uid missing",
        OCSF,
        (*F0, "metadata", "product", "uid"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.findings[0].metadata.product.uid",
    ),
    (
        "ocsf status id unknown",
        OCSF,
        (*F0, "status_id"),
        42,
        "expected an OCSF status_id (0-5 or 99), got 42",
        "detail.findings[0].status_id",
    ),
    (
        "ocsf compliance status string",
        OCSF,
        (*F0, "compliance", "status_id"),
        "Fail",
        "expected an integer, got a string",
        "detail.findings[0].compliance.status_id",
    ),
    (
        "ocsf type number",
        OCSF,
        (*F0, "finding_info", "types", 0),
        3,
        "expected a non-empty string, got a number",
        "detail.findings[0].finding_info.types[0]",
    ),
    (
        "ocsf resource type missing",
        OCSF,
        (*F0, "resources", 0, "type"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.findings[0].resources[0].type",
    ),
    (
        "ocsf object uid without key",
        OCSF_MACIE,
        (*F0, "resources", 1, "uid"),
        "arn:aws:s3:::example-corp-hr-uploads",
        "expected an S3 object ARN such as arn:aws:s3:::bucket/key, got "
        "'arn:aws:s3:::example-corp-hr-uploads'",
        "detail.findings[0].resources[1].uid",
    ),
    (
        "ocsf owner account bad",
        OCSF,
        (*F0, "resources", 0, "owner", "account", "uid"),
        "me",
        "expected a 12-digit AWS account id, got 'me'",
        "detail.findings[0].resources[0].owner.account.uid",
    ),
    # --- Macie ---
    (
        "macie account missing",
        MACIE,
        ("detail", "accountId"),
        DELETE,
        "missing, expected a 12-digit AWS account id",
        "detail.accountId",
    ),
    (
        "macie account letters",
        MACIE,
        ("detail", "accountId"),
        "22222222222x",
        "expected a 12-digit AWS account id, got '22222222222x'",
        "detail.accountId",
    ),
    (
        "macie region empty",
        MACIE,
        ("detail", "region"),
        "",
        "expected an AWS region such as us-east-1, got ''",
        "detail.region",
    ),
    (
        "macie type number",
        MACIE,
        ("detail", "type"),
        3,
        "expected a non-empty string, got a number",
        "detail.type",
    ),
    (
        "macie id missing",
        MACIE,
        ("detail", "id"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.id",
    ),
    (
        "macie resources missing",
        MACIE,
        ("detail", "resourcesAffected"),
        DELETE,
        "missing, expected an object",
        "detail.resourcesAffected",
    ),
    (
        "macie bucket name missing",
        MACIE,
        ("detail", "resourcesAffected", "s3Bucket", "name"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.resourcesAffected.s3Bucket.name",
    ),
    (
        "macie object key empty",
        MACIE,
        ("detail", "resourcesAffected", "s3Object", "key"),
        "",
        "expected a non-empty string, got an empty string",
        "detail.resourcesAffected.s3Object.key",
    ),
    (
        "macie object a list",
        MACIE,
        ("detail", "resourcesAffected", "s3Object"),
        [],
        "expected an object, got an array",
        "detail.resourcesAffected.s3Object",
    ),
    (
        "macie size string",
        MACIE,
        ("detail", "resourcesAffected", "s3Object", "size"),
        "4096",
        "expected an integer, got a string",
        "detail.resourcesAffected.s3Object.size",
    ),
    (
        "macie version number",
        MACIE,
        ("detail", "resourcesAffected", "s3Object", "versionId"),
        7,
        "expected a string, got a number",
        "detail.resourcesAffected.s3Object.versionId",
    ),
    (
        "macie severity word",
        MACIE,
        ("detail", "severity", "description"),
        "Severe",
        "expected one of Low, Medium, High, got 'Severe'",
        "detail.severity.description",
    ),
    (
        "macie severity missing",
        MACIE,
        ("detail", "severity"),
        DELETE,
        "missing, expected an object",
        "detail.severity",
    ),
    (
        "macie policy score only",
        MACIE_POLICY,
        ("detail", "severity", "description"),
        DELETE,
        "missing, expected one of Low, Medium, High",
        "detail.severity.description",
    ),
    (
        "macie detection count string",
        MACIE,
        ("detail", "classificationDetails", "result", "sensitiveData", 1, "detections", 0, "count"),
        "2",
        "expected an integer, got a string",
        "detail.classificationDetails.result.sensitiveData[1].detections[0].count",
    ),
    (
        "macie sensitive data entry",
        MACIE,
        ("detail", "classificationDetails", "result", "sensitiveData", 0),
        "x",
        "expected an object, got a string",
        "detail.classificationDetails.result.sensitiveData[0]",
    ),
    (
        "macie custom identifier name",
        MACIE,
        (
            "detail",
            "classificationDetails",
            "result",
            "customDataIdentifiers",
            "detections",
            0,
            "name",
        ),
        DELETE,
        "missing, expected a non-empty string",
        "detail.classificationDetails.result.customDataIdentifiers.detections[0].name",
    ),
    (
        "macie sample string",
        MACIE,
        ("detail", "sample"),
        "false",
        "expected a boolean, got a string",
        "detail.sample",
    ),
    # --- Security Hub ---
    (
        "findings missing",
        HUB,
        ("detail", "findings"),
        DELETE,
        "missing, expected an array",
        "detail.findings",
    ),
    (
        "findings object",
        HUB,
        ("detail", "findings"),
        {},
        "expected an array, got an object",
        "detail.findings",
    ),
    (
        "findings empty",
        HUB,
        ("detail", "findings"),
        [],
        "expected at least one finding, got an empty array",
        "detail.findings",
    ),
    ("finding string", HUB, F0, "x", "expected an object, got a string", "detail.findings[0]"),
    (
        "second finding account",
        HUB_BATCH,
        ("detail", "findings", 1, "AwsAccountId"),
        "arn:aws:iam::222222222222:root",
        "expected a 12-digit AWS account id, got 'arn:aws:iam::222222222222:root'",
        "detail.findings[1].AwsAccountId",
    ),
    (
        "finding id missing",
        HUB,
        (*F0, "Id"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.findings[0].Id",
    ),
    (
        "product arn null",
        HUB,
        (*F0, "ProductArn"),
        None,
        "missing, expected a non-empty string",
        "detail.findings[0].ProductArn",
    ),
    (
        "label unknown",
        HUB,
        (*F0, "FindingProviderFields", "Severity", "Label"),
        "SEVERE",
        f"expected {LABELS}, got 'SEVERE'",
        "detail.findings[0].FindingProviderFields.Severity.Label",
    ),
    (
        "label lowercase",
        HUB,
        (*F0, "FindingProviderFields", "Severity", "Label"),
        "medium",
        f"expected {LABELS}, got 'medium'",
        "detail.findings[0].FindingProviderFields.Severity.Label",
    ),
    (
        "normalized words",
        HUB_BATCH,
        ("detail", "findings", 2, "Severity", "Normalized"),
        "fifty-five",
        "expected a number from 0 to 100, got 'fifty-five'",
        "detail.findings[2].Severity.Normalized",
    ),
    (
        "normalized too big",
        HUB_BATCH,
        ("detail", "findings", 2, "Severity", "Normalized"),
        150,
        "expected a number from 0 to 100, got 150",
        "detail.findings[2].Severity.Normalized",
    ),
    (
        "normalized nan text",
        HUB_BATCH,
        ("detail", "findings", 2, "Severity", "Normalized"),
        "NaN",
        "expected a number from 0 to 100, got 'NaN'",
        "detail.findings[2].Severity.Normalized",
    ),
    (
        "normalized boolean",
        HUB_BATCH,
        ("detail", "findings", 2, "Severity", "Normalized"),
        True,
        "expected a number from 0 to 100, got a boolean",
        "detail.findings[2].Severity.Normalized",
    ),
    (
        "no severity at all",
        HUB_NO_REGION,
        (*F0, "Severity"),
        DELETE,
        "missing, expected Severity.Label, Severity.Normalized or "
        'ProductFields["aws/securityhub/SeverityLabel"]',
        "detail.findings[0].Severity",
    ),
    (
        "types empty",
        HUB,
        (*F0, "FindingProviderFields", "Types"),
        [],
        "expected at least one type, got an empty array",
        "detail.findings[0].FindingProviderFields.Types",
    ),
    (
        "types entry",
        HUB,
        (*F0, "FindingProviderFields", "Types", 0),
        None,
        "expected a non-empty string, got null",
        "detail.findings[0].FindingProviderFields.Types[0]",
    ),
    (
        "types string",
        HUB,
        (*F0, "FindingProviderFields", "Types"),
        "Software",
        "expected an array, got a string",
        "detail.findings[0].FindingProviderFields.Types",
    ),
    (
        "no region anywhere",
        HUB_NO_REGION,
        (*F0, "ProductArn"),
        "arn:aws:securityhub:::product/aws/access-analyzer",
        "missing, expected a region in Region, Resources[0].Region or ProductArn",
        "detail.findings[0].Region",
    ),
    (
        "finding region bad",
        HUB,
        (*F0, "Region"),
        "europe",
        "expected an AWS region such as us-east-1, got 'europe'",
        "detail.findings[0].Region",
    ),
    (
        "resources object",
        HUB,
        (*F0, "Resources"),
        {},
        "expected an array, got an object",
        "detail.findings[0].Resources",
    ),
    (
        "resource type missing",
        HUB,
        (*F0, "Resources", 0, "Type"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.findings[0].Resources[0].Type",
    ),
    (
        "object arn without key",
        HUB_MACIE,
        (*F0, "Resources", 1, "Id"),
        "arn:aws:s3:::example-corp-hr-uploads",
        "expected an S3 object ARN such as arn:aws:s3:::bucket/key, "
        "got 'arn:aws:s3:::example-corp-hr-uploads'",
        "detail.findings[0].Resources[1].Id",
    ),
    (
        "bucket id not an arn",
        HUB,
        (*F0, "Resources", 0, "Id"),
        "config-integration-demo-bucket",
        "expected an S3 bucket ARN such as arn:aws:s3:::bucket, "
        "got 'config-integration-demo-bucket'",
        "detail.findings[0].Resources[0].Id",
    ),
    (
        "object version number",
        HUB_MACIE,
        (*F0, "Resources", 1, "Details", "AwsS3Object", "VersionId"),
        1,
        "expected a string, got a number",
        "detail.findings[0].Resources[1].Details.AwsS3Object.VersionId",
    ),
    (
        "custom action name missing",
        HUB_ACTION,
        ("detail", "actionName"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.actionName",
    ),
    (
        "workflow status number",
        HUB,
        (*F0, "Workflow", "Status"),
        1,
        "expected a string, got a number",
        "detail.findings[0].Workflow.Status",
    ),
    # --- CloudTrail ---
    (
        "unguarded call",
        INGRESS,
        ("detail", "eventName"),
        "RunInstances",
        f"'RunInstances' is not a guarded call of ec2.amazonaws.com; guarded: {GUARDED}",
        "detail.eventName",
    ),
    (
        "unguarded event source",
        INGRESS,
        ("detail", "eventSource"),
        "lambda.amazonaws.com",
        "'lambda.amazonaws.com' is not a guarded event source; guarded: "
        "ec2.amazonaws.com, iam.amazonaws.com, s3.amazonaws.com",
        "detail.eventSource",
    ),
    (
        "source does not match",
        BUCKET_POLICY,
        ("source",),
        "aws.ec2",
        "source 'aws.ec2' does not match eventSource s3.amazonaws.com",
        "source",
    ),
    (
        "event name missing",
        INGRESS,
        ("detail", "eventName"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.eventName",
    ),
    (
        "event id missing",
        INGRESS,
        ("detail", "eventID"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.eventID",
    ),
    (
        "aws region missing",
        INGRESS,
        ("detail", "awsRegion"),
        DELETE,
        "missing, expected an AWS region such as us-east-1",
        "detail.awsRegion",
    ),
    (
        "recipient account bad",
        BUCKET_ACL,
        ("detail", "recipientAccountId"),
        "1111-2222-3333",
        "expected a 12-digit AWS account id, got '1111-2222-3333'",
        "detail.recipientAccountId",
    ),
    (
        "identity string",
        INGRESS,
        ("detail", "userIdentity"),
        "root",
        "expected an object, got a string",
        "detail.userIdentity",
    ),
    (
        "parameters missing",
        INGRESS,
        PARAMS,
        DELETE,
        "missing, expected an object",
        "detail.requestParameters",
    ),
    (
        "parameters list",
        INGRESS,
        PARAMS,
        [],
        "expected an object, got an array",
        "detail.requestParameters",
    ),
    (
        "no group",
        INGRESS,
        (*PARAMS, "groupId"),
        DELETE,
        "missing, expected a security group id (groupId or groupName)",
        "detail.requestParameters.groupId",
    ),
    (
        "ip ranges a list",
        INGRESS,
        (*PERMISSION, "ipRanges"),
        [],
        "expected an object, got an array",
        "detail.requestParameters.ipPermissions.items[0].ipRanges",
    ),
    (
        "cidr missing",
        INGRESS,
        (*PERMISSION, "ipRanges", "items", 0, "cidrIp"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.requestParameters.ipPermissions.items[0].ipRanges.items[0].cidrIp",
    ),
    (
        "port string",
        INGRESS,
        (*PERMISSION, "fromPort"),
        "55",
        "expected an integer, got a string",
        "detail.requestParameters.ipPermissions.items[0].fromPort",
    ),
    (
        "bucket policy not json",
        BUCKET_POLICY,
        (*PARAMS, "bucketPolicy"),
        "{not json",
        "expected a JSON policy document, got text that is not JSON",
        "detail.requestParameters.bucketPolicy",
    ),
    (
        "bucket policy json array",
        BUCKET_POLICY,
        (*PARAMS, "bucketPolicy"),
        "[1, 2]",
        "expected a JSON policy document (an object), got an array",
        "detail.requestParameters.bucketPolicy",
    ),
    (
        "bucket policy missing",
        BUCKET_POLICY,
        (*PARAMS, "bucketPolicy"),
        DELETE,
        "missing, expected a policy document",
        "detail.requestParameters.bucketPolicy",
    ),
    (
        "bucket policy number",
        BUCKET_POLICY,
        (*PARAMS, "bucketPolicy"),
        3,
        "expected a policy document (an object or JSON text), got a number",
        "detail.requestParameters.bucketPolicy",
    ),
    (
        "grant string",
        BUCKET_ACL,
        (*PARAMS, "AccessControlPolicy", "AccessControlList", "Grant"),
        "everyone",
        "expected an object or an array, got a string",
        "detail.requestParameters.AccessControlPolicy.AccessControlList.Grant",
    ),
    (
        "grantee uri number",
        BUCKET_ACL,
        (*PARAMS, "AccessControlPolicy", "AccessControlList", "Grant", "Grantee", "ID"),
        5,
        "expected a string, got a number",
        "detail.requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.ID",
    ),
    (
        "role name missing",
        PUT_ROLE_POLICY,
        (*PARAMS, "roleName"),
        DELETE,
        "missing, expected a non-empty string",
        "detail.requestParameters.roleName",
    ),
    (
        "policy document not json",
        PUT_ROLE_POLICY,
        (*PARAMS, "policyDocument"),
        "Allow everything",
        "expected a JSON policy document, got text that is not JSON",
        "detail.requestParameters.policyDocument",
    ),
]


def changed(path: Path, where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    event: dict[str, Any] = load_json(path)
    target: Any = event
    for step in where[:-1]:
        target = target[step]
    if value is DELETE:
        del target[where[-1]]
    else:
        target[where[-1]] = value
    return event


@pytest.mark.parametrize(
    ("sample", "where", "value", "message", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_field_is_named(
    sample: Path, where: tuple[Any, ...], value: Any, message: str, field: str
) -> None:
    event = changed(sample, where, value)
    before = copy.deepcopy(event)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert str(caught.value) == f"{field}: {message}"
    assert event == before


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "expected an EventBridge event (a JSON object), got an array"),
        ("event", "expected an EventBridge event (a JSON object), got a string"),
        (None, "expected an EventBridge event (a JSON object), got null"),
        (7, "expected an EventBridge event (a JSON object), got a number"),
        (True, "expected an EventBridge event (a JSON object), got a boolean"),
    ],
)
def test_not_an_object(value: object, message: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        normalise(value)
    assert (caught.value.message, caught.value.field) == (message, "")
    assert str(caught.value) == message


def test_empty_object_names_source_first() -> None:
    with pytest.raises(InvalidEvent) as caught:
        normalise({})
    assert (caught.value.message, caught.value.field) == (
        "missing, expected a non-empty string",
        "source",
    )


def test_long_values_are_cut_in_messages() -> None:
    event = changed(MACIE, ("source",), "aws." + "x" * 200)
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert caught.value.message == (
        "unknown source 'aws.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'; "
        "supported: aws.ec2, aws.guardduty, aws.iam, aws.macie, aws.s3, aws.securityhub"
    )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("BAD", f"expected {LABELS}, got 'BAD'"),
        (40, f"expected {LABELS}, got a number"),
    ],
)
def test_product_fields_label_is_checked_when_it_decides(label: object, message: str) -> None:
    event = changed(HUB_ACTION, (*F0, "Severity"), DELETE)
    event["detail"]["findings"][0]["ProductFields"]["aws/securityhub/SeverityLabel"] = label
    with pytest.raises(InvalidEvent) as caught:
        normalise(event)
    assert (caught.value.message, caught.value.field) == (
        message,
        'detail.findings[0].ProductFields["aws/securityhub/SeverityLabel"]',
    )
