"""AWS Security Hub events: ``Findings - Imported`` and ``Findings - Custom Action`` (ASFF).

One event carries one or more findings, possibly from several member accounts when it
comes from the administrator (aggregator) account. Each is read on its own
(`remedy.normalise.batch`): some that cannot be read beside others that can raise
`PartlyInvalid`, which carries the good ones.
Each finding's account is its own ``AwsAccountId``, never the envelope's and never one
parsed out of a resource ARN.

ARNs in real payloads are not always well formed (AWS's own GuardDuty example has
``arn:aws::ec2:...``), so resource ids are read by their recognisable parts, never by
strict ARN parsing.

Which product a finding is comes from ``ProductArn`` alone (`remedy.normalise.products`):
``ProductName`` and ``ProductFields`` are written by whoever imported the finding. Only a
finding under AWS's own Macie ARN is read as Macie (type, category, the key it shares with
the native event), and only AWS's own products may name a Security Hub control.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.errors import InvalidEvent
from remedy.model import Finding, Resource, ResourceKind, Severity, Source
from remedy.normalise import control_parameters
from remedy.normalise import fields as f
from remedy.normalise.batch import read_each
from remedy.normalise.copies import identity
from remedy.normalise.macie import PRODUCT as MACIE
from remedy.normalise.products import AWS_PRODUCTS, SECURITY_HUB, aws_product, custom_product
from remedy.normalise.registry import register
from remedy.normalise.resources import (
    PUBLIC,
    access_key,
    access_key_id,
    after,
    by_arn,
    foreign_key,
    instance_from_arn,
    kind_of,
    with_principals,
)

IMPORTED = "Security Hub Findings - Imported"
CUSTOM_ACTION = "Security Hub Findings - Custom Action"

_LABELS = {s.name: s for s in Severity}
_LABEL_CHOICES = "one of " + ", ".join(_LABELS)
_SEVERITY_LABEL_FIELD = "aws/securityhub/SeverityLabel"
_PRODUCT_NAME_FIELD = "aws/securityhub/ProductName"
#: Macie's copy carries its native fields by dotted path (as ``S3Object.Path``).
_EFFECTIVE_PERMISSION = "S3Bucket.effectivePermission"
_KNOWN_AWS_PRODUCTS = frozenset(AWS_PRODUCTS.values())


@register(
    "securityhub",
    {"source": ["aws.securityhub"], "detail-type": [IMPORTED, CUSTOM_ACTION]},
)
def normalise_securityhub(event: Mapping[str, Any]) -> list[Finding]:
    detail: dict[str, Any] = event["detail"]
    action_name = None
    if event["detail-type"] == CUSTOM_ACTION:
        # The console action a person chose; the policy maps it to a remediation.
        action_name = f.req_str(detail, "actionName", "detail")
    envelope_account: str = event["account"]
    return read_each(detail, lambda item, path: _finding(item, path, envelope_account, action_name))


def _finding(item: object, path: str, envelope_account: str, action_name: str | None) -> Finding:
    if not isinstance(item, dict):
        raise f.wrong_type(path, "an object", item)
    account = f.account_id(item, "AwsAccountId", path)
    finding_id = f.req_str(item, "Id", path)
    product_arn = f.req_str(item, "ProductArn", path)
    product_fields = f.opt_obj(item, "ProductFields", path) or {}
    raw_resources = f.opt_list(item, "Resources", path)
    region = _region(item, raw_resources, product_arn, path)
    aws = aws_product(product_arn)
    product = _product(item, product_arn, aws, product_fields, path)
    # BatchUpdateFindings lets anyone in the member rewrite the top-level Severity and
    # Types of any finding, and the provider's own updates go here from then on: the
    # provider's word, where the provider gives it.
    provider = f.opt_obj(item, "FindingProviderFields", path) or {}
    provider_path = f"{path}.FindingProviderFields"
    types = _types(provider, provider_path) if "Types" in provider else _types(item, path)
    resources = with_principals(
        # A list first: tuple() of a generator costs several times more on Python 3.11.
        tuple(
            [
                _resource(raw, f"{path}.Resources[{i}]", region, account)
                for i, raw in enumerate(raw_resources)
            ]
        ),
        partition=f.partition_of(region),
        account=account,
    )

    copied = identity(
        product,
        types,
        account=account,
        region=region,
        resources=resources,
        product_arn=product_arn,
        finding_id=finding_id,
        default_type=types[0],
    )

    parameters: dict[str, Any] = {}
    compliance = f.opt_obj(item, "Compliance", path)
    compliance_status = None
    if compliance is not None:
        compliance_path = f"{path}.Compliance"
        compliance_status = f.opt_str(compliance, "Status", compliance_path)
        control_id = f.opt_str(compliance, "SecurityControlId", compliance_path)
        # A control id is Security Hub's word; another product's claim of one is not (AWS
        # Config's findings carry rules a member writes).
        if control_id and aws == SECURITY_HUB:
            parameters["control_id"] = control_id
            found = control_parameters.read(
                compliance.get("SecurityControlParameters"), "Name", ("Value",)
            )
            if found:
                parameters[control_parameters.CONTROL_PARAMETERS] = found
    if "control_id" not in parameters and aws == SECURITY_HUB:
        # Findings from before consolidated controls name the control only here.
        control_id = product_fields.get("ControlId")
        if isinstance(control_id, str) and control_id:
            parameters["control_id"] = control_id

    workflow = f.opt_obj(item, "Workflow", path)
    workflow_status = None
    if workflow is not None:
        workflow_status = f.opt_str(workflow, "Status", f"{path}.Workflow")
    if workflow_status is None:
        workflow_status = f.opt_str(item, "WorkflowState", path)

    # The fields every finding has positionally, in the model's field order
    # (`remedy.model.Finding`): two dozen keywords cost more than building the rest of
    # the finding (bench/decide.py); the others by name.
    return Finding(
        copied.key,  # key
        Source.SECURITYHUB,  # source
        product,  # product
        copied.type,  # type
        _severity(provider, {}, provider_path)  # severity
        if _has_label(provider)
        else _severity(item, product_fields, path),
        account,  # account
        region,  # region
        envelope_account,  # envelope_account
        finding_id,  # id
        f.opt_str(item, "Title", path) or "",  # title
        f.opt_str(item, "Description", path) or "",  # description
        copied.category,  # category
        resources,  # resources
        (),  # detections
        product_arn=product_arn,
        workflow_status=workflow_status,
        record_state=f.opt_str(item, "RecordState", path),
        compliance_status=compliance_status,
        action_name=action_name,
        parameters=parameters,
        created_at=f.opt_str(item, "CreatedAt", path),
        updated_at=f.opt_str(item, "UpdatedAt", path),
        # Macie's own word only: ProductFields are the importer's to write.
        public=True
        if product == MACIE and product_fields.get(_EFFECTIVE_PERMISSION) == PUBLIC
        else None,
        sample=f.opt_bool(item, "Sample", path) is True,
    )


def _region(item: dict[str, Any], resources: list[Any], product_arn: str, path: str) -> str:
    """``Region``, else the first resource's ``Region``, else the region in ``ProductArn``."""
    found = f.opt_region(item, "Region", path)
    if found is not None:
        return found
    if resources and isinstance(resources[0], dict):
        # Only a fallback: a resource "Region" that is not one (say "global") is passed over.
        found = resources[0].get("Region")
        if isinstance(found, str) and f.is_region(found):
            return found
    # Scan the ARN's fields rather than index them: a stray colon shifts them.
    for part in product_arn.split(":", 6)[:6]:
        if f.is_region(part):
            return part
    raise InvalidEvent(
        "missing, expected a region in Region, Resources[0].Region or ProductArn",
        f"{path}.Region",
    )


def _product(
    item: dict[str, Any],
    product_arn: str,
    aws: str | None,
    product_fields: dict[str, Any],
    path: str,
) -> str:
    """The AWS product `aws` (from the ARN); else ``custom: <the name it gives itself>``.

    For an AWS product remedy has no name for, the name AWS wrote in the finding is kept
    (only AWS publishes under ``product/aws/``).
    """
    if aws in _KNOWN_AWS_PRODUCTS:
        return aws
    name = f.opt_str(item, "ProductName", path)
    if not name:
        label = product_fields.get(_PRODUCT_NAME_FIELD)
        name = label if isinstance(label, str) and label else None
    if aws is not None:
        return name or aws
    return custom_product(name or product_arn.partition("product/")[2] or product_arn)


def _types(item: dict[str, Any], path: str) -> list[str]:
    types = f.req_list(item, "Types", path)
    if not types:
        raise InvalidEvent("expected at least one type, got an empty array", f"{path}.Types")
    for i, value in enumerate(types):
        if not isinstance(value, str) or not value:
            raise f.wrong_type(f"{path}.Types[{i}]", "a non-empty string", value)
    return types


def _has_label(item: dict[str, Any]) -> bool:
    severity = item.get("Severity")
    return isinstance(severity, dict) and severity.get("Label") is not None


def _severity(item: dict[str, Any], product_fields: dict[str, Any], path: str) -> Severity:
    """``Severity.Label``, else ``Severity.Normalized``, else the ProductFields label."""
    severity = f.opt_obj(item, "Severity", path)
    severity_path = f"{path}.Severity"
    if severity is not None:
        label = f.opt_str(severity, "Label", severity_path)
        if label is not None:
            found = _LABELS.get(label)
            if found is None:
                raise f.bad_value(f"{severity_path}.Label", _LABEL_CHOICES, label)
            return found
        normalized = severity.get("Normalized")
        if normalized is not None:
            return Severity.from_normalized(_score(normalized, f"{severity_path}.Normalized"))
    label = product_fields.get(_SEVERITY_LABEL_FIELD)
    if label is not None:
        field = f'{path}.ProductFields["{_SEVERITY_LABEL_FIELD}"]'
        if not isinstance(label, str):
            raise f.wrong_type(field, _LABEL_CHOICES, label)
        found = _LABELS.get(label)
        if found is None:
            raise f.bad_value(field, _LABEL_CHOICES, label)
        return found
    raise InvalidEvent(
        "missing, expected Severity.Label, Severity.Normalized or "
        f'ProductFields["{_SEVERITY_LABEL_FIELD}"]',
        severity_path,
    )


def _score(value: object, field: str) -> float:
    """``Severity.Normalized``: a number from 0 to 100, which some producers send as a string."""
    what = "a number from 0 to 100"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise f.wrong_type(field, what, value)
    if isinstance(value, str):
        try:
            score = float(value)
        except ValueError:
            raise f.bad_value(field, what, value) from None
    else:
        score = value
    # Written so NaN fails too.
    if not 0 <= score <= 100:
        if isinstance(value, str):
            raise f.bad_value(field, what, value)
        raise InvalidEvent(f"expected {what}, got {value!r}", field)
    return score


def _s3_path(arn: str) -> tuple[str, str]:
    """``bucket`` and ``key`` of ``arn:aws:s3:::bucket/key`` (the key may hold ``/``)."""
    if not arn.startswith("arn:"):
        return "", ""
    bucket, _, key = arn.partition(":::")[2].partition("/")
    return bucket, key


def _resource(item: object, path: str, finding_region: str, account: str) -> Resource:
    if not isinstance(item, dict):
        raise f.wrong_type(path, "an object", item)
    rtype = f.req_str(item, "Type", path)
    rid = f.req_str(item, "Id", path)
    region = f.opt_str(item, "Region", path) or finding_region
    if rtype == "AwsS3Object":
        bucket, key = _s3_path(rid)
        if not bucket or not key:
            raise f.bad_value(f"{path}.Id", "an S3 object ARN such as arn:aws:s3:::bucket/key", rid)
        version_id = etag = None
        details = f.opt_obj(item, "Details", path)
        if details is not None:
            s3_object = f.opt_obj(details, "AwsS3Object", f"{path}.Details")
            if s3_object is not None:
                object_path = f"{path}.Details.AwsS3Object"
                version_id = f.opt_str(s3_object, "VersionId", object_path) or None
                etag = f.opt_str(s3_object, "ETag", object_path) or None
        # Positional (kind, id, type, name, region, bucket, key, version_id, etag):
        # keywords cost more than building the resource (bench/decide.py).
        return Resource(
            ResourceKind.S3_OBJECT, rid, rtype, None, region, bucket, key, version_id, etag
        )
    if rtype == "AwsS3Bucket":
        bucket = _s3_path(rid)[0]
        if not bucket:
            raise f.bad_value(f"{path}.Id", "an S3 bucket ARN such as arn:aws:s3:::bucket", rid)
        return Resource(ResourceKind.S3_BUCKET, rid, rtype, None, region, bucket)
    if rtype == "AwsEc2SecurityGroup":
        group_id = None
        details = f.opt_obj(item, "Details", path)
        if details is not None:
            group = f.opt_obj(details, "AwsEc2SecurityGroup", f"{path}.Details")
            if group is not None:
                group_id = f.opt_str(group, "GroupId", f"{path}.Details.AwsEc2SecurityGroup")
        group_id = group_id or after(rid, "security-group/") or rid
        return Resource(
            kind=ResourceKind.SECURITY_GROUP,
            id=group_id,
            type=rtype,
            region=region,
            details={"arn": rid},
        )
    kind = kind_of(rtype)
    if kind is ResourceKind.EC2_INSTANCE:
        details = _instance_details(item, path)
        instance = instance_from_arn(
            rid,
            partition=f.opt_str(item, "Partition", path) or f.partition_of(region),
            region=region,
            account=account,
            type_name=rtype,
            details=details,
        )
        if instance is not None:
            return instance
    elif kind is ResourceKind.IAM_ACCESS_KEY:
        return _access_key(item, rid, path, region, account)
    elif kind is not ResourceKind.INTERNET_GATEWAY and rid.startswith("arn:"):
        return by_arn(kind, rid, None, rtype, region)
    return Resource(ResourceKind.OTHER, rid, rtype, None, region)


def _instance_details(item: dict[str, Any], path: str) -> dict[str, Any]:
    """What ``Details.AwsEc2Instance`` and ``Tags`` say that containment reads."""
    out: dict[str, Any] = {}
    details = f.opt_obj(item, "Details", path)
    instance = f.opt_obj(details, "AwsEc2Instance", f"{path}.Details") if details else None
    if instance is not None:
        profile = f.opt_str(instance, "IamInstanceProfileArn", f"{path}.Details.AwsEc2Instance")
        if profile:
            out["iam_instance_profile_arn"] = profile
    resource_tags = f.opt_obj(item, "Tags", path)
    if resource_tags:
        out["tags"] = {str(k): str(v) for k, v in resource_tags.items()}
    return out


def _access_key(item: dict[str, Any], rid: str, path: str, region: str, account: str) -> Resource:
    """GuardDuty's ``AwsIamAccessKey``: ``Id`` ``AWS::IAM::AccessKey:<key id>``, the
    principal in ``Details.AwsIamAccessKey``. A key written ``null`` stays as given; a key
    of another account (``AccountId``) is shown, never acted on."""
    details = f.opt_obj(item, "Details", path)
    key_path = f"{path}.Details.AwsIamAccessKey"
    key = f.opt_obj(details, "AwsIamAccessKey", f"{path}.Details") if details else None
    key = key or {}
    # UserName is the older field (an IAM user's); PrincipalName/Type the current ones.
    user_name = f.opt_str(key, "PrincipalName", key_path) or f.opt_str(key, "UserName", key_path)
    user_type = f.opt_str(key, "PrincipalType", key_path) or ("IAMUser" if user_name else None)
    key_id = access_key_id(f.opt_str(key, "AccessKeyId", key_path) or rid)
    owner = f.opt_account_id(key, "AccountId", key_path)
    if owner is not None and owner != account:
        return foreign_key(key_id or rid, user_name, owner, item["Type"], region)
    if key_id is None:
        return Resource(
            kind=ResourceKind.OTHER,
            id=rid,
            type=item["Type"],
            name=user_name,
            region=region,
            details={"user_type": user_type},
        )
    return access_key(
        key_id,
        user_name=user_name,
        principal_id=f.opt_str(key, "PrincipalId", key_path),
        user_type=user_type,
        type_name=item["Type"],
        region=region,
    )
