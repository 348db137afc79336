"""Amazon Macie ``Macie Finding`` events: sensitive-data (CLASSIFICATION) and POLICY findings.

The finding's account, region and type come from ``detail``; the bucket and object from
``detail.resourcesAffected``. ``classificationDetails.detailedResultsLocation`` names where
Macie wrote its results, not an affected resource, so it is not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.errors import InvalidEvent
from remedy.model import Detection, Finding, Resource, ResourceKind, Severity, Source
from remedy.normalise import fields as f
from remedy.normalise.keys import MACIE_PREFIX, s3_object_key
from remedy.normalise.registry import register
from remedy.normalise.resources import first_of, is_public

PRODUCT = "Macie"
#: ``Finding.parameters`` key of a policy finding's occurrence count (Macie's ``count``).
OCCURRENCES = "occurrences"
CUSTOM_IDENTIFIER = "CUSTOM_IDENTIFIER"

# Macie's severity words; sensitive-data findings also score them 1/2/3.
_BY_DESCRIPTION = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH}
_BY_SCORE = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH}
_CATEGORY_BY_PREFIX = {"SensitiveData": "CLASSIFICATION", "Policy": "POLICY"}


def category_of(finding_type: str) -> str | None:
    """CLASSIFICATION or POLICY from a Macie type such as ``SensitiveData:S3Object/Personal``."""
    return _CATEGORY_BY_PREFIX.get(finding_type.partition(":")[0])


def macie_type(types: list[str]) -> str | None:
    """Macie's own type from its ASFF ``Types`` entry (or an OCSF ``finding_info.types`` one).

    ``Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal`` becomes
    ``SensitiveData:S3Object/Personal``; ``Effects/Data Exposure/Policy:IAMUser-S3BucketPublic``
    becomes ``Policy:IAMUser/S3BucketPublic``. Macie's type names hold no ``-`` of their
    own, so the first one after the colon is where the ``/`` was. An entry that already is
    Macie's type (``SensitiveData:S3Object/Personal``) is taken as it is.
    """
    for entry in types:
        if entry.partition(":")[0] in _CATEGORY_BY_PREFIX and "/" in entry:
            return entry
        prefix, colon, rest = entry.rpartition("/")[2].partition(":")
        if colon and prefix in ("SensitiveData", "Policy"):
            resource, dash, subtype = rest.partition("-")
            if dash and resource and subtype:
                return f"{prefix}:{resource}/{subtype}"
    return None


def copy_key(
    account: str, region: str, resources: tuple[Resource, ...], macie_type: str
) -> str | None:
    """The key the native Macie event gets for a copy (ASFF, OCSF) naming `resources`.

    From the object if there is one, else the bucket; None if the copy names neither.
    """
    target = first_of(resources, ResourceKind.S3_OBJECT) or first_of(
        resources, ResourceKind.S3_BUCKET
    )
    if target is None or target.bucket is None:
        return None
    return s3_object_key(MACIE_PREFIX, account, region, target.bucket, target.key, macie_type)


@register("macie", {"source": ["aws.macie"], "detail-type": ["Macie Finding"]})
def normalise_macie(event: Mapping[str, Any]) -> list[Finding]:
    detail: dict[str, Any] = event["detail"]
    path = "detail"
    account = f.account_id(detail, "accountId", path)
    region = f.region(detail, "region", path)
    finding_type = f.req_str(detail, "type", path)
    category = f.opt_str(detail, "category", path) or category_of(finding_type)
    partition = f.opt_str(detail, "partition", path) or f.partition_of(region)

    resources_path = "detail.resourcesAffected"
    affected = f.req_obj(detail, "resourcesAffected", path)
    bucket_obj = f.req_obj(affected, "s3Bucket", resources_path)
    bucket_path = f"{resources_path}.s3Bucket"
    bucket = f.req_str(bucket_obj, "name", bucket_path)
    bucket_arn = f.opt_str(bucket_obj, "arn", bucket_path) or f"arn:{partition}:s3:::{bucket}"
    resources: list[Resource] = []
    object_key: str | None = None
    version_id: str | None = None
    s3_object = f.opt_obj(affected, "s3Object", resources_path)
    if s3_object is not None:
        object_path = f"{resources_path}.s3Object"
        # Kept exactly as Macie wrote it: no URL-decoding, no stripping.
        object_key = f.req_str(s3_object, "key", object_path)
        # Macie writes "" for an unversioned object: that is no version, not a version id.
        version_id = f.opt_str(s3_object, "versionId", object_path) or None
        # Positional (kind, id, type, name, region, bucket, key, version_id, etag, size):
        # keywords cost more than building the resource (bench/decide.py).
        resources.append(
            Resource(
                ResourceKind.S3_OBJECT,
                f"arn:{partition}:s3:::{bucket}/{object_key}",
                "AwsS3Object",
                None,
                region,
                bucket,
                object_key,
                version_id,
                f.opt_str(s3_object, "eTag", object_path) or None,
                f.opt_int(s3_object, "size", object_path),
            )
        )
    resources.append(
        Resource(ResourceKind.S3_BUCKET, bucket_arn, "AwsS3Bucket", None, region, bucket)
    )

    # Said the ASFF way so one guard covers both sources.
    record_state = "ARCHIVED" if f.opt_bool(detail, "archived", path) else None
    parameters: dict[str, Any] = {}
    count = f.opt_int(detail, "count", path)
    if category == "POLICY" and count is not None:
        # Macie counts a policy finding's occurrences in the one finding (its id and so its
        # key stay): a higher count is a new occurrence (remedy.occurrences).
        parameters[OCCURRENCES] = count

    # The fields every finding has positionally, as in every normaliser (see securityhub).
    return [
        Finding(
            s3_object_key(MACIE_PREFIX, account, region, bucket, object_key, finding_type),  # key
            Source.MACIE,  # source
            PRODUCT,  # product
            finding_type,  # type
            _severity(detail, category),  # severity
            account,  # account
            region,  # region
            event["account"],  # envelope_account
            f.req_str(detail, "id", path),  # id
            f.opt_str(detail, "title", path) or "",  # title
            f.opt_str(detail, "description", path) or "",  # description
            category,  # category
            tuple(resources),  # resources
            _detections(detail),  # detections
            record_state=record_state,
            parameters=parameters,
            created_at=f.opt_str(detail, "createdAt", path),
            updated_at=f.opt_str(detail, "updatedAt", path),
            public=is_public(bucket_obj, bucket_path),
            sample=f.opt_bool(detail, "sample", path) is True,
        )
    ]


def _severity(detail: dict[str, Any], category: str | None) -> Severity:
    path = "detail.severity"
    severity = f.req_obj(detail, "severity", "detail")
    description = f.opt_str(severity, "description", path)
    if description is not None:
        found = _BY_DESCRIPTION.get(description.lower())
        if found is None:
            raise f.bad_value(f"{path}.description", "one of Low, Medium, High", description)
        return found
    # Only sensitive-data findings score on 1/2/3; policy scores (7.4) are another scale.
    score = severity.get("score")
    if category == "CLASSIFICATION" and isinstance(score, int) and not isinstance(score, bool):
        found = _BY_SCORE.get(score)
        if found is not None:
            return found
    raise InvalidEvent("missing, expected one of Low, Medium, High", f"{path}.description")


def _detections(detail: dict[str, Any]) -> tuple[Detection, ...]:
    details = f.opt_obj(detail, "classificationDetails", "detail")
    if details is None:
        return ()
    path = "detail.classificationDetails.result"
    result = f.opt_obj(details, "result", "detail.classificationDetails")
    if result is None:
        return ()
    out: list[Detection] = []
    for group_path, group in f.opt_objects(result, "sensitiveData", path):
        category = f.req_str(group, "category", group_path)
        _read_detections(group, "type", category, group_path, out)
    custom = f.opt_obj(result, "customDataIdentifiers", path)
    if custom is not None:
        custom_path = f"{path}.customDataIdentifiers"
        _read_detections(custom, "name", CUSTOM_IDENTIFIER, custom_path, out)
    return tuple(out)


def _read_detections(
    parent: dict[str, Any], name_key: str, category: str, path: str, out: list[Detection]
) -> None:
    """Each of ``parent.detections`` (its `name_key` and ``count``) into `out`.

    A well-formed detection is read without building its path (a Macie finding names
    many); anything else is read field by field, failing on the first wrong field."""
    for i, item in enumerate(f.opt_list(parent, "detections", path)):
        if type(item) is dict:
            name = item.get(name_key)
            count = item.get("count")
            if type(name) is str and name and type(count) is int:
                out.append(Detection(category, name, count))
                continue
        item_path = f"{path}.detections[{i}]"
        if not isinstance(item, dict):
            raise f.wrong_type(item_path, "an object", item)
        out.append(
            Detection(
                category, f.req_str(item, name_key, item_path), f.req_int(item, "count", item_path)
            )
        )
