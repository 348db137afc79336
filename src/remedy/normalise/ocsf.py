"""The new AWS Security Hub: ``Findings Imported V2`` events, one OCSF finding each.

Security Hub CSPM keeps sending ASFF (`remedy.normalise.securityhub`); an organisation may
run both, so the same finding can arrive both ways and, for Macie, natively too. The
mapping onto remedy's model, so the same policy rules apply with the same match keys:

- account ``cloud.account.uid``, region ``cloud.region`` (never the envelope's);
- severity ``severity_id`` (OCSF 1-6, ``Fatal`` as CRITICAL), else the ``severity`` label,
  both read from ``vendor_attributes`` (the provider's) where it has them;
- ``status_id`` as the ASFF workflow status (act only on New); ``activity_id`` Close, like
  an ARCHIVED record, means the finding is done;
- product ``metadata.product.uid``: AWS's own only when it is AWS's product ARN
  (`remedy.normalise.products.aws_product`), never by a name anyone can write;
- type: Macie's own type for Macie findings, ``Object:S3/MaliciousFile`` for GuardDuty's
  infected uploads, else the first of ``finding_info.types``, else ``class_name``;
- control id ``compliance.control``, compliance ``compliance.status_id``;
- ``resources[]`` by type (``AWS::S3::Bucket``, or its ASFF name), each named by whichever
  of ``uid`` and ``uid_alt`` is an ARN (`remedy.normalise.resources`); an S3 object named
  by its key alone (always so in the captured layout, where a key may look like an ARN)
  takes the finding's one bucket resource. A resource whose ``owner.account.uid`` is
  another account is kept for people to read but never acted on: remedy acts only in the
  account the finding lives in.
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
from remedy.normalise.products import SECURITY_HUB, aws_product, custom_product
from remedy.normalise.registry import register
from remedy.normalise.resources import (
    access_key,
    access_key_id,
    after,
    by_arn,
    ec2_instance,
    instance_from_arn,
    is_arn,
    is_public,
    kind_of,
    tags,
    with_principals,
)

IMPORTED_V2 = "Findings Imported V2"
#: ``parameters["format"]`` of an OCSF finding: its feedback goes through BatchUpdateFindingsV2.
OCSF = "ocsf"

# OCSF severity_id: 0 Unknown, 1 Informational ... 5 Critical, 6 Fatal, 99 Other.
_SEVERITY_BY_ID = {
    1: Severity.INFORMATIONAL,
    2: Severity.LOW,
    3: Severity.MEDIUM,
    4: Severity.HIGH,
    5: Severity.CRITICAL,
    6: Severity.CRITICAL,
}
_SEVERITY_BY_LABEL = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
}
_SEVERITY_CHOICES = (
    "severity_id 1-6, or a severity of Informational, Low, Medium, High, Critical, Fatal"
)
# OCSF status_id, said the ASFF way so the same guards apply (act only on NEW).
_STATUS_BY_ID = {
    0: "UNKNOWN",
    1: "NEW",
    2: "NOTIFIED",
    3: "SUPPRESSED",
    4: "RESOLVED",
    5: "ARCHIVED",
    99: "OTHER",
}
_STATUS_CHOICES = "an OCSF status_id (0-5 or 99)"
_CLOSE = 3  # activity_id Close
_COMPLIANCE_BY_ID = {1: "PASSED", 2: "WARNING", 3: "FAILED"}
_COMPLIANCE_CHOICES = "an OCSF compliance status_id (0-3 or 99)"


@register("securityhub-ocsf", {"source": ["aws.securityhub"], "detail-type": [IMPORTED_V2]})
def normalise_ocsf(event: Mapping[str, Any]) -> list[Finding]:
    detail: dict[str, Any] = event["detail"]
    envelope_account: str = event["account"]
    # One unreadable finding does not sink the others (issue 18.10), as in ASFF.
    return read_each(detail, lambda item, path: _finding(item, path, envelope_account))


def _finding(item: object, path: str, envelope_account: str) -> Finding:
    if not isinstance(item, dict):
        raise f.wrong_type(path, "an object", item)
    cloud_path = f"{path}.cloud"
    cloud = f.req_obj(item, "cloud", path)
    account = f.account_id(f.req_obj(cloud, "account", cloud_path), "uid", f"{cloud_path}.account")
    region = f.region(cloud, "region", cloud_path)

    metadata = f.req_obj(item, "metadata", path)
    product_path = f"{path}.metadata.product"
    product_obj = f.req_obj(metadata, "product", f"{path}.metadata")
    product_uid = f.req_str(product_obj, "uid", product_path)
    # A product that is not AWS's own is a custom one, whatever name it gives itself, so no
    # rule for an AWS product matches it (README "Trust").
    aws = aws_product(product_uid)
    product = aws or custom_product(f.opt_str(product_obj, "name", product_path) or product_uid)

    info_path = f"{path}.finding_info"
    info = f.req_obj(item, "finding_info", path)
    finding_id = f.req_str(info, "uid", info_path)
    types = _types(info, info_path)
    raw_resources = f.opt_list(item, "resources", path)
    resources = with_principals(
        tuple(
            [  # a list first, as in securityhub
                _resource(raw, f"{path}.resources[{i}]", account, region, raw_resources)
                for i, raw in enumerate(raw_resources)
            ]
        ),
        partition=f.partition_of(region),
        account=account,
    )

    finding_type = types[0] if types else f.opt_str(item, "class_name", path)
    if not finding_type:
        raise InvalidEvent(
            "missing, expected a type in finding_info.types or class_name", f"{info_path}.types"
        )
    # What Security Hub keeps across updates (as ASFF's ProductArn and Id) is the fallback.
    copied = identity(
        product,
        types,
        account=account,
        region=region,
        resources=resources,
        product_arn=product_uid,
        finding_id=finding_id,
        default_type=finding_type,
    )

    parameters: dict[str, Any] = {"format": OCSF}
    metadata_uid = f.opt_str(metadata, "uid", f"{path}.metadata")
    if metadata_uid:
        # What Security Hub's CreateTicketV2 names the finding by (remedy.tickets.securityhub).
        parameters["metadata_uid"] = metadata_uid
    compliance_status = None
    compliance = f.opt_obj(item, "compliance", path)
    if compliance is not None:
        compliance_path = f"{path}.compliance"
        control = f.opt_str(compliance, "control", compliance_path)
        # A control id is Security Hub's word; another product's claim of one is not.
        if control and aws == SECURITY_HUB:
            parameters["control_id"] = control
            found = control_parameters.read(
                compliance.get("control_parameters"), "name", ("values", "value")
            )
            if found:
                parameters[control_parameters.CONTROL_PARAMETERS] = found
        compliance_status = _coded(
            compliance, "status_id", compliance_path, _COMPLIANCE_BY_ID, _COMPLIANCE_CHOICES
        )

    activity_id = f.opt_int(item, "activity_id", path)
    # The fields every finding has positionally, as in every normaliser (see securityhub).
    return Finding(
        copied.key,  # key
        Source.SECURITYHUB,  # source
        product,  # product
        copied.type,  # type
        _provider_severity(item, path),  # severity
        account,  # account
        region,  # region
        envelope_account,  # envelope_account
        finding_id,  # id
        f.opt_str(info, "title", info_path) or "",  # title
        f.opt_str(info, "desc", info_path) or "",  # description
        copied.category,  # category
        resources,  # resources
        (),  # detections
        product_arn=product_uid,
        workflow_status=_coded(item, "status_id", path, _STATUS_BY_ID, _STATUS_CHOICES),
        # Closed: the finding is done, like an ARCHIVED ASFF record.
        record_state="ARCHIVED" if activity_id == _CLOSE else None,
        compliance_status=compliance_status,
        parameters=parameters,
        created_at=f.opt_str(info, "created_time_dt", info_path),
        updated_at=f.opt_str(info, "modified_time_dt", info_path),
        # Macie's own word only: anyone may import a finding under their own product.
        public=_public(raw_resources, f"{path}.resources") if product == MACIE else None,
    )


def _types(info: dict[str, Any], path: str) -> list[str]:
    types = f.opt_list(info, "types", path)
    for i, value in enumerate(types):
        if not isinstance(value, str) or not value:
            raise f.wrong_type(f"{path}.types[{i}]", "a non-empty string", value)
    return types


def _coded(
    parent: dict[str, Any], key: str, path: str, names: Mapping[int, str], choices: str
) -> str | None:
    """An OCSF enum id (``status_id``...) as its name; absent is None."""
    value = f.opt_int(parent, key, path)
    if value is None:
        return None
    name = names.get(value)
    if name is None:
        raise InvalidEvent(f"expected {choices}, got {value}", f.path_of(path, key))
    return name


def _provider_severity(item: dict[str, Any], path: str) -> Severity:
    """The provider's severity in ``vendor_attributes``, else the finding's own: anyone in
    the member account may rewrite ``severity_id`` (BatchUpdateFindingsV2), never those."""
    vendor = item.get("vendor_attributes")
    if isinstance(vendor, dict) and (
        vendor.get("severity_id") is not None or vendor.get("severity") is not None
    ):
        return _severity(vendor, f"{path}.vendor_attributes")
    f.opt_obj(item, "vendor_attributes", path)  # anything but an object is an error
    return _severity(item, path)


def _severity(item: dict[str, Any], path: str) -> Severity:
    """``severity_id``, else (for 0 Unknown, 99 Other or none) the ``severity`` label."""
    severity_id = f.opt_int(item, "severity_id", path)
    found = _SEVERITY_BY_ID.get(severity_id) if severity_id is not None else None
    if found is not None:
        return found
    label = f.opt_str(item, "severity", path)
    if label is not None:
        found = _SEVERITY_BY_LABEL.get(label.lower())
        if found is not None:
            return found
        raise f.bad_value(f"{path}.severity", _SEVERITY_CHOICES, label)
    if severity_id is not None:
        raise InvalidEvent(
            f"expected {_SEVERITY_CHOICES}, got {severity_id}", f"{path}.severity_id"
        )
    raise InvalidEvent(f"missing, expected {_SEVERITY_CHOICES}", f"{path}.severity_id")


def _identity(item: dict[str, Any], path: str) -> tuple[str, str | None, str | None]:
    """(``uid``, the ARN, the bare id) of a resource: whichever of ``uid`` and
    ``uid_alt`` is an ARN is the ARN (captured payloads put it in either)."""
    uid = f.req_str(item, "uid", path)
    uid_alt = f.opt_str(item, "uid_alt", path) or None
    if is_arn(uid):
        return uid, uid, None if is_arn(uid_alt) else uid_alt
    if is_arn(uid_alt):
        return uid, uid_alt, uid
    return uid, None, uid


def _s3_tail(arn: str) -> str:
    """What follows ``:::`` in an S3 ARN: ``bucket`` or ``bucket/key``."""
    return arn.partition(":::")[2]


def _buckets(raw: list[Any], account: str) -> set[str]:
    """The buckets the finding's own bucket resources name (another account's never count),
    for objects named by key alone."""
    out: set[str] = set()
    for item in raw:
        if isinstance(item, dict) and kind_of(str(item.get("type"))) is ResourceKind.S3_BUCKET:
            owner = item.get("owner")
            owner_account = owner.get("account") if isinstance(owner, dict) else None
            if isinstance(owner_account, dict) and owner_account.get("uid") not in (None, account):
                continue
            uid, uid_alt = item.get("uid"), item.get("uid_alt")
            arn = uid if is_arn(uid) else uid_alt if is_arn(uid_alt) else None
            name = _s3_tail(arn).partition("/")[0] if arn else uid
            if isinstance(name, str) and name:
                out.add(name)
    return out


def _resource(
    item: object, path: str, account: str, finding_region: str, siblings: list[Any]
) -> Resource:
    if not isinstance(item, dict):
        raise f.wrong_type(path, "an object", item)
    rtype = f.req_str(item, "type", path)
    uid, arn, bare = _identity(item, path)
    region = f.opt_str(item, "region", path) or finding_region
    owner = _owner(item, path)
    kind = kind_of(rtype)
    if owner is not None and owner != account:
        # Not the finding's account: shown, never acted on (principle 2).
        return Resource(
            kind=ResourceKind.OTHER,
            id=arn or uid,
            type=rtype,
            name=bare if arn else None,
            region=region,
            details={"owner_account": owner},
        )
    partition = f.opt_str(item, "cloud_partition", path) or f.partition_of(region)
    if kind is ResourceKind.S3_OBJECT:
        arn = _object_arn(uid, f.opt_str(item, "uid_alt", path) or None, path, siblings)
        bucket, key = _object(arn, uid, path, siblings, account)
        # Positional (kind, id, type, name, region, bucket, key, version_id): keywords cost
        # more than building the resource (bench/decide.py).
        return Resource(
            kind,
            f"arn:{partition}:s3:::{bucket}/{key}",
            rtype,
            None,
            region,
            bucket,
            key,
            f.opt_str(item, "version", path) or None,
        )
    if kind is ResourceKind.S3_BUCKET:
        bucket = (_s3_tail(arn) if arn else uid).partition("/")[0]
        if not bucket:
            raise f.bad_value(f"{path}.uid", "an S3 bucket ARN such as arn:aws:s3:::bucket", uid)
        return Resource(kind, arn or f"arn:{partition}:s3:::{bucket}", rtype, None, region, bucket)
    if kind is ResourceKind.SECURITY_GROUP:
        group = (bare if bare and bare.startswith("sg-") else None) or (
            after(arn, "security-group/") if arn else None
        )
        return Resource(
            kind=kind, id=group or uid, type=rtype, region=region, details={"arn": arn or uid}
        )
    if kind is ResourceKind.EC2_INSTANCE:
        details = _instance_details(item, path)
        if arn:
            found = instance_from_arn(
                arn,
                partition=partition,
                region=region,
                account=account,
                type_name=rtype,
                details=details,
            )
            if found is not None:
                return found
        return ec2_instance(
            uid,
            partition=partition,
            region=region,
            account=account,
            type_name=rtype,
            details=details,
        )
    if kind is ResourceKind.INTERNET_GATEWAY:
        gateway = after(arn, "internet-gateway/") if arn else None
        return Resource(
            kind=kind, id=gateway or uid, type=rtype, region=region, details={"arn": arn or uid}
        )
    if kind is ResourceKind.IAM_ACCESS_KEY:
        key_id = access_key_id(uid)
        if key_id is not None:
            return access_key(
                key_id,
                user_name=f.opt_str(item, "name", path) or None,
                principal_id=None,
                user_type=None,
                type_name=rtype,
                region=region,
            )
        kind = ResourceKind.OTHER
    if arn:
        return by_arn(kind, arn, bare, rtype, region)
    # No ARN: what it is cannot be told apart from a name anyone could write.
    return Resource(ResourceKind.OTHER, uid, rtype, None, region)  # positional, as in by_arn


def _object_arn(uid: str, uid_alt: str | None, path: str, siblings: list[Any]) -> str | None:
    """The S3 object's ARN, or None when the finding names it by its key alone.

    A key is the member's to choose and may itself look like an ARN
    (``arn:aws:s3:::payroll/salaries.csv``): in the captured layout, where the finding's
    bucket resources name their bucket bare, ``uid`` is always the key; with both ``uid``
    and ``uid_alt`` ARN-like, the ARN is the one that ends with ``/`` and the other."""
    if is_arn(uid_alt):
        if not is_arn(uid) or uid == uid_alt or uid_alt.endswith("/" + uid):
            return uid_alt
        if uid.endswith("/" + uid_alt):
            return uid
        raise InvalidEvent(
            f"uid {f.shown(uid)} and uid_alt {f.shown(uid_alt)} name two different S3 "
            "objects; expected the object's key in one and its ARN in the other",
            f"{path}.uid",
        )
    if not is_arn(uid) or _bare_buckets(siblings):
        return None
    return uid


def _bare_buckets(raw: list[Any]) -> bool:
    """Whether a bucket resource of the finding names its bucket bare (the captured layout)."""
    for item in raw:
        if isinstance(item, dict) and kind_of(str(item.get("type"))) is ResourceKind.S3_BUCKET:
            uid = item.get("uid")
            if isinstance(uid, str) and uid and not is_arn(uid):
                return True
    return False


def _object(
    arn: str | None, key: str, path: str, siblings: list[Any], account: str
) -> tuple[str, str]:
    """The bucket and key of an S3 object resource: from its own ARN, else its key and
    the finding's one bucket resource. Never from the key itself: a captured ``uid``
    ``people/2026/contract.pdf`` is a key, not ``bucket/key``."""
    if arn is not None:
        bucket, _, key = _s3_tail(arn).partition("/")
        if not bucket or not key:
            raise f.bad_value(
                f"{path}.uid", "an S3 object ARN such as arn:aws:s3:::bucket/key", arn
            )
        return bucket, key
    buckets = _buckets(siblings, account)
    if len(buckets) != 1:
        found = "none" if not buckets else ", ".join(sorted(buckets))
        raise InvalidEvent(
            "an S3 object named by its key alone needs its bucket: an S3 object ARN in uid or "
            f"uid_alt, or exactly one AWS::S3::Bucket resource in the finding (found {found})",
            f"{path}.uid",
        )
    (bucket,) = buckets
    return bucket, key


def _public(raw: list[Any], path: str) -> bool | None:
    """True when a bucket resource's ``data`` says PUBLIC, as Macie's bucket details do."""
    for i, item in enumerate(raw):
        if isinstance(item, dict) and kind_of(str(item.get("type"))) is ResourceKind.S3_BUCKET:
            data = f.opt_obj(item, "data", f"{path}[{i}]")
            if data is not None and is_public(data, f"{path}[{i}].data"):
                return True
    return None


def _instance_details(item: dict[str, Any], path: str) -> dict[str, Any]:
    raw = f.opt_list(item, "tags", path)
    return {"tags": tags(raw, "name", f"{path}.tags")} if raw else {}


def _owner(item: dict[str, Any], path: str) -> str | None:
    owner = f.opt_obj(item, "owner", path)
    if owner is None:
        return None
    owner_account = f.opt_obj(owner, "account", f"{path}.owner")
    if owner_account is None:
        return None
    return f.opt_account_id(owner_account, "uid", f"{path}.owner.account")
