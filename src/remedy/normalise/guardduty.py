"""Amazon GuardDuty ``GuardDuty Finding`` events, read natively.

The member template forwards only ``Object:S3/MaliciousFile`` natively (the other GuardDuty
findings arrive through Security Hub), but any GuardDuty finding reads. An
``Object:S3/MaliciousFile`` finding gets the key of its object's scan result
(`remedy.normalise.malware`); any other gets the key of its Security Hub CSPM copy (the
finding ARN under GuardDuty's product ARN), so the native event and the copy dedupe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.errors import InvalidEvent
from remedy.model import Detection, Finding, Resource, Severity, Source
from remedy.normalise import fields as f
from remedy.normalise.keys import asff_key
from remedy.normalise.malware import (
    MALICIOUS_FILE,
    MALWARE,
    is_malicious_file,
    malicious_file_key,
    s3_bucket,
    s3_object,
    threats,
)
from remedy.normalise.malware_scan import PRODUCT
from remedy.normalise.registry import register

FINDING = "GuardDuty Finding"


@register("guardduty", {"source": ["aws.guardduty"], "detail-type": [FINDING]})
def normalise_guardduty(event: Mapping[str, Any]) -> list[Finding]:
    detail: dict[str, Any] = event["detail"]
    path = "detail"
    account = f.account_id(detail, "accountId", path)
    region = f.region(detail, "region", path)
    partition = f.opt_str(detail, "partition", path) or f.partition_of(region)
    finding_type = f.req_str(detail, "type", path)
    finding_arn = f.req_str(detail, "arn", path)
    resources = _resources(detail, region, partition)
    key = None
    if is_malicious_file((finding_type,)):
        key = malicious_file_key(account, region, resources)
    if key is None:
        key = asff_key(f"arn:{partition}:securityhub:{region}::product/aws/guardduty", finding_arn)
    return [
        Finding(
            key=key,
            source=Source.GUARDDUTY,
            product=PRODUCT,
            type=finding_type,
            severity=_severity(detail),
            account=account,
            region=region,
            envelope_account=event["account"],
            id=f.req_str(detail, "id", path),
            title=f.opt_str(detail, "title", path) or "",
            description=f.opt_str(detail, "description", path) or "",
            category=MALWARE if finding_type == MALICIOUS_FILE else None,
            resources=resources,
            detections=_threats(detail),
            product_arn=finding_arn,
            created_at=f.opt_str(detail, "createdAt", path),
            updated_at=f.opt_str(detail, "updatedAt", path),
            sample=_sample(detail),
        )
    ]


def _sample(detail: dict[str, Any]) -> bool:
    """GuardDuty marks its generated findings in ``service.additionalInfo.sample``."""
    service = f.opt_obj(detail, "service", "detail") or {}
    info = f.opt_obj(service, "additionalInfo", "detail.service") or {}
    return f.opt_bool(info, "sample", "detail.service.additionalInfo") is True


def _severity(detail: dict[str, Any]) -> Severity:
    """GuardDuty's 1.0-10.0 score in its documented bands (Low < 4 <= Medium < 7 <= High < 9)."""
    what = "a number from 0 to 10"
    value = detail.get("severity")
    if value is None:
        raise f.missing("detail", "severity", what)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise f.wrong_type("detail.severity", what, value)
    # Written so NaN fails too.
    if not 0 <= value <= 10:
        raise InvalidEvent(f"expected {what}, got {value!r}", "detail.severity")
    if value < 4:
        return Severity.LOW
    if value < 7:
        return Severity.MEDIUM
    if value < 9:
        return Severity.HIGH
    return Severity.CRITICAL


def _resources(detail: dict[str, Any], region: str, partition: str) -> tuple[Resource, ...]:
    resource = f.opt_obj(detail, "resource", "detail")
    if resource is None:
        return ()
    out: list[Resource] = []
    for bucket_path, item in f.opt_objects(resource, "s3BucketDetails", "detail.resource"):
        bucket = f.req_str(item, "name", bucket_path)
        for object_path, obj in f.opt_objects(item, "s3ObjectDetails", bucket_path):
            key = f.req_str(obj, "key", object_path)
            version_id = f.opt_str(obj, "versionId", object_path) or None
            etag = f.opt_str(obj, "eTag", object_path) or None
            out.append(s3_object(partition, region, bucket, key, version_id, etag))
        arn = f.opt_str(item, "arn", bucket_path) or None
        out.append(s3_bucket(partition, region, bucket, arn))
    return tuple(out)


def _threats(detail: dict[str, Any]) -> tuple[Detection, ...]:
    service = f.opt_obj(detail, "service", "detail")
    if service is None:
        return ()
    scan = f.opt_obj(service, "malwareScanDetails", "detail.service")
    if scan is None:
        return ()
    return threats(scan, "detail.service.malwareScanDetails")
