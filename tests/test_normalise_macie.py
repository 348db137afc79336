"""The Macie normaliser on the project's samples in events/ and on targeted variations."""

from __future__ import annotations

import pytest

from conftest import event, one
from remedy.model import Detection, ResourceKind, Severity, Source
from remedy.normalise.keys import MACIE_PREFIX, s3_object_key


@pytest.mark.parametrize(
    ("name", "account", "finding_type", "severity", "bucket", "key", "version_id", "detections"),
    [
        (
            "macie-classification-credentials.json",
            "111111111111",
            "SensitiveData:S3Object/Credentials",
            Severity.HIGH,
            "example-corp-dev-artifacts",
            "deploy/config/.aws/credentials",
            "3HL4kqtJvjVBH40Nrjfkd.f1YlSGtq7Ym",
            (Detection("CREDENTIALS", "AWS_CREDENTIALS", 2),),
        ),
        (
            "macie-classification-financial.json",
            "222222222222",
            "SensitiveData:S3Object/Financial",
            Severity.HIGH,
            "example-corp-finance-exports",
            "exports/2024/Q3 card+payments%20(final).csv",
            None,
            (
                Detection("FINANCIAL_INFORMATION", "CREDIT_CARD_NUMBER", 12),
                Detection("FINANCIAL_INFORMATION", "CREDIT_CARD_EXPIRATION", 12),
            ),
        ),
        (
            "macie-classification-personal.json",
            "111111111111",
            "SensitiveData:S3Object/Personal",
            Severity.MEDIUM,
            "example-corp-hr-uploads",
            "people/Zoë Müller/contract #2 ?draft.txt",
            "Wc6hQTx0lW3oH.d1VpVd6uHcVXvO7Pxv",
            (
                Detection("PERSONAL_INFORMATION", "NAME", 3),
                Detection("PERSONAL_INFORMATION", "ADDRESS", 1),
                Detection("PERSONAL_INFORMATION", "DATE_OF_BIRTH", 1),
            ),
        ),
        (
            "macie-classification-customidentifier.json",
            "333333333333",
            "SensitiveData:S3Object/CustomIdentifier",
            Severity.MEDIUM,
            "example-corp-data-lake",
            "raw/crm/customers-2024-06.csv",
            None,
            (Detection("CUSTOM_IDENTIFIER", "employee id", 4),),
        ),
        (
            "macie-classification-multiple.json",
            "222222222222",
            "SensitiveData:S3Object/Multiple",
            Severity.HIGH,
            "example-corp-support-tickets",
            "tickets/2024/10/ticket-48213.json",
            None,
            (
                Detection("FINANCIAL_INFORMATION", "CREDIT_CARD_NUMBER", 1),
                Detection("PERSONAL_INFORMATION", "USA_SOCIAL_SECURITY_NUMBER", 2),
                Detection("CREDENTIALS", "AWS_CREDENTIALS", 1),
                Detection("CUSTOM_IDENTIFIER", "employee id", 1),
            ),
        ),
    ],
)
def test_classification_samples(
    name: str,
    account: str,
    finding_type: str,
    severity: Severity,
    bucket: str,
    key: str,
    version_id: str | None,
    detections: tuple[Detection, ...],
) -> None:
    raw = event(name)
    f = one(raw)
    assert (f.source, f.product, f.category) == (Source.MACIE, "Macie", "CLASSIFICATION")
    assert (f.account, f.region, f.envelope_account) == (account, "eu-west-1", account)
    assert f.type == finding_type
    assert f.severity is severity
    assert f.id == raw["detail"]["id"]
    assert f.title == raw["detail"]["title"]
    obj, bucket_resource = f.resources
    assert obj.kind is ResourceKind.S3_OBJECT
    assert (obj.bucket, obj.key, obj.version_id) == (bucket, key, version_id)
    assert obj.id == f"arn:aws:s3:::{bucket}/{key}"
    assert obj.etag == raw["detail"]["resourcesAffected"]["s3Object"]["eTag"]
    assert obj.size == raw["detail"]["resourcesAffected"]["s3Object"]["size"]
    assert obj.region == "eu-west-1"
    assert (bucket_resource.kind, bucket_resource.bucket) == (ResourceKind.S3_BUCKET, bucket)
    assert f.detections == detections
    assert f.key == s3_object_key(MACIE_PREFIX, account, "eu-west-1", bucket, key, finding_type)
    assert f.record_state is None
    assert f.parameters == {}


def test_policy_sample() -> None:
    f = one(event("macie-policy-s3bucketpublic.json"))
    assert (f.category, f.type, f.severity) == (
        "POLICY",
        "Policy:IAMUser/S3BucketPublic",
        Severity.HIGH,
    )
    assert f.account == "111111111111"
    (bucket,) = f.resources
    assert (bucket.kind, bucket.bucket) == (
        ResourceKind.S3_BUCKET,
        "example-corp-public-site-staging",
    )
    assert f.s3_objects == () and f.detections == ()


def test_forged_sample_keeps_both_accounts() -> None:
    f = one(event("macie-classification-forged-cross-account.json"))
    assert f.account == "333333333333"
    assert f.envelope_account == "222222222222"


def test_keys_are_kept_exactly_as_macie_wrote_them() -> None:
    raw = event("macie-classification-financial.json")
    for key in (
        "a b/c+d%2Fe?f#g.csv",
        "ünïcødé/文件 名.txt",
        " leading and trailing spaces ",
        "a//double//slash/",
        "%41%42",
        "lone surrogate \ud800 from JSON",
    ):
        raw["detail"]["resourcesAffected"]["s3Object"]["key"] = key
        f = one(raw)
        assert f.s3_objects[0].key == key
        assert f.s3_objects[0].id == f"arn:aws:s3:::example-corp-finance-exports/{key}"


def test_empty_and_absent_version_mean_none_and_give_one_key() -> None:
    raw = event("macie-classification-financial.json")
    empty = one(raw)
    del raw["detail"]["resourcesAffected"]["s3Object"]["versionId"]
    absent = one(raw)
    raw["detail"]["resourcesAffected"]["s3Object"]["versionId"] = None
    null = one(raw)
    assert empty.s3_objects[0].version_id is None
    assert empty.key == absent.key == null.key
    raw["detail"]["resourcesAffected"]["s3Object"]["versionId"] = "v1"
    assert one(raw).s3_objects[0].version_id == "v1"


def test_key_depends_on_where_the_object_is_not_on_the_finding_id() -> None:
    base = event("macie-classification-personal.json")
    key = one(base).key
    assert key.startswith("m-") and len(key) == 34
    same = event("macie-classification-personal.json")
    same["detail"]["id"] = "ffffffffffffffffffffffffffffffff"
    same["detail"]["updatedAt"] = "2025-01-01T00:00:00.000Z"
    same["detail"]["count"] = 7
    assert one(same).key == key
    for where, value in (
        (("accountId",), "222222222222"),
        (("region",), "eu-west-2"),
        (("type",), "SensitiveData:S3Object/Financial"),
        (("resourcesAffected", "s3Bucket", "name"), "other-bucket"),
        (("resourcesAffected", "s3Object", "key"), "people/other.txt"),
    ):
        raw = event("macie-classification-personal.json")
        target = raw["detail"]
        for step in where[:-1]:
            target = target[step]
        target[where[-1]] = value
        assert one(raw).key != key, where
    # Other bytes at the same key are another occurrence of the key (remedy.occurrences).
    rewritten = event("macie-classification-personal.json")
    rewritten["detail"]["resourcesAffected"]["s3Object"].update(versionId="v2", eTag="0" * 32)
    assert one(rewritten).key == key


def test_severity_score_is_used_when_description_is_absent() -> None:
    raw = event("macie-classification-customidentifier.json")
    for score, severity in ((1, Severity.LOW), (2, Severity.MEDIUM), (3, Severity.HIGH)):
        raw["detail"]["severity"] = {"score": score}
        assert one(raw).severity is severity


def test_description_decides_over_score() -> None:
    raw = event("macie-classification-customidentifier.json")
    raw["detail"]["severity"] = {"score": 3, "description": "Low"}
    assert one(raw).severity is Severity.LOW


def test_unknown_policy_subtype_and_missing_category() -> None:
    raw = event("macie-policy-s3bucketpublic.json")
    raw["detail"]["type"] = "Policy:IAMUser/S3SomethingNew"
    del raw["detail"]["category"]
    f = one(raw)
    assert (f.type, f.category) == ("Policy:IAMUser/S3SomethingNew", "POLICY")


def test_archived_and_sample_findings_are_marked() -> None:
    raw = event("macie-classification-credentials.json")
    raw["detail"]["archived"] = True
    raw["detail"]["sample"] = True
    f = one(raw)
    assert f.record_state == "ARCHIVED"
    assert f.parameters == {} and f.sample is True


def test_partition_follows_the_region_when_absent() -> None:
    raw = event("macie-classification-credentials.json")
    del raw["detail"]["partition"]
    raw["detail"]["region"] = "cn-north-1"
    del raw["detail"]["resourcesAffected"]["s3Bucket"]["arn"]
    f = one(raw)
    assert f.s3_objects[0].id.startswith("arn:aws-cn:s3:::example-corp-dev-artifacts/")
    assert f.resources[1].id == "arn:aws-cn:s3:::example-corp-dev-artifacts"


def test_results_location_is_not_a_resource() -> None:
    f = one(event("macie-classification-multiple.json"))
    assert all("macie-results" not in (r.bucket or "") for r in f.resources)
