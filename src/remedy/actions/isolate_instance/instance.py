"""The instance as EC2 has it now, and which service a failed call belonged to."""

from __future__ import annotations

from typing import Any

from remedy.actions import aws_errors
from remedy.model import Resource

_GONE_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
ENDED = frozenset({"shutting-down", "terminated"})
#: The calls not made to EC2, by the IAM prefix their permission has.
_SERVICE_OF = {
    **dict.fromkeys(
        (
            "DescribeAutoScalingInstances",
            "DescribeAutoScalingGroups",
            "EnterStandby",
            "ExitStandby",
        ),
        "autoscaling",
    ),
    **dict.fromkeys(
        ("GetInstanceProfile", "GetRolePolicy", "PutRolePolicy", "DeleteRolePolicy"), "iam"
    ),
}


def instance_id(resource: Resource) -> str:
    return resource.name or resource.id.rsplit("/", 1)[-1]


def describe(ec2: Any, instance: str, account: str) -> dict[str, Any] | None:
    """The instance as EC2 describes it now, if the finding's account owns it."""
    try:
        reservations = ec2.describe_instances(
            InstanceIds=[instance], Filters=[{"Name": "owner-id", "Values": [account]}]
        )["Reservations"]
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) in _GONE_CODES:
            return None
        raise
    found = [i for r in reservations for i in r.get("Instances", [])]
    return found[0] if found else None


def service_of(error: Exception) -> str:
    """The IAM prefix of the failed call's permission."""
    return _SERVICE_OF.get(getattr(error, "operation_name", ""), "ec2")
