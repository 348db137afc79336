"""Instances, principals and GuardDuty findings about them, on the guard tests' moto world.

`Target` is one member instance as a real workload has it: two interfaces (one with two
security groups), two EBS volumes, an instance profile whose role has a policy of its
own, in an Auto Scaling group. `Calls` records (and can fail) every AWS call the
remediation role makes, through botocore's own event hooks on the clients remedy uses.
The findings are the demo's (`remedy.demo.containment`): built with the Finding model in
the shapes the GuardDuty normalisers produce (an ``ec2-instance`` resource named by its
id; an ``iam-access-key`` resource).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from moto.iam.exceptions import IAMException

from fixtures_guard import MEMBERS, REGION, ROLE, Core, admin, enforced, install_role
from remedy.actions.contain_principal import ContainPrincipal
from remedy.actions.isolate_instance import IsolateInstance
from remedy.actions.outcome import Outcome
from remedy.actions.reversible import ReversibleAction, Undo
from remedy.demo.containment import (
    C2,
    EXFILTRATION,
    containment_finding,
    instance_resource,
    key_resource,
)
from remedy.model import Finding

GROUP = "web"
_AMI = "ami-12c6146b"


@dataclass
class Network:
    vpc: str
    subnet: str
    app: str
    ssh: str


def install_policy(account: str, permissions: Iterable[str]) -> None:
    """Replace the remediation role's grant with exactly `permissions`."""
    admin(account, "iam").put_role_policy(
        RoleName=ROLE,
        PolicyName="remediation",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": sorted(permissions), "Resource": "*"}],
            }
        ),
    )


def network(account: str) -> Network:
    ec2 = admin(account, "ec2")
    # Dual stack, as the transit group opens IPv6 too (moto revokes IPv6 egress rules only
    # in a VPC that has an IPv6 block).
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ssh = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
    return Network(vpc, subnet, app, ssh)


def profile(account: str, name: str = "web") -> str:
    """An instance profile whose role has an inline policy of its own; its ARN."""
    iam = admin(account, "iam")
    iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(
        RoleName=f"{name}-role",
        PolicyName="app",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=f"{name}-role")
    arn: str = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    return arn


def scaling_group(account: str, net: Network) -> None:
    """An empty group instances are attached to (min 0, so standby lowers the desired)."""
    ec2 = admin(account, "ec2")
    ec2.create_launch_template(
        LaunchTemplateName="web-template",
        LaunchTemplateData={"ImageId": _AMI, "InstanceType": "t3.micro"},
    )
    admin(account, "autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "web-template"},
        MinSize=0,
        MaxSize=100,
        DesiredCapacity=0,
        VPCZoneIdentifier=net.subnet,
    )


def member(account: str) -> tuple[Network, str]:
    """isolate-instance's remediation role, a VPC, the Auto Scaling group and an instance
    profile; the network and the profile's ARN."""
    install_role(account, IsolateInstance.permissions)
    net = network(account)
    scaling_group(account, net)
    return net, profile(account)


def instance(
    account: str, net: Network, profile_arn: str | None = None, *, in_group: bool = True
) -> str:
    """A running instance: interfaces [app, ssh] and [app], two volumes, the profile."""
    ec2 = admin(account, "ec2")
    extra: dict[str, Any] = {"IamInstanceProfile": {"Arn": profile_arn}} if profile_arn else {}
    found = ec2.run_instances(
        ImageId=_AMI,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": net.subnet, "Groups": [net.app, net.ssh]}
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}],
        **extra,
    )["Instances"][0]
    instance_id: str = found["InstanceId"]
    second = ec2.create_network_interface(SubnetId=net.subnet, Groups=[net.app])
    ec2.attach_network_interface(
        NetworkInterfaceId=second["NetworkInterface"]["NetworkInterfaceId"],
        InstanceId=instance_id,
        DeviceIndex=1,
    )
    volume = ec2.create_volume(AvailabilityZone=found["Placement"]["AvailabilityZone"], Size=8)
    ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance_id, Device="/dev/sdf")
    if in_group:
        admin(account, "autoscaling").attach_instances(
            InstanceIds=[instance_id], AutoScalingGroupName=GROUP
        )
    return instance_id


def instance_finding(
    account: str, instance_id: str, *, key: str = "gd-c2-1", sample: bool = False
) -> Finding:
    resource = instance_resource(account, REGION, instance_id)
    return containment_finding(account, REGION, C2, resource, key=key, sample=sample)


def key_finding(
    account: str,
    key_id: str,
    name: str,
    *,
    user_type: str = "IAMUser",
    key: str = "gd-exfil-1",
    sample: bool = False,
) -> Finding:
    resource = key_resource(
        key_id, name, principal_id=principal_id(account, name, user_type), user_type=user_type
    )
    return containment_finding(account, REGION, EXFILTRATION, resource, key=key, sample=sample)


def principal_id(account: str, name: str, user_type: str = "IAMUser") -> str:
    """What GuardDuty names the principal by (``accessKeyDetails.principalId``): a user's
    unique id, an assumed role's ``<role id>:<session>``; one of no one where none exists
    or it cannot be read (inside ``enforced()`` the admin is refused; those tests end
    before remedy compares ids)."""
    iam = admin(account, "iam")
    try:
        if user_type == "AssumedRole":
            return str(iam.get_role(RoleName=name)["Role"]["RoleId"]) + ":i-0session"
        return str(iam.get_user(UserName=name)["User"]["UserId"])
    except (ClientError, IAMException):
        return "AIDANOSUCHPRINCIPAL"


def user_with_key(account: str, name: str = "deploy") -> str:
    """A user with one active access key; the key's id."""
    iam = admin(account, "iam")
    iam.create_user(UserName=name)
    key: str = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return key


def principal_state(account: str, user: str) -> dict[str, Any]:
    """Everything a containment of `user` changes, as the member account reads it."""
    iam = admin(account, "iam")
    return {
        "keys": [
            (k["AccessKeyId"], k["Status"])
            for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        ],
        "policies": iam.list_user_policies(UserName=user)["PolicyNames"],
        "tags": iam.list_user_tags(UserName=user)["Tags"],
    }


def revocation(stamp: str) -> list[dict[str, Any]]:
    """The statements of remedy's inline policy revoking sessions issued before `stamp`."""
    return [
        {
            "Sid": "RemedyRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
        }
    ]


def state_of(account: str, instance_id: str) -> dict[str, Any]:
    """Everything an isolation changes, as the member account reads it."""
    ec2 = admin(account, "ec2")
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    enis = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[n["NetworkInterfaceId"] for n in found["NetworkInterfaces"]]
    )["NetworkInterfaces"]
    scaling = admin(account, "autoscaling")
    member = scaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
        "AutoScalingInstances"
    ]
    out: dict[str, Any] = {
        "state": found["State"]["Name"],
        "tags": sorted((t["Key"], t["Value"]) for t in found.get("Tags", [])),
        "interfaces": sorted(
            (
                e["NetworkInterfaceId"],
                tuple(g["GroupId"] for g in e["Groups"]),
                tuple(sorted((t["Key"], t["Value"]) for t in e.get("TagSet", []))),
            )
            for e in enis
        ),
        "termination_protection": ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"],
        "auto_scaling": [(m["AutoScalingGroupName"], m["LifecycleState"]) for m in member],
    }
    if member:
        group = scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
        out["desired"] = group["AutoScalingGroups"][0]["DesiredCapacity"]
    if "IamInstanceProfile" in found:
        iam = admin(account, "iam")
        name = found["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
        role = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"][0]
        out["role_policies"] = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    return out


def snapshots(account: str, ledger_key: str) -> list[dict[str, Any]]:
    found = admin(account, "ec2").describe_snapshots(
        OwnerIds=[account],
        Filters=[{"Name": "tag:remedy:ledger-key", "Values": [ledger_key]}],
    )["Snapshots"]
    return sorted(found, key=lambda s: s["VolumeId"])


def groups_named(account: str, vpc: str, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin(account, "ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    return found


@dataclass
class Calls:
    """The AWS operations the remediation role made, in order; `fail_at` makes the call
    of that index (0-based) fail as AWS does when it is unavailable."""

    names: list[str] = field(default_factory=list)
    fail_at: int | None = None

    def __call__(self, model: Any, **_: Any) -> None:
        index = len(self.names)
        self.names.append(model.name)
        if index == self.fail_at:
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "injected fault"}},
                model.name,
            )

    @property
    def changes(self) -> list[str]:
        """The calls that change something (not Describe, Get or List)."""
        return [n for n in self.names if not n.startswith(("Describe", "Get", "List"))]


@contextmanager
def recorded(
    core: Core, account: str, fail_at: int | None = None, key: str = "x"
) -> Iterator[Calls]:
    """Record the remediation role's calls in `account` (EC2, Auto Scaling and IAM)."""
    calls = Calls(fail_at=fail_at)
    clients = [
        core.sessions.client(service, account, REGION, finding_key=key)
        for service in ("ec2", "autoscaling", "iam")
    ]
    for client in clients:
        client.meta.events.register("before-call.*.*", calls)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", calls)


@dataclass
class Containing:
    """A containment on the primed core and the finding it acts on; `subject` is what the
    finding names (the instance's or the access key's id)."""

    action: ReversibleAction
    found: Finding
    subject: str

    def run(self, options: Mapping[str, Any] | None = None, *, resume: bool = False) -> Outcome:
        """Run the action on the finding, the member role's policy enforced."""
        with enforced():
            return self.action.run(self.found, options or {}, resume=resume)

    def release(self, attrs: Mapping[str, Any]) -> Undo:
        with enforced():
            return self.action.release(self.found, attrs)


@dataclass
class Isolating(Containing):
    net: Network
    profile: str


def isolating(core: Core) -> Isolating:
    """The `isolating` fixture: the first member's workload instance (`member`,
    `instance`), isolate-instance on the core primed for it, and a C&C finding on it."""
    account = MEMBERS[0]
    net, arn = member(account)
    target = instance(account, net, arn)
    core.prime(account)
    action = IsolateInstance(core.sessions, core.settings)
    return Isolating(action, instance_finding(account, target), target, net, arn)


def deploy(core: Core) -> Containing:
    """The `deploy` fixture: the first member's user ``deploy`` with an active key,
    contain-principal on the core primed for it, and a stolen-key finding on the key."""
    account = MEMBERS[0]
    install_role(account, ContainPrincipal.permissions)
    key = user_with_key(account)
    core.prime(account)
    action = ContainPrincipal(core.sessions, core.settings)
    return Containing(action, key_finding(account, key, "deploy"), key)
