"""Amazon GuardDuty ``GuardDuty Finding`` events, read natively.

The member template forwards ``Object:S3/MaliciousFile`` and the threats remedy contains
(compromised instances, stolen credentials, root credential use) natively; the others
arrive through Security Hub. Any GuardDuty finding reads. An
``Object:S3/MaliciousFile`` finding gets the key of its object's scan result
(`remedy.normalise.malware`); any other gets the key of its Security Hub CSPM copy (the
finding ARN under GuardDuty's product ARN), so the native event and the copy dedupe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from remedy.errors import InvalidEvent
from remedy.model import Detection, Finding, Resource, ResourceKind, Severity, Source
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
from remedy.normalise.resources import (
    access_key,
    by_arn,
    ec2_instance,
    foreign_key,
    is_public,
    tags,
    with_principals,
)

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
    resources = _resources(detail, region, partition, account)
    public = _public(detail)
    key = None
    if is_malicious_file((finding_type,)):
        key = malicious_file_key(account, region, resources)
    if key is None:
        key = asff_key(f"arn:{partition}:securityhub:{region}::product/aws/guardduty", finding_arn)
    # The fields every finding has positionally, as in every normaliser (see securityhub).
    return [
        Finding(
            key,  # key
            Source.GUARDDUTY,  # source
            PRODUCT,  # product
            finding_type,  # type
            _severity(detail),  # severity
            account,  # account
            region,  # region
            event["account"],  # envelope_account
            f.req_str(detail, "id", path),  # id
            f.opt_str(detail, "title", path) or "",  # title
            f.opt_str(detail, "description", path) or "",  # description
            MALWARE if finding_type == MALICIOUS_FILE else None,  # category
            resources,  # resources
            _threats(detail),  # detections
            product_arn=finding_arn,
            parameters={},
            created_at=f.opt_str(detail, "createdAt", path),
            updated_at=f.opt_str(detail, "updatedAt", path),
            public=public,
            sample=_sample(detail),
        )
    ]


def own_type(types: list[str]) -> str | None:
    """GuardDuty's own type from a copy's types, so a rule on ``Backdoor:EC2/*`` decides
    the native finding and its copies alike (whichever arrives first keeps the key).

    ASFF puts it last in a ``namespace/category/`` path with its ``/`` made ``-``:
    ``TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce`` becomes
    ``UnauthorizedAccess:EC2/SSHBruteForce``; the resource part (``EC2``, ``IAMUser``)
    holds no ``-``, so the first one after the colon is where the ``/`` was. OCSF keeps
    it whole (``Backdoor:EC2/C&CActivity.B!DNS``: a colon before the first ``/``).
    """
    for entry in types:
        head, slash, _ = entry.partition("/")
        if slash and ":" in head:
            return entry
        purpose, colon, rest = entry.rpartition("/")[2].partition(":")
        resource, dash, name = rest.partition("-")
        if colon and dash and purpose and resource.isalnum() and name:
            return f"{purpose}:{resource}/{name}"
    return None


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


#: Which of ``resource``'s detail blocks name what the finding is about, by its
#: ``resourceType``. GuardDuty's sample findings fill every block (an ``instanceDetails``
#: in an S3 finding), so only the ones the type names are read; ``accessKeyDetails``, the
#: credentials involved, always.
_BLOCKS = {
    "Instance": ("instanceDetails",),
    "AccessKey": ("instanceDetails",),
    "EKSCluster": ("eksClusterDetails",),
    "ECSCluster": ("ecsClusterDetails",),
    "RDSDBInstance": ("rdsDbInstanceDetails",),
    "Lambda": ("lambdaDetails",),
}
_RESOURCE = "detail.resource"


def _resources(
    detail: dict[str, Any], region: str, partition: str, account: str
) -> tuple[Resource, ...]:
    resource = f.opt_obj(detail, "resource", "detail")
    if resource is None:
        return ()
    out: list[Resource] = []
    for bucket_path, item in f.opt_objects(resource, "s3BucketDetails", _RESOURCE):
        bucket = f.req_str(item, "name", bucket_path)
        for object_path, obj in f.opt_objects(item, "s3ObjectDetails", bucket_path):
            key = f.req_str(obj, "key", object_path)
            version_id = f.opt_str(obj, "versionId", object_path) or None
            etag = f.opt_str(obj, "eTag", object_path) or None
            out.append(s3_object(partition, region, bucket, key, version_id, etag))
        arn = f.opt_str(item, "arn", bucket_path) or None
        out.append(s3_bucket(partition, region, bucket, arn))
    place = (partition, region, account)
    for block in _BLOCKS.get(f.opt_str(resource, "resourceType", _RESOURCE) or "", ()):
        details = f.opt_obj(resource, block, _RESOURCE)
        if details is not None:
            out.append(_READERS[block](details, f"{_RESOURCE}.{block}", *place))
    credentials = f.opt_obj(resource, "accessKeyDetails", _RESOURCE)
    if credentials is not None:
        caller = _remote_account(detail)
        out.extend(
            _access_key(credentials, f"{_RESOURCE}.accessKeyDetails", region)
            if caller is None or caller == account
            else _foreign_key(credentials, f"{_RESOURCE}.accessKeyDetails", region, caller)
        )
    return with_principals(tuple(out), partition=partition, account=account)


def _instance(
    item: dict[str, Any], path: str, partition: str, region: str, account: str
) -> Resource:
    """``instanceDetails``: the instance, its network interfaces, profile and tags."""
    details: dict[str, Any] = {}
    interfaces = _interfaces(item, path)
    if interfaces:
        details["network_interfaces"] = interfaces
    profile = f.opt_obj(item, "iamInstanceProfile", path)
    if profile is not None:
        arn = f.opt_str(profile, "arn", f"{path}.iamInstanceProfile")
        if arn:
            details["iam_instance_profile_arn"] = arn
    details["tags"] = tags(f.opt_list(item, "tags", path), "key", f"{path}.tags")
    return ec2_instance(
        f.req_str(item, "instanceId", path),
        partition=partition,
        region=region,
        account=account,
        type_name="AwsEc2Instance",
        details=details,
    )


def _interfaces(item: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """``networkInterfaces[]``: id, security group ids, VPC and subnet of each. Paths are
    built per interface only (an instance has one or two), never per group."""
    out = []
    for i, eni in enumerate(f.opt_list(item, "networkInterfaces", path)):
        eni_path = f"{path}.networkInterfaces[{i}]"
        if not isinstance(eni, dict):
            raise f.wrong_type(eni_path, "an object", eni)
        groups = []
        for j, group in enumerate(f.opt_list(eni, "securityGroups", eni_path)):
            group_id = group.get("groupId") if isinstance(group, dict) else None
            if not isinstance(group_id, str) or not group_id:
                group_path = f"{eni_path}.securityGroups[{j}]"
                if not isinstance(group, dict):
                    raise f.wrong_type(group_path, "an object", group)
                f.req_str(group, "groupId", group_path)  # raises: says what is wrong
            groups.append(group_id)
        out.append(
            {
                "id": f.opt_str(eni, "networkInterfaceId", eni_path),
                "security_groups": groups,
                "vpc_id": f.opt_str(eni, "vpcId", eni_path),
                "subnet_id": f.opt_str(eni, "subnetId", eni_path),
            }
        )
    return out


def _named(
    kind: ResourceKind, type_name: str, name_key: str, arn_key: str, arn_format: str
) -> Callable[[dict[str, Any], str, str, str, str], Resource]:
    """A reader of a block that names a resource and (usually) its ARN."""

    def read(
        item: dict[str, Any], path: str, partition: str, region: str, account: str
    ) -> Resource:
        name = f.req_str(item, name_key, path)
        arn = f.opt_str(item, arn_key, path) or arn_format.format(
            partition=partition, region=region, account=account, name=name
        )
        return by_arn(kind, arn, name, type_name, region)

    return read


_READERS: dict[str, Callable[[dict[str, Any], str, str, str, str], Resource]] = {
    "instanceDetails": _instance,
    "eksClusterDetails": _named(
        ResourceKind.EKS_CLUSTER,
        "AwsEksCluster",
        "name",
        "arn",
        "arn:{partition}:eks:{region}:{account}:cluster/{name}",
    ),
    "ecsClusterDetails": _named(
        ResourceKind.ECS_CLUSTER,
        "AwsEcsCluster",
        "name",
        "arn",
        "arn:{partition}:ecs:{region}:{account}:cluster/{name}",
    ),
    "rdsDbInstanceDetails": _named(
        ResourceKind.RDS_DB_INSTANCE,
        "AwsRdsDbInstance",
        "dbInstanceIdentifier",
        "dbInstanceArn",
        "arn:{partition}:rds:{region}:{account}:db:{name}",
    ),
    "lambdaDetails": _named(
        ResourceKind.LAMBDA_FUNCTION,
        "AwsLambdaFunction",
        "functionName",
        "functionArn",
        "arn:{partition}:lambda:{region}:{account}:function:{name}",
    ),
}


def _access_key(item: dict[str, Any], path: str, region: str) -> list[Resource]:
    """``accessKeyDetails``: the key (when GuardDuty names one) and who it belongs to."""
    key_id = f.opt_str(item, "accessKeyId", path)
    if not key_id:
        return []
    return [
        access_key(
            key_id,
            user_name=f.opt_str(item, "userName", path) or None,
            principal_id=f.opt_str(item, "principalId", path),
            user_type=f.opt_str(item, "userType", path),
            type_name="AwsIamAccessKey",
            region=region,
        )
    ]


_CALL = "detail.service.action.awsApiCallAction"


def _remote_account(detail: dict[str, Any]) -> str | None:
    """The account of the API caller when GuardDuty says it is a remote one
    (``awsApiCallAction.remoteAccountDetails.accountId``): the credentials are its."""
    service = f.opt_obj(detail, "service", "detail") or {}
    action = f.opt_obj(service, "action", "detail.service") or {}
    call = f.opt_obj(action, "awsApiCallAction", "detail.service.action") or {}
    remote = f.opt_obj(call, "remoteAccountDetails", _CALL) or {}
    return f.opt_account_id(remote, "accountId", f"{_CALL}.remoteAccountDetails")


def _foreign_key(item: dict[str, Any], path: str, region: str, owner: str) -> list[Resource]:
    key_id = f.opt_str(item, "accessKeyId", path)
    if not key_id:
        return []
    user_name = f.opt_str(item, "userName", path) or None
    return [foreign_key(key_id, user_name, owner, "AwsIamAccessKey", region)]


def _public(detail: dict[str, Any]) -> bool | None:
    """Whether GuardDuty says one of the finding's buckets is PUBLIC."""
    resource = detail.get("resource")
    if not isinstance(resource, dict):
        return None
    for bucket_path, item in f.opt_objects(resource, "s3BucketDetails", _RESOURCE):
        if is_public(item, bucket_path):
            return True
    return None


def _threats(detail: dict[str, Any]) -> tuple[Detection, ...]:
    service = f.opt_obj(detail, "service", "detail")
    if service is None:
        return ()
    scan = f.opt_obj(service, "malwareScanDetails", "detail.service")
    if scan is None:
        return ()
    return threats(scan, "detail.service.malwareScanDetails")
