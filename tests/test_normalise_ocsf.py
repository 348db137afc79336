"""The new Security Hub's OCSF findings (``Findings Imported V2``) on the samples in events/."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import event, one
from ocsf_support import CAPTURED, ocsf_copy
from remedy.errors import InvalidEvent, PartlyInvalid
from remedy.model import ResourceKind, Severity, Source
from remedy.normalise import normalise
from remedy.normalise.keys import asff_key
from remedy.policy import decide, load_policy
from remedy.policy.guards import ARCHIVED, NOT_NEW, PASSED

CONTROL = "securityhub-v2-control-s3.8-block-public-access.json"
MACIE_COPY = "securityhub-v2-macie-personal-copy.json"
SEVERITIES = "severity_id 1-6, or a severity of Informational, Low, Medium, High, Critical, Fatal"


def first(raw: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = raw["detail"]["findings"][0]
    return item


def test_control_finding_from_the_administrator_account() -> None:
    f = one(event(CONTROL))
    assert (f.source, f.product) == (Source.SECURITYHUB, "Security Hub")
    assert (f.account, f.region, f.envelope_account) == (
        "222222222222",
        "eu-west-1",
        "999999999999",
    )
    assert f.severity is Severity.HIGH
    assert f.type == "Posture Management/Industry and Regulatory Standards"
    assert f.parameters == {
        "format": "ocsf",
        "control_id": "S3.8",
        # What CreateTicketV2 names the finding by (remedy.tickets.securityhub).
        "metadata_uid": "arn:aws:securityhub:eu-west-1:222222222222:security-control/S3.8/"
        "finding/7f3d2c1b-0a9e-4d8c-b7a6-5e4f3d2c1b0a",
    }
    assert (f.workflow_status, f.record_state, f.compliance_status) == ("NEW", None, "FAILED")
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket, bucket.type) == (
        ResourceKind.S3_BUCKET,
        "example-corp-partner-drop",
        "AWS::S3::Bucket",
    )
    assert f.product_arn == "arn:aws:securityhub:eu-west-1::productv2/aws/securityhub"
    # Keyed as its ASFF copy would be (product/, not productv2/).
    assert f.key == asff_key("arn:aws:securityhub:eu-west-1::product/aws/securityhub", f.id)


def test_the_same_macie_finding_natively_through_cspm_and_through_ocsf_has_one_key() -> None:
    native = one(event("macie-classification-personal.json"))
    asff = one(event("securityhub-macie-personal-copy.json"))
    ocsf = one(event(MACIE_COPY))
    assert native.key == asff.key == ocsf.key
    assert ocsf.type == native.type == "SensitiveData:S3Object/Personal"
    assert (ocsf.product, ocsf.category) == ("Macie", "CLASSIFICATION")
    (obj,) = ocsf.s3_objects
    assert (obj.bucket, obj.key, obj.version_id) == (
        "example-corp-hr-uploads",
        "people/Zoë Müller/contract #2 ?draft.txt",
        "Wc6hQTx0lW3oH.d1VpVd6uHcVXvO7Pxv",
    )


def test_macie_type_in_asff_spelling_is_read_too() -> None:
    raw = event(MACIE_COPY)
    first(raw)["finding_info"]["types"] = [
        "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal"
    ]
    assert one(raw).key == one(event("macie-classification-personal.json")).key


def test_guardduty_malicious_file_through_ocsf_dedupes_with_the_scan_result() -> None:
    raw = event(MACIE_COPY)
    item = first(raw)
    item["metadata"]["product"]["uid"] = "arn:aws:securityhub:eu-west-1::productv2/aws/guardduty"
    item["finding_info"]["types"] = ["Object:S3/MaliciousFile"]
    item["resources"] = [
        {
            "type": "AWS::S3::Object",
            "uid": (
                "arn:aws:s3:::example-corp-customer-uploads/"
                "inbound/2024-10-02/invoice (final).pdf.exe"
            ),
            "version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        }
    ]
    f = one(raw)
    scan = one(event("guardduty-malware-scan-threats-found.json"))
    assert (f.product, f.type, f.key) == ("GuardDuty", "Object:S3/MaliciousFile", scan.key)
    assert decide(f, load_policy()).rule == "quarantine-malware"


def test_a_custom_product_calling_itself_macie_is_not_macie() -> None:
    """Anyone may import an OCSF finding under their own product with any name."""
    raw = event(MACIE_COPY)
    uid = "arn:aws:securityhub:eu-west-1:111111111111:productv2/111111111111/default"
    first(raw)["metadata"]["product"]["uid"] = uid
    f = one(raw)
    assert f.product == "custom: Macie"
    assert f.product_arn == uid
    assert f.key != one(event("macie-classification-personal.json")).key
    assert decide(f, load_policy()).rule == "ignore-custom-products"


@pytest.mark.parametrize(
    ("severity_id", "label", "expected"),
    [
        (1, "Informational", Severity.INFORMATIONAL),
        (2, "Low", Severity.LOW),
        (3, "Medium", Severity.MEDIUM),
        (4, "High", Severity.HIGH),
        (5, "Critical", Severity.CRITICAL),
        (6, "Fatal", Severity.CRITICAL),
        (0, "Fatal", Severity.CRITICAL),
        (99, "low", Severity.LOW),
        (None, "Medium", Severity.MEDIUM),
    ],
)
def test_severity(severity_id: int | None, label: str, expected: Severity) -> None:
    raw = event(CONTROL)
    first(raw)["severity_id"] = severity_id
    first(raw)["severity"] = label
    assert one(raw).severity is expected


@pytest.mark.parametrize(
    ("severity_id", "label", "message", "field"),
    [
        (0, None, f"expected {SEVERITIES}, got 0", "severity_id"),
        (None, None, f"missing, expected {SEVERITIES}", "severity_id"),
        (7, "Severe", f"expected {SEVERITIES}, got 'Severe'", "severity"),
    ],
)
def test_bad_severity(severity_id: int | None, label: str | None, message: str, field: str) -> None:
    raw = event(CONTROL)
    first(raw)["severity_id"] = severity_id
    first(raw)["severity"] = label
    before = copy.deepcopy(raw)
    with pytest.raises(InvalidEvent) as caught:
        normalise(raw)
    assert (caught.value.message, caught.value.field) == (message, f"detail.findings[0].{field}")
    assert raw == before


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"status_id": 2}, NOT_NEW),
        ({"status_id": 4}, NOT_NEW),
        ({"status_id": 3}, NOT_NEW),
        ({"activity_id": 3}, ARCHIVED),
        ({"compliance": {"control": "S3.8", "status_id": 1}}, PASSED),
        ({}, "block-public-buckets-reported"),
    ],
)
def test_only_new_failing_open_findings_are_acted_on(change: dict[str, Any], rule: str) -> None:
    """Our own BatchUpdateFindingsV2 makes another event: it must not be acted on again."""
    raw = event(CONTROL)
    first(raw).update(change)
    assert decide(one(raw), load_policy()).rule == rule


def test_resource_of_another_account_is_never_acted_on() -> None:
    raw = event(CONTROL)
    first(raw)["resources"][0]["owner"]["account"]["uid"] = "333333333333"
    f = one(raw)
    (resource,) = f.resources
    assert (resource.kind, resource.details) == (
        ResourceKind.OTHER,
        {"owner_account": "333333333333"},
    )
    decision = decide(f, load_policy())
    assert (decision.action.value, decision.rule) == ("notify", "block-public-buckets-reported")


@pytest.mark.parametrize(
    ("resource", "kind", "id_"),
    [
        (
            {
                "type": "AWS::EC2::SecurityGroup",
                "uid": "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0123",
                "uid_alt": "sg-0123",
            },
            ResourceKind.SECURITY_GROUP,
            "sg-0123",
        ),
        (
            {
                "type": "AWS::EC2::SecurityGroup",
                "uid": "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0456",
            },
            ResourceKind.SECURITY_GROUP,
            "sg-0456",
        ),
        (
            {"type": "AWS::IAM::Policy", "uid": "arn:aws:iam::222222222222:policy/admin"},
            ResourceKind.IAM_POLICY,
            "arn:aws:iam::222222222222:policy/admin",
        ),
        (
            {
                "type": "AWS::EC2::Instance",
                "uid": "arn:aws:ec2:eu-west-1:222222222222:instance/i-0abc",
            },
            ResourceKind.EC2_INSTANCE,
            "arn:aws:ec2:eu-west-1:222222222222:instance/i-0abc",
        ),
        ({"type": "AWS::Lambda::Function", "uid": "fn"}, ResourceKind.OTHER, "fn"),
        (
            {"type": "AWS::S3::Bucket", "uid": "plain-bucket-name"},
            ResourceKind.S3_BUCKET,
            "arn:aws:s3:::plain-bucket-name",
        ),
    ],
)
def test_resource_kinds(resource: dict[str, Any], kind: ResourceKind, id_: str) -> None:
    raw = event(CONTROL)
    first(raw)["resources"] = [resource]
    (found,) = one(raw).resources
    assert (found.kind, found.id) == (kind, id_)


def test_no_types_falls_back_to_the_class_name() -> None:
    raw = event(CONTROL)
    del first(raw)["finding_info"]["types"]
    assert one(raw).type == "Compliance Finding"
    del first(raw)["class_name"]
    with pytest.raises(InvalidEvent) as caught:
        normalise(raw)
    assert str(caught.value) == (
        "detail.findings[0].finding_info.types: "
        "missing, expected a type in finding_info.types or class_name"
    )


# --- one bad finding among good ones (issue 18.10) -----------------------------------------


def test_a_bad_finding_beside_good_ones_is_set_apart() -> None:
    raw = event(CONTROL)
    good = first(raw)
    bad = copy.deepcopy(good)
    bad["cloud"]["account"]["uid"] = "444444444444"
    bad["resources"] = [{"type": "AWS::S3::Object", "uid": "partner-exports/q3.csv"}]
    other = copy.deepcopy(good)
    other["cloud"]["account"]["uid"] = "333333333333"
    other["resources"][0]["owner"]["account"]["uid"] = "333333333333"
    raw["detail"]["findings"] = [good, bad, other]
    with pytest.raises(PartlyInvalid) as caught:
        normalise(raw)
    assert [f.account for f in caught.value.findings] == ["222222222222", "333333333333"]
    (unreadable,) = caught.value.bad
    assert (unreadable.index, unreadable.raw) == (1, bad)
    field = "detail.findings[1].resources[0].uid"
    message = (
        "an S3 object named by its key alone needs its bucket: an S3 object ARN in uid or "
        "uid_alt, or exactly one AWS::S3::Bucket resource in the finding (found none)"
    )
    assert (unreadable.error.field, unreadable.error.message) == (field, message)
    assert caught.value.summary() == f"1 of 3 findings cannot be read: {field}: {message}"


def test_an_event_whose_every_finding_is_bad_is_invalid_as_a_whole() -> None:
    raw = event(CONTROL)
    first(raw)["cloud"]["account"]["uid"] = "not-an-account"
    with pytest.raises(InvalidEvent) as caught:
        normalise(raw)
    assert type(caught.value) is InvalidEvent
    assert caught.value.field == "detail.findings[0].cloud.account.uid"


@pytest.mark.parametrize(
    ("provider", "member", "expected", "rule"),
    [
        # Raised by the member: a MEDIUM threat must not be contained as a HIGH one.
        (3, 5, Severity.MEDIUM, "notify-threats-below-high"),
        # Lowered by the member: a HIGH threat is still contained.
        (4, 1, Severity.HIGH, "isolate-compromised-instances"),
    ],
)
def test_severity_is_the_providers_not_the_members_update(
    provider: int, member: int, expected: Severity, rule: str
) -> None:
    """BatchUpdateFindingsV2 lets anyone in the member account rewrite ``severity_id``; the
    new Security Hub keeps the provider's own in ``vendor_attributes`` (as ASFF keeps it
    in FindingProviderFields), and that is the one remedy decides on."""
    raw = ocsf_copy(event("securityhub-guardduty-ec2-command-and-control.json"), CAPTURED)
    item = first(raw)
    item["finding_info"]["types"] = ["Backdoor:EC2/C&CActivity.B"]  # GuardDuty's own spelling
    labels = {1: "Informational", 3: "Medium", 4: "High", 5: "Critical"}
    item["vendor_attributes"] = {"severity_id": provider, "severity": labels[provider]}
    item["severity_id"], item["severity"] = member, labels[member]
    f = one(raw)
    assert (f.product, f.severity) == ("GuardDuty", expected)
    assert decide(f, load_policy()).rule == rule
