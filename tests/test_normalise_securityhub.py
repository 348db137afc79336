"""The Security Hub normaliser on the project's samples in events/ and on variations."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import CONFORMANCE, event, load_json, one
from remedy.errors import InvalidEvent, PartlyInvalid
from remedy.model import ResourceKind, Severity, Source
from remedy.normalise import normalise
from remedy.normalise.keys import asff_key

CORE = "999999999999"


def first(raw: dict[str, Any]) -> dict[str, Any]:
    finding: dict[str, Any] = raw["detail"]["findings"][0]
    return finding


# --- Macie copies ------------------------------------------------------------------------


def test_macie_copy_shares_the_native_key_and_type() -> None:
    native = one(event("macie-classification-personal.json"))
    copy_ = one(event("securityhub-macie-personal-copy.json"))
    assert copy_.source is Source.SECURITYHUB
    assert copy_.product == "Macie"
    assert copy_.type == native.type == "SensitiveData:S3Object/Personal"
    assert copy_.category == "CLASSIFICATION"
    assert copy_.key == native.key
    assert (copy_.account, copy_.region) == (native.account, native.region)
    assert copy_.envelope_account == CORE
    assert copy_.severity is Severity.MEDIUM
    (obj,) = copy_.s3_objects
    assert obj.bucket == "example-corp-hr-uploads"
    assert obj.key == "people/Zoë Müller/contract #2 ?draft.txt"
    assert obj.version_id == "Wc6hQTx0lW3oH.d1VpVd6uHcVXvO7Pxv"
    assert obj.etag == "5d41402abc4b2a76b9719d911017c592"
    assert [r.kind for r in copy_.resources] == [ResourceKind.S3_BUCKET, ResourceKind.S3_OBJECT]


def test_custom_action_on_a_macie_copy() -> None:
    native = one(event("macie-classification-financial.json"))
    f = one(event("securityhub-customaction-macie-financial.json"))
    assert f.action_name == "Quarantine object"
    assert f.key == native.key
    assert f.type == "SensitiveData:S3Object/Financial"
    assert (f.account, f.envelope_account) == ("222222222222", CORE)
    # no VersionId in the copy, "" in the native event: both no version
    assert f.s3_objects[0].version_id is None


def test_macie_policy_copy_shares_the_native_key() -> None:
    native_event = event("macie-policy-s3bucketpublic.json")
    native = one(native_event)
    raw = event("securityhub-macie-personal-copy.json")
    finding = first(raw)
    finding["Types"] = ["Effects/Data Exposure/Policy:IAMUser-S3BucketPublic"]
    finding["FindingProviderFields"]["Types"] = finding["Types"]
    finding["Resources"] = [
        {
            "Type": "AwsS3Bucket",
            "Id": "arn:aws:s3:::example-corp-public-site-staging",
            "Region": "eu-west-1",
        }
    ]
    f = one(raw)
    assert (f.type, f.category) == ("Policy:IAMUser/S3BucketPublic", "POLICY")
    assert f.key == native.key


@pytest.mark.parametrize(
    ("asff_type", "macie_type", "category"),
    [
        (
            "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal",
            "SensitiveData:S3Object/Personal",
            "CLASSIFICATION",
        ),
        (
            "Sensitive Data Identifications/Passwords/SensitiveData:S3Object-Credentials",
            "SensitiveData:S3Object/Credentials",
            "CLASSIFICATION",
        ),
        (
            "Sensitive Data Identifications/Financial/SensitiveData:S3Object-Financial",
            "SensitiveData:S3Object/Financial",
            "CLASSIFICATION",
        ),
        (
            "Effects/Data Exposure/Policy:IAMUser-S3BucketPublic",
            "Policy:IAMUser/S3BucketPublic",
            "POLICY",
        ),
        (
            "Software and Configuration Checks/AWS Security Best Practices/"
            "Policy:IAMUser-S3BucketEncryptionDisabled",
            "Policy:IAMUser/S3BucketEncryptionDisabled",
            "POLICY",
        ),
    ],
)
def test_macie_types_map_back(asff_type: str, macie_type: str, category: str) -> None:
    raw = event("securityhub-macie-personal-copy.json")
    first(raw)["Types"] = ["Sensitive Data Identifications", asff_type]
    first(raw)["FindingProviderFields"]["Types"] = first(raw)["Types"]
    f = one(raw)
    assert (f.type, f.category) == (macie_type, category)


def test_macie_copy_without_a_macie_type_keys_like_any_asff_finding() -> None:
    raw = event("securityhub-macie-personal-copy.json")
    first(raw)["Types"] = ["Sensitive Data Identifications/PII"]
    first(raw)["FindingProviderFields"]["Types"] = first(raw)["Types"]
    f = one(raw)
    assert f.type == "Sensitive Data Identifications/PII"
    assert f.category is None
    assert f.key == asff_key(first(raw)["ProductArn"], first(raw)["Id"])


def test_updates_of_one_finding_keep_its_key() -> None:
    for name in (
        "securityhub-control-s3.8-block-public-access.json",
        "securityhub-macie-personal-copy.json",
    ):
        raw = event(name)
        before = one(raw)
        finding = first(raw)
        finding["Workflow"] = {"Status": "NOTIFIED"}
        finding["WorkflowState"] = "IN_PROGRESS"
        finding["UpdatedAt"] = "2025-01-01T00:00:00.000Z"
        finding["Severity"] = {"Label": "LOW", "Normalized": 1}
        finding["Note"] = {"Text": "remedy: handled", "UpdatedBy": "remedy"}
        after = one(raw)
        assert after.key == before.key
        assert after.workflow_status == "NOTIFIED"


# --- other products ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "product", "severity", "account", "kind", "resource_id", "control_id"),
    [
        (
            "securityhub-guardduty-ec2-command-and-control.json",
            "GuardDuty",
            Severity.HIGH,
            "222222222222",
            ResourceKind.EC2_INSTANCE,
            "arn:aws:ec2:eu-west-1:222222222222:instance/i-0123456789abcdef1",
            None,
        ),
        (
            "securityhub-inspector-ec2-package-vulnerability.json",
            "Inspector",
            Severity.CRITICAL,
            "333333333333",
            ResourceKind.EC2_INSTANCE,
            "arn:aws:ec2:eu-west-1:333333333333:instance/i-0fedcba9876543210",
            None,
        ),
        (
            "securityhub-accessanalyzer-s3-external-access.json",
            "IAM Access Analyzer",
            Severity.LOW,
            "111111111111",
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::example-corp-shared-reports",
            None,
        ),
        (
            "securityhub-config-s3-bucket-public-read-prohibited.json",
            "Config",
            Severity.MEDIUM,
            "222222222222",
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::example-corp-marketing-assets",
            None,
        ),
        (
            "securityhub-control-ec2.19-open-security-group.json",
            "Security Hub",
            Severity.CRITICAL,
            "111111111111",
            ResourceKind.SECURITY_GROUP,
            "sg-0a1b2c3d4e5f60718",
            "EC2.19",
        ),
        (
            "securityhub-control-s3.2-public-read.json",
            "Security Hub",
            Severity.CRITICAL,
            "222222222222",
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::example-corp-marketing-assets",
            "S3.2",
        ),
        (
            "securityhub-control-s3.8-block-public-access.json",
            "Security Hub",
            Severity.HIGH,
            "111111111111",
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::example-corp-public-site-staging",
            "S3.8",
        ),
        (
            "securityhub-control-iam.1-admin-policy.json",
            "Security Hub",
            Severity.HIGH,
            "333333333333",
            ResourceKind.IAM_POLICY,
            "arn:aws:iam::333333333333:policy/example-break-glass-admin",
            "IAM.1",
        ),
        (
            "securityhub-control-s3.13-lifecycle-low.json",
            "Security Hub",
            Severity.LOW,
            "333333333333",
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::example-corp-data-lake",
            "S3.13",
        ),
    ],
)
def test_product_samples(
    name: str,
    product: str,
    severity: Severity,
    account: str,
    kind: ResourceKind,
    resource_id: str,
    control_id: str | None,
) -> None:
    raw = event(name)
    f = one(raw)
    finding = first(raw)
    assert f.source is Source.SECURITYHUB
    assert (f.product, f.severity, f.account) == (product, severity, account)
    assert f.region == raw["region"]
    # GuardDuty's copies carry GuardDuty's own type (TTPs/Command and Control/Backdoor:EC2-
    # C&CActivity.B is Backdoor:EC2/C&CActivity.B); the other products' is their first.
    own = {"GuardDuty": "Backdoor:EC2/C&CActivity.B"}
    assert f.type == own.get(product, finding["Types"][0])
    assert f.category is None
    assert f.id == finding["Id"]
    assert f.title == finding["Title"]
    assert f.product_arn == finding["ProductArn"]
    assert (f.workflow_status, f.record_state) == ("NEW", "ACTIVE")
    assert f.action_name is None
    (resource,) = f.resources
    assert (resource.kind, resource.id) == (kind, resource_id)
    assert f.parameters.get("control_id") == control_id
    assert f.key == asff_key(finding["ProductArn"], finding["Id"])


def test_control_compliance_and_bucket() -> None:
    f = one(event("securityhub-control-s3.2-public-read.json"))
    assert f.compliance_status == "FAILED"
    assert f.resources[0].bucket == "example-corp-marketing-assets"


def test_multi_account_batch() -> None:
    raw = event("securityhub-multi-account-batch.json")
    findings = normalise(raw)
    assert [(f.account, f.product, f.severity) for f in findings] == [
        ("111111111111", "GuardDuty", Severity.LOW),
        ("222222222222", "Security Hub", Severity.HIGH),
        # Normalized "55" (a string), no Label
        ("333333333333", "Inspector", Severity.MEDIUM),
    ]
    assert {f.envelope_account for f in findings} == {CORE}
    assert len({f.key for f in findings}) == 3
    assert findings[1].parameters == {"control_id": "S3.8"}


@pytest.mark.parametrize(
    ("normalized", "severity"),
    [
        (0, Severity.INFORMATIONAL),
        (1, Severity.LOW),
        (39, Severity.LOW),
        (40, Severity.MEDIUM),
        (69.5, Severity.MEDIUM),
        (70, Severity.HIGH),
        (89, Severity.HIGH),
        (90, Severity.CRITICAL),
        (100, Severity.CRITICAL),
        ("0", Severity.INFORMATIONAL),
        ("90", Severity.CRITICAL),
        ("39.9", Severity.LOW),
    ],
)
def test_normalized_scale(normalized: object, severity: Severity) -> None:
    raw = event("securityhub-multi-account-batch.json")
    raw["detail"]["findings"][2]["Severity"] = {"Normalized": normalized}
    assert normalise(raw)[2].severity is severity


def test_region_fallbacks() -> None:
    raw = event("securityhub-control-ec2.19-open-security-group.json")
    finding = first(raw)
    finding["Region"] = "eu-west-3"
    finding["Resources"][0]["Region"] = "eu-west-2"
    assert one(raw).region == "eu-west-3"
    del finding["Region"]
    assert one(raw).region == "eu-west-2"
    finding["Resources"][0]["Region"] = "global"
    assert one(raw).region == "eu-west-1"
    del finding["Resources"][0]["Region"]
    assert one(raw).region == "eu-west-1"


def test_product_from_product_arn() -> None:
    raw = event("securityhub-guardduty-ec2-command-and-control.json")
    finding = first(raw)
    del finding["ProductName"]
    expected = {
        "guardduty": "GuardDuty",
        "inspector": "Inspector",
        "access-analyzer": "IAM Access Analyzer",
        "config": "Config",
        "securityhub": "Security Hub",
        "macie": "Macie",
    }
    for name, product in expected.items():
        finding["ProductArn"] = f"arn:aws:securityhub:eu-west-1::product/aws/{name}"
        assert one(raw).product == product
    finding["ProductArn"] = "arn:aws:securityhub:eu-west-1::product/aws/firewall-manager"
    finding["ProductFields"]["aws/securityhub/ProductName"] = "Firewall Manager"
    assert one(raw).product == "Firewall Manager"
    del finding["ProductFields"]["aws/securityhub/ProductName"]
    assert one(raw).product == "firewall-manager"
    # Not AWS's own ARN (an account in it, another company, a malformed one): a custom or
    # partner product, whatever name it gives itself.
    finding["ProductName"] = "GuardDuty"
    for arn in (
        "arn:aws:securityhub:eu-west-1:222222222222:product/222222222222/default",
        "arn:aws:securityhub:eu-west-1::product/crowdstrike/crowdstrike-falcon",
        "arn:aws::securityhub:eu-west-1::product/aws/guardduty",
    ):
        finding["ProductArn"] = arn
        assert one(raw).product == "custom: GuardDuty"
    finding["ProductArn"] = "arn:aws:securityhub:eu-west-1::product/crowdstrike/crowdstrike-falcon"
    del finding["ProductName"]
    assert one(raw).product == "custom: crowdstrike/crowdstrike-falcon"


def test_account_never_comes_from_arns_or_envelope() -> None:
    raw = event("securityhub-guardduty-ec2-command-and-control.json")
    finding = first(raw)
    finding["Resources"][0]["Id"] = (
        "arn:aws:ec2:eu-west-1:444444444444:instance/i-0123456789abcdef1"
    )
    raw["account"] = "555555555555"
    f = one(raw)
    assert f.account == "222222222222"
    assert f.envelope_account == "555555555555"


def test_malformed_arns_still_give_ids() -> None:
    raw = event("securityhub-control-ec2.19-open-security-group.json")
    finding = first(raw)
    del finding["Resources"][0]["Details"]
    finding["Resources"][0]["Id"] = (
        "arn:aws::ec2:eu-west-1:111111111111:security-group/sg-0badc0ffee0000001"
    )
    assert one(raw).resources[0].id == "sg-0badc0ffee0000001"
    finding["Resources"][0] = {"Type": "AwsEc2Instance", "Id": "i-0abc"}
    assert one(raw).resources[0].id == "i-0abc"
    finding["Resources"][0] = {"Type": "AwsEc2Instance", "Id": "arn:aws::ec2:::instance/"}
    assert one(raw).resources[0].id == "arn:aws::ec2:::instance/"


def test_object_arn_with_slashes_in_the_key() -> None:
    raw = event("securityhub-macie-personal-copy.json")
    first(raw)["Resources"][1]["Id"] = "arn:aws:s3:::bucket-x/a/b/c d+e%20.txt"
    (obj,) = one(raw).s3_objects
    assert (obj.bucket, obj.key) == ("bucket-x", "a/b/c d+e%20.txt")


def test_other_resources_keep_type_and_id() -> None:
    raw = event("securityhub-guardduty-ec2-command-and-control.json")
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234"
    first(raw)["Resources"].append({"Type": "AwsKmsKey", "Id": key, "Region": "eu-west-1"})
    other = one(raw).resources[1]
    assert (other.kind, other.type, other.id, other.name) == (
        ResourceKind.OTHER,
        "AwsKmsKey",
        key,
        None,
    )


def test_guardduty_access_key_and_its_user() -> None:
    """GuardDuty's ASFF copy names the key in Id and the principal in Details."""
    raw = event("securityhub-guardduty-ec2-command-and-control.json")
    first(raw)["Resources"].append(
        {
            "Type": "AwsIamAccessKey",
            "Id": "AWS::IAM::AccessKey:ASIAEXAMPLE",
            "Region": "eu-west-1",
            "Details": {
                "AwsIamAccessKey": {
                    "PrincipalId": "AIDAEXAMPLE",
                    "PrincipalName": "deployer",
                    "PrincipalType": "IAMUser",
                }
            },
        }
    )
    _, key, user = one(raw).resources
    assert (key.kind, key.id, key.name, key.details) == (
        ResourceKind.IAM_ACCESS_KEY,
        "ASIAEXAMPLE",
        "deployer",
        {"principal_id": "AIDAEXAMPLE", "user_type": "IAMUser"},
    )
    assert (user.kind, user.id, user.name) == (
        ResourceKind.IAM_USER,
        "arn:aws:iam::222222222222:user/deployer",
        "deployer",
    )


def test_workflow_state_when_no_workflow() -> None:
    raw = event("securityhub-config-s3-bucket-public-read-prohibited.json")
    finding = first(raw)
    del finding["Workflow"]
    finding["WorkflowState"] = "DEFERRED"
    assert one(raw).workflow_status == "DEFERRED"


def test_control_id_from_product_fields_for_older_findings() -> None:
    raw = event("securityhub-control-s3.8-block-public-access.json")
    finding = first(raw)
    del finding["Compliance"]["SecurityControlId"]
    finding["ProductFields"]["ControlId"] = "S3.8"
    assert one(raw).parameters == {"control_id": "S3.8"}


def test_custom_action_reads_every_finding_and_keeps_the_action() -> None:
    raw = load_json(
        CONFORMANCE / "securityhub-custom-custodian-lambda-crossaccount-customaction.json"
    )
    second = copy.deepcopy(raw["detail"]["findings"][0])
    second["AwsAccountId"] = "111111111111"
    second["Id"] = "us-east-1/111111111111/second"
    raw["detail"]["findings"].append(second)
    findings = normalise(raw)
    assert [f.account for f in findings] == ["644160558196", "111111111111"]
    assert {f.action_name for f in findings} == {"Lambda remediate"}


def test_imported_events_have_no_action_name() -> None:
    raw = event("securityhub-control-s3.8-block-public-access.json")
    raw["detail"]["actionName"] = "ignored outside custom actions"
    assert one(raw).action_name is None


# --- one bad finding among good ones (issue 9.4) -------------------------------------------


def test_a_bad_finding_beside_good_ones_is_set_apart() -> None:
    raw = event("securityhub-multi-account-batch.json")
    bad = raw["detail"]["findings"][1]
    bad["Resources"] = [{"Type": "AwsS3Object", "Id": "partner-exports/q3.csv"}]
    with pytest.raises(PartlyInvalid) as caught:
        normalise(raw)
    assert [f.account for f in caught.value.findings] == ["111111111111", "333333333333"]
    (unreadable,) = caught.value.bad
    assert (unreadable.index, unreadable.raw) == (1, bad)
    field = "detail.findings[1].Resources[0].Id"
    message = (
        "expected an S3 object ARN such as arn:aws:s3:::bucket/key, got 'partner-exports/q3.csv'"
    )
    assert (unreadable.error.field, unreadable.error.message) == (field, message)
    # Read as a plain invalid event, it names its first bad field, as before.
    assert (caught.value.field, caught.value.message) == (field, message)
    assert caught.value.summary() == f"1 of 3 findings cannot be read: {field}: {message}"


def test_an_event_whose_every_finding_is_bad_is_invalid_as_a_whole() -> None:
    raw = event("securityhub-multi-account-batch.json")
    for finding in raw["detail"]["findings"]:
        finding["AwsAccountId"] = "not-an-account"
    with pytest.raises(InvalidEvent) as caught:
        normalise(raw)
    assert type(caught.value) is InvalidEvent
    assert caught.value.field == "detail.findings[0].AwsAccountId"
