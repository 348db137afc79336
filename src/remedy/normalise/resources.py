"""What an affected resource is, whichever format names it.

Security Hub CSPM (ASFF) names a resource by its ARN in ``Id`` and an ASFF type
(``AwsEc2Instance``); the new Security Hub (OCSF) by a CloudFormation type
(``AWS::EC2::Instance``, sometimes the ASFF one) with the ARN in ``uid`` or, as captured
payloads show, the bare id in ``uid`` and the ARN in ``uid_alt``; GuardDuty natively by its
own details (``resource.instanceDetails.instanceId``). Every normaliser builds such
resources here, so one thing has one identity in all of them: ``id`` is its ARN where AWS
defines one (built from its parts, so a malformed ARN in a payload names the same thing),
``name`` its bare id (instance id, function name, user name).

The shapes of an EC2 instance, an access key and its principal are what the containment
actions read (``details`` keys included); change them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeGuard

from remedy.model import Resource, ResourceKind
from remedy.normalise import fields as f

#: Both spellings of each type remedy knows: ASFF's and CloudFormation's (OCSF uses both).
KINDS: dict[str, ResourceKind] = {
    "AwsS3Bucket": ResourceKind.S3_BUCKET,
    "AWS::S3::Bucket": ResourceKind.S3_BUCKET,
    "AwsS3Object": ResourceKind.S3_OBJECT,
    "AWS::S3::Object": ResourceKind.S3_OBJECT,
    "AwsEc2SecurityGroup": ResourceKind.SECURITY_GROUP,
    "AWS::EC2::SecurityGroup": ResourceKind.SECURITY_GROUP,
    "AwsIamPolicy": ResourceKind.IAM_POLICY,
    "AWS::IAM::Policy": ResourceKind.IAM_POLICY,
    "AwsEc2Instance": ResourceKind.EC2_INSTANCE,
    "AWS::EC2::Instance": ResourceKind.EC2_INSTANCE,
    "AwsEc2InternetGateway": ResourceKind.INTERNET_GATEWAY,
    "AWS::EC2::InternetGateway": ResourceKind.INTERNET_GATEWAY,
    "AwsIamAccessKey": ResourceKind.IAM_ACCESS_KEY,
    "AWS::IAM::AccessKey": ResourceKind.IAM_ACCESS_KEY,
    "AwsIamUser": ResourceKind.IAM_USER,
    "AWS::IAM::User": ResourceKind.IAM_USER,
    "AwsIamRole": ResourceKind.IAM_ROLE,
    "AWS::IAM::Role": ResourceKind.IAM_ROLE,
    "AwsLambdaFunction": ResourceKind.LAMBDA_FUNCTION,
    "AWS::Lambda::Function": ResourceKind.LAMBDA_FUNCTION,
    "AwsSqsQueue": ResourceKind.SQS_QUEUE,
    "AWS::SQS::Queue": ResourceKind.SQS_QUEUE,
    "AwsEksCluster": ResourceKind.EKS_CLUSTER,
    "AWS::EKS::Cluster": ResourceKind.EKS_CLUSTER,
    "AwsEcsCluster": ResourceKind.ECS_CLUSTER,
    "AWS::ECS::Cluster": ResourceKind.ECS_CLUSTER,
    "AwsRdsDbInstance": ResourceKind.RDS_DB_INSTANCE,
    "AWS::RDS::DBInstance": ResourceKind.RDS_DB_INSTANCE,
}

#: GuardDuty's ``userType`` of a principal with an IAM ARN: its kind, ARN segment and type.
_PRINCIPALS = {
    "IAMUser": (ResourceKind.IAM_USER, "user", "AwsIamUser"),
    "AssumedRole": (ResourceKind.IAM_ROLE, "role", "AwsIamRole"),
}
#: An access key in GuardDuty's ASFF copy: ``AWS::IAM::AccessKey:<id>`` (``null`` if unknown).
_ACCESS_KEY_ID_PREFIX = "AWS::IAM::AccessKey:"
_UNKNOWN = "null"
# Read once: on Python 3.11 each read of an enum member costs as much as a function call.
_ACCESS_KEY = ResourceKind.IAM_ACCESS_KEY


def kind_of(type_name: str) -> ResourceKind:
    return KINDS.get(type_name, ResourceKind.OTHER)


def first_of(resources: Iterable[Resource], kind: ResourceKind) -> Resource | None:
    """The first of `resources` of `kind`, if any."""
    # A loop, not next() over a generator: that costs several times more on Python 3.11,
    # and keys are found this way for every copied finding (bench/decide.py).
    for resource in resources:
        if resource.kind is kind:
            return resource
    return None


def is_arn(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and text.startswith("arn:")


def after(text: str, marker: str) -> str | None:
    """What follows the last `marker`, e.g. the id in ``...:instance/i-0abc``."""
    _, found, tail = text.rpartition(marker)
    return tail if found and tail else None


def arn_place(arn: str, partition: str, region: str, account: str) -> tuple[str, str, str]:
    """(partition, region, account) of `arn`, each part the ARN lacks taken from the
    arguments. The fields are found by what they look like, not by position: AWS's own
    examples have a stray colon (``arn:aws::ec2:us-east-1:...``)."""
    parts = arn.split(":", 6)
    if len(parts) > 5 and f.is_region(parts[3]) and _is_account(parts[4]):
        # Well formed, as nearly every ARN is: arn:partition:service:region:account:...
        return parts[1] or partition, parts[3], parts[4]
    found_partition = parts[1] if len(parts) > 1 and parts[1] else partition
    found_region = next((p for p in parts[2:6] if f.is_region(p)), region)
    found_account = next((p for p in parts[2:6] if _is_account(p)), account)
    return found_partition, found_region, found_account


def _is_account(text: str) -> bool:
    return len(text) == 12 and text.isascii() and text.isdigit()


def ec2_instance(
    instance_id: str,
    *,
    partition: str,
    region: str,
    account: str,
    type_name: str,
    details: dict[str, Any],
) -> Resource:
    """An EC2 instance: ``id`` its ARN, ``name`` its id; ``details`` may hold
    ``network_interfaces`` (``id``, ``security_groups``, ``vpc_id``, ``subnet_id``),
    ``iam_instance_profile_arn`` and ``tags``, each when the finding says."""
    return Resource(
        kind=ResourceKind.EC2_INSTANCE,
        id=f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}",
        type=type_name,
        name=instance_id,
        region=region,
        details=details,
    )


def instance_from_arn(
    arn: str, *, partition: str, region: str, account: str, type_name: str, details: dict[str, Any]
) -> Resource | None:
    """The instance an ARN names (None if it names none)."""
    instance_id = after(arn, "instance/")
    if instance_id is None:
        return None
    partition, region, account = arn_place(arn, partition, region, account)
    return ec2_instance(
        instance_id,
        partition=partition,
        region=region,
        account=account,
        type_name=type_name,
        details=details,
    )


def access_key_id(text: str) -> str | None:
    """The key id in ``AWS::IAM::AccessKey:<id>`` or a bare key id; None when unknown."""
    key_id = text.removeprefix(_ACCESS_KEY_ID_PREFIX)
    return None if not key_id or key_id == _UNKNOWN else key_id


def access_key(
    key_id: str,
    *,
    user_name: str | None,
    principal_id: str | None,
    user_type: str | None,
    type_name: str,
    region: str | None,
) -> Resource:
    """Credentials: ``id`` the access key id, ``name`` the user (or role) it belongs to."""
    return Resource(
        kind=ResourceKind.IAM_ACCESS_KEY,
        id=key_id,
        type=type_name,
        name=user_name,
        region=region,
        details={"principal_id": principal_id, "user_type": user_type},
    )


def foreign_key(
    key_id: str, user_name: str | None, owner: str, type_name: str, region: str | None
) -> Resource:
    """Credentials of another account than the finding's (its caller's): shown, never acted
    on. No ``user_type``, so `with_principals` adds no namesake of the finding's account."""
    return Resource(
        kind=ResourceKind.OTHER,
        id=key_id,
        type=type_name,
        name=user_name,
        region=region,
        details={"owner_account": owner},
    )


def principal(
    user_type: str | None, name: str | None, *, partition: str, account: str
) -> Resource | None:
    """The IAM user or role behind credentials, when the finding names it.

    GuardDuty gives the name, not the path, so the ARN is the one of the default path
    ``/``; IAM addresses users and roles by name (unique in the account), which is what
    an action should use."""
    found = _PRINCIPALS.get(user_type or "")
    if not name or found is None:
        return None
    kind, segment, type_name = found
    return Resource(
        kind=kind, id=f"arn:{partition}:iam::{account}:{segment}/{name}", type=type_name, name=name
    )


def with_principals(
    resources: tuple[Resource, ...], *, partition: str, account: str
) -> tuple[Resource, ...]:
    """`resources` and, after them, the IAM user or role of each access key among them."""
    found: dict[str, Resource] = {}
    for r in resources:
        if r.kind is _ACCESS_KEY or (r.details and "user_type" in r.details):
            p = principal(r.details.get("user_type"), r.name, partition=partition, account=account)
            if p is not None:
                found.setdefault(p.id, p)
    if not found:
        return resources
    known = {r.id for r in resources}
    return resources + tuple(p for key, p in found.items() if key not in known)


def by_arn(
    kind: ResourceKind, arn: str, name: str | None, type_name: str, region: str | None
) -> Resource:
    """Any other resource AWS names by ARN: ``id`` the ARN, ``name`` its bare id if given."""
    # Positional: keywords cost more than building the resource (bench/decide.py).
    return Resource(kind, arn, type_name, name, region)


#: Macie's and GuardDuty's word for a bucket anyone can read (``effectivePermission``).
PUBLIC = "PUBLIC"


def is_public(bucket: dict[str, Any], path: str) -> bool | None:
    """True when a bucket's ``publicAccess.effectivePermission`` is PUBLIC (Macie's and
    GuardDuty's bucket details); None otherwise (NOT_PUBLIC, UNKNOWN or not said)."""
    access = f.opt_obj(bucket, "publicAccess", path)
    if access is None:
        return None
    permission = f.opt_str(access, "effectivePermission", f"{path}.publicAccess")
    return True if permission == PUBLIC else None


def tags(items: list[Any], key: str, path: str) -> dict[str, str]:
    """A list of ``{key|name: ..., value: ...}`` objects as a dict (GuardDuty says
    ``key``, OCSF ``name``)."""
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        # The path is only built for an error: tags are many and read on every finding.
        if isinstance(item, dict):
            name = item.get(key)
            value = item.get("value")
            if isinstance(name, str) and name and (value is None or isinstance(value, str)):
                out[name] = value or ""
                continue
            item_path = f"{path}[{i}]"
            f.req_str(item, key, item_path)
            raise f.wrong_type(f"{item_path}.value", "a string", value)
        raise f.wrong_type(f"{path}[{i}]", "an object", item)
    return out
