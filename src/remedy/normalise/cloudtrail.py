"""Guarded API calls seen through CloudTrail (``AWS API Call via CloudTrail``).

Each guarded call has a reader that pulls out the resource and the offending parameters
(ports and CIDRs, bucket policy or ACL, IAM policy document) and rates the risk, since the
payload carries no severity: opening a port to the world or making a bucket public is HIGH,
a change that opens nothing is INFORMATIONAL, IAM policy writes and internet gateways are
MEDIUM. Failed calls keep their ``errorCode``; the policy ignores them for that reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from remedy.errors import InvalidEvent
from remedy.model import Finding, Resource, ResourceKind, Severity, Source
from remedy.normalise import fields as f
from remedy.normalise.keys import cloudtrail_key
from remedy.normalise.registry import register

DETAIL_TYPE = "AWS API Call via CloudTrail"
PRODUCT = "CloudTrail"
_PARAMS = "detail.requestParameters"

# Bucket-policy condition keys that pin a wildcard principal to known callers; with fixed
# values they make a statement non-public, as S3 itself judges "public".
_PINNING_KEYS = frozenset(
    {
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceip",
        "aws:sourceowner",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
        "s3:dataaccesspointaccount",
        "s3:dataaccesspointarn",
    }
)
_PUBLIC_GROUPS = (
    "acs.amazonaws.com/groups/global/AllUsers",
    "acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
_PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})


# NamedTuples, not frozen dataclasses: built once per event, and a third of the cost.
class Call(NamedTuple):
    """One guarded call as its reader sees it."""

    params: dict[str, Any]
    detail: dict[str, Any]
    account: str
    region: str
    partition: str
    failed: bool


class Reading(NamedTuple):
    """What a reader found: how risky the call is, what it touched, and with what."""

    severity: Severity
    resources: tuple[Resource, ...]
    parameters: dict[str, Any]


Reader = Callable[[Call], Reading]


def normalise_cloudtrail(event: Mapping[str, Any]) -> list[Finding]:
    detail: dict[str, Any] = event["detail"]
    path = "detail"
    event_source = f.req_str(detail, "eventSource", path)
    event_name = f.req_str(detail, "eventName", path)
    service = event_source.partition(".")[0]
    reader = GUARDED.get((event_source, event_name))
    if reader is None:
        if event_source not in _EVENT_SOURCES:
            raise InvalidEvent(
                f"{f.shown(event_source)} is not a guarded event source; guarded: "
                + ", ".join(_EVENT_SOURCES),
                "detail.eventSource",
            )
        raise InvalidEvent(
            f"{f.shown(event_name)} is not a guarded call of {event_source}; guarded: "
            + ", ".join(_GUARDED_NAMES),
            "detail.eventName",
        )
    if event["source"] != f"aws.{service}":
        raise InvalidEvent(
            f"source {f.shown(event['source'])} does not match eventSource {event_source}",
            "source",
        )
    # The envelope account is checked before any normaliser runs, so it is always there.
    account = f.opt_account_id(detail, "recipientAccountId", path) or event["account"]
    region = f.region(detail, "awsRegion", path)
    event_id = f.req_str(detail, "eventID", path)
    identity = f.opt_obj(detail, "userIdentity", path)
    actor = f.opt_str(identity, "arn", "detail.userIdentity") if identity is not None else None
    error_code = f.opt_str(detail, "errorCode", path) or None

    params = f.opt_obj(detail, "requestParameters", path)
    if params is not None:
        call = Call(params, detail, account, region, f.partition_of(region), error_code is not None)
        reading = reader(call)
    elif error_code is not None:
        # A refused call may be logged without its parameters: nothing happened to rate.
        reading = Reading(Severity.INFORMATIONAL, (), {})
    else:
        raise f.missing(path, "requestParameters", "an object")

    finding_type = f"{service}:{event_name}"
    title = finding_type
    if reading.resources:
        title += f" on {reading.resources[0].id}"
    if error_code is not None:
        title += f" (failed: {error_code})"
    # The fields every finding has positionally, as in every normaliser (see securityhub).
    return [
        Finding(
            cloudtrail_key(account, event_id),  # key
            Source.CLOUDTRAIL,  # source
            PRODUCT,  # product
            finding_type,  # type
            reading.severity,  # severity
            account,  # account
            region,  # region
            event["account"],  # envelope_account
            event_id,  # id
            title,  # title
            f.opt_str(detail, "errorMessage", path) or "",  # description
            None,  # category
            reading.resources,  # resources
            (),  # detections
            actor=actor,
            api_call=f"{event_source}:{event_name}",
            error_code=error_code,
            parameters=reading.parameters,
            created_at=f.opt_str(detail, "eventTime", path),
        )
    ]


# --- EC2 -----------------------------------------------------------------------------


def _is_world(cidr: str) -> bool:
    """A prefix length of 0 covers every address: 0.0.0.0/0, ::/0."""
    _, slash, bits = cidr.rpartition("/")
    return bool(slash) and bits.isascii() and bits.isdigit() and int(bits) == 0


def _ranges(item: dict[str, Any], key: str, field: str, path: str) -> list[str]:
    """CIDRs of ``{"items": [{field: cidr}, ...]}``; CloudTrail writes ``{}`` for none."""
    container = f.opt_obj(item, key, path)
    if container is None:
        return []
    container_path = f"{path}.{key}"
    out = []
    for i, entry in enumerate(f.opt_list(container, "items", container_path)):
        # The path is only built for an error: a rule change can list many ranges.
        cidr = entry.get(field) if type(entry) is dict else None
        if type(cidr) is str and cidr:
            out.append(cidr)
            continue
        entry_path = f"{container_path}.items[{i}]"
        if not isinstance(entry, dict):
            raise f.wrong_type(entry_path, "an object", entry)
        out.append(f.req_str(entry, field, entry_path))
    return out


def _permission(item: object, path: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise f.wrong_type(path, "an object", item)
    cidrs_v4 = _ranges(item, "ipRanges", "cidrIp", path)
    cidrs_v6 = _ranges(item, "ipv6Ranges", "cidrIpv6", path)
    return {
        "protocol": f.opt_str(item, "ipProtocol", path),
        "from_port": f.opt_int(item, "fromPort", path),
        "to_port": f.opt_int(item, "toPort", path),
        "cidrs_v4": cidrs_v4,
        "cidrs_v6": cidrs_v6,
        "open_to_world": any(_is_world(c) for c in cidrs_v4) or any(_is_world(c) for c in cidrs_v6),
    }


def _authorize_ingress(call: Call) -> Reading:
    p = call.params
    group_id = f.opt_str(p, "groupId", _PARAMS) or None
    group_name = f.opt_str(p, "groupName", _PARAMS) or None
    target = group_id or group_name
    if target is None:
        raise f.missing(_PARAMS, "groupId", "a security group id (groupId or groupName)")
    permissions_obj = f.opt_obj(p, "ipPermissions", _PARAMS)
    items = []
    if permissions_obj is not None:
        items = f.opt_list(permissions_obj, "items", f"{_PARAMS}.ipPermissions")
    permissions = [
        _permission(item, f"{_PARAMS}.ipPermissions.items[{i}]") for i, item in enumerate(items)
    ]
    open_to_world = any(permission["open_to_world"] for permission in permissions)
    parameters: dict[str, Any] = {"group_id": group_id}
    if group_name is not None:
        parameters["group_name"] = group_name
    parameters["permissions"] = permissions
    parameters["open_to_world"] = open_to_world
    group = Resource(
        kind=ResourceKind.SECURITY_GROUP,
        id=target,
        type="AwsEc2SecurityGroup",
        region=call.region,
    )
    severity = Severity.HIGH if open_to_world else Severity.INFORMATIONAL
    return Reading(severity, (group,), parameters)


def _attach_internet_gateway(call: Call) -> Reading:
    gateway_id = f.req_str(call.params, "internetGatewayId", _PARAMS)
    vpc_id = f.req_str(call.params, "vpcId", _PARAMS)
    gateway = Resource(
        kind=ResourceKind.INTERNET_GATEWAY,
        id=gateway_id,
        type="AwsEc2InternetGateway",
        region=call.region,
        details={"vpc_id": vpc_id},
    )
    return Reading(
        Severity.MEDIUM, (gateway,), {"internet_gateway_id": gateway_id, "vpc_id": vpc_id}
    )


# --- S3 ------------------------------------------------------------------------------


def _bucket(call: Call) -> tuple[str | None, tuple[Resource, ...]]:
    """The bucket and its resource; AWS has logged ``"bucketName": ""``: no bucket then."""
    bucket = f.opt_str(call.params, "bucketName", _PARAMS) or None
    if bucket is None:
        return None, ()
    # Positional (kind, id, type, name, region, bucket): keywords cost more than building
    # the resource (bench/decide.py).
    arn = f"arn:{call.partition}:s3:::{bucket}"
    return bucket, (
        Resource(ResourceKind.S3_BUCKET, arn, "AwsS3Bucket", None, call.region, bucket),
    )


def _document(call: Call, key: str) -> Any:
    """A policy document sent as a JSON object or as JSON text.

    A refused call may carry a document that is not JSON at all (that can be why it was
    refused); it is kept as sent rather than rejecting the event.
    """
    value = call.params.get(key)
    field = f"{_PARAMS}.{key}"
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            if call.failed:
                return value
            raise InvalidEvent(
                "expected a JSON policy document, got text that is not JSON", field
            ) from None
        if isinstance(document, dict):
            return document
        if call.failed:
            return value
        raise f.wrong_type(field, "a JSON policy document (an object)", document)
    if value is None:
        if call.failed:
            return None
        raise f.missing(_PARAMS, key, "a policy document")
    raise f.wrong_type(field, "a policy document (an object or JSON text)", value)


def _is_wildcard(principal: object) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def _is_fixed(values: object) -> bool:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        return False
    return all(isinstance(v, str) and v and "*" not in v and not _is_world(v) for v in values)


def _is_pinned(condition: object) -> bool:
    """Whether a condition limits a wildcard principal to fixed callers."""
    if not isinstance(condition, dict):
        return False
    for operator, clauses in condition.items():
        # Negated and IfExists operators let callers without the key through.
        if "Not" in operator or operator.endswith("IfExists") or not isinstance(clauses, dict):
            continue
        for key, values in clauses.items():
            if key.lower() in _PINNING_KEYS and _is_fixed(values):
                return True
    return False


def _statement_is_public(statement: object) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    # Allow with NotPrincipal grants everyone but the few it names.
    if "NotPrincipal" not in statement and not _is_wildcard(statement.get("Principal")):
        return False
    return not _is_pinned(statement.get("Condition"))


def policy_is_public(document: object) -> bool:
    """Whether a bucket policy grants anything to anyone (a wildcard principal, unpinned)."""
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    return any(_statement_is_public(s) for s in statements)


def _put_bucket_policy(call: Call) -> Reading:
    bucket, resources = _bucket(call)
    document = _document(call, "bucketPolicy")
    public = policy_is_public(document)
    parameters = {"bucket": bucket, "policy": document, "public": public}
    return Reading(Severity.HIGH if public else Severity.INFORMATIONAL, resources, parameters)


def _grants(call: Call) -> list[dict[str, Any]]:
    policy_path = f"{_PARAMS}.AccessControlPolicy"
    policy = f.opt_obj(call.params, "AccessControlPolicy", _PARAMS)
    if policy is None:
        return []
    acl = f.opt_obj(policy, "AccessControlList", policy_path)
    if acl is None:
        return []
    acl_path = f"{policy_path}.AccessControlList"
    raw = acl.get("Grant")
    single = isinstance(raw, dict)
    # The XML-to-JSON conversion gives one object for a single grant, a list for several.
    if single:
        raw = [raw]
    elif raw is None:
        raw = []
    elif not isinstance(raw, list):
        raise f.wrong_type(f"{acl_path}.Grant", "an object or an array", raw)
    grants = []
    for i, grant in enumerate(raw):
        grant_path = f"{acl_path}.Grant" if single else f"{acl_path}.Grant[{i}]"
        if not isinstance(grant, dict):
            raise f.wrong_type(grant_path, "an object", grant)
        grantee = f.opt_obj(grant, "Grantee", grant_path) or {}
        grantee_path = f"{grant_path}.Grantee"
        grants.append(
            {
                "grantee_type": f.opt_str(grantee, "xsi:type", grantee_path),
                "grantee": f.opt_str(grantee, "URI", grantee_path)
                or f.opt_str(grantee, "ID", grantee_path)
                or f.opt_str(grantee, "EmailAddress", grantee_path),
                "permission": f.opt_str(grant, "Permission", grant_path),
            }
        )
    return grants


def _header_values(value: object) -> list[str]:
    """A request header as CloudTrail logs it: a string or a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _put_bucket_acl(call: Call) -> Reading:
    bucket, resources = _bucket(call)
    grants = _grants(call)
    canned = _header_values(call.params.get("x-amz-acl"))
    public = any(
        isinstance(g["grantee"], str) and g["grantee"].endswith(_PUBLIC_GROUPS) for g in grants
    ) or any(acl in _PUBLIC_CANNED_ACLS for acl in canned)
    # Grants can also come as x-amz-grant-* headers naming the groups by URI.
    for name, value in call.params.items():
        if name.startswith("x-amz-grant-") and any(
            group in header for header in _header_values(value) for group in _PUBLIC_GROUPS
        ):
            public = True
    parameters: dict[str, Any] = {"bucket": bucket, "grants": grants, "public": public}
    if canned:
        parameters["canned_acl"] = canned[0]
    return Reading(Severity.HIGH if public else Severity.INFORMATIONAL, resources, parameters)


def _delete_public_access_block(call: Call) -> Reading:
    bucket, resources = _bucket(call)
    return Reading(Severity.HIGH, resources, {"bucket": bucket})


# --- IAM -----------------------------------------------------------------------------


def _iam_policy(policy_id: str, call: Call) -> tuple[Resource, ...]:
    policy = Resource(
        kind=ResourceKind.IAM_POLICY, id=policy_id, type="AwsIamPolicy", region=call.region
    )
    return (policy,)


def _created_policy_arn(call: Call, name: str) -> str:
    """The new policy's ARN from the response, else (a refused call) the ARN it would have."""
    response = f.opt_obj(call.detail, "responseElements", "detail")
    if response is not None:
        policy = f.opt_obj(response, "policy", "detail.responseElements")
        if policy is not None:
            arn = f.opt_str(policy, "arn", "detail.responseElements.policy")
            if arn:
                return arn
    path = f.opt_str(call.params, "path", _PARAMS) or "/"
    return f"arn:{call.partition}:iam::{call.account}:policy{path}{name}"


def _create_policy(call: Call) -> Reading:
    name = f.req_str(call.params, "policyName", _PARAMS)
    arn = _created_policy_arn(call, name)
    parameters = {
        "policy_name": name,
        "policy_arn": arn,
        "policy_document": _document(call, "policyDocument"),
    }
    return Reading(Severity.MEDIUM, _iam_policy(arn, call), parameters)


def _create_policy_version(call: Call) -> Reading:
    arn = f.req_str(call.params, "policyArn", _PARAMS)
    parameters = {
        "policy_arn": arn,
        "policy_document": _document(call, "policyDocument"),
        "set_as_default": bool(f.opt_bool(call.params, "setAsDefault", _PARAMS)),
    }
    return Reading(Severity.MEDIUM, _iam_policy(arn, call), parameters)


def _inline_policy_reader(principal: str) -> Reader:
    """Put{User,Role,Group}Policy: an inline policy on a user, role or group."""
    name_key = f"{principal}Name"

    def read(call: Call) -> Reading:
        name = f.req_str(call.params, name_key, _PARAMS)
        policy_name = f.req_str(call.params, "policyName", _PARAMS)
        parameters = {
            f"{principal}_name": name,
            "policy_name": policy_name,
            "policy_document": _document(call, "policyDocument"),
        }
        inline = Resource(
            kind=ResourceKind.IAM_POLICY,
            id=f"{principal}/{name}/{policy_name}",
            type=f"AwsIam{principal.capitalize()}Policy",
            region=call.region,
            details={f"{principal}_name": name, "policy_name": policy_name},
        )
        return Reading(Severity.MEDIUM, (inline,), parameters)

    return read


GUARDED: dict[tuple[str, str], Reader] = {
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"): _authorize_ingress,
    ("ec2.amazonaws.com", "AttachInternetGateway"): _attach_internet_gateway,
    ("s3.amazonaws.com", "PutBucketPolicy"): _put_bucket_policy,
    ("s3.amazonaws.com", "PutBucketAcl"): _put_bucket_acl,
    ("s3.amazonaws.com", "DeletePublicAccessBlock"): _delete_public_access_block,
    ("iam.amazonaws.com", "CreatePolicy"): _create_policy,
    ("iam.amazonaws.com", "CreatePolicyVersion"): _create_policy_version,
    ("iam.amazonaws.com", "PutUserPolicy"): _inline_policy_reader("user"),
    ("iam.amazonaws.com", "PutRolePolicy"): _inline_policy_reader("role"),
    ("iam.amazonaws.com", "PutGroupPolicy"): _inline_policy_reader("group"),
}
_EVENT_SOURCES = tuple(sorted({source for source, _ in GUARDED}))
_GUARDED_NAMES = tuple(f"{source.partition('.')[0]}:{name}" for source, name in GUARDED)

# Event names are unique across the three services, so listing sources and names
# separately matches exactly the guarded pairs.
EVENT_PATTERN: dict[str, Any] = {
    "source": [f"aws.{source.partition('.')[0]}" for source in _EVENT_SOURCES],
    "detail-type": [DETAIL_TYPE],
    "detail": {
        "eventSource": list(_EVENT_SOURCES),
        "eventName": sorted({name for _, name in GUARDED}),
    },
}

register("cloudtrail", EVENT_PATTERN)(normalise_cloudtrail)
