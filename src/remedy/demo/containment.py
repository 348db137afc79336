"""The demo's containment step: GuardDuty's two commonest threats, contained and undone.

1. A C&C finding (``Backdoor:EC2/C&CActivity.B``, HIGH) on an instance in a member: the
   default policy isolates it at once (snapshots of its volumes, interfaces on the
   isolation group, standby in its Auto Scaling group, its profile role's sessions
   revoked) and asks the approvers in Slack; the approver releases it from Slack, and the
   member is read back: everything as it was, the snapshots kept.
2. A stolen-credential finding (``…InstanceCredentialExfiltration.OutsideAWS``, HIGH) on a
   user's access key: sessions revoked and the key deactivated, read back from the member.

The two findings are built with the Finding model in the shape the GuardDuty normaliser
gives (`remedy.normalise.guardduty`), and handed to the findings function's own
pipeline in its process (`LocalFunction.call`): decided by the shipped policy, recorded,
contained and announced as any finding is.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from remedy.demo.approval import Approver
from remedy.demo.lambda_runtime import LocalFunction, LocalLambda
from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import Organisation
from remedy.demo.report import Claim, Progress
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, LedgerStore, State
from remedy.model import Finding, Resource, ResourceKind, Severity, Source
from remedy.notify.slack_message import QUARANTINE_ACTION
from remedy.policy import Policy

C2 = "Backdoor:EC2/C&CActivity.B"
EXFILTRATION = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
_AMI = "ami-12c6146b"


class Demo(Protocol):
    aws: LocalAWS
    org: Organisation
    slack: SlackServer
    progress: Progress
    policy: Policy


def show(
    demo: Demo,
    service: LocalLambda,
    findings: LocalFunction,
    interactions: LocalFunction,
    store: LedgerStore,
) -> list[Claim]:
    account = demo.org.members[0]
    session = demo.aws.session(account)
    instance = workload(session)
    before = read_back(session, instance)
    demo.progress(f"containment: instance {instance} in {account}, in Auto Scaling group web")
    entry = _handle(
        findings,
        containment_finding(
            account, demo.aws.region, C2, instance_resource(account, demo.aws.region, instance)
        ),
    )
    isolated = read_back(session, instance)
    demo.progress(f"  {C2} on {instance}: {entry.state.value}: {_note(entry)}")
    claims = [_isolated(entry, instance, isolated)]
    # The notifier records where it posted on the entry after `handle` returned it.
    claims.append(_shown(demo.slack, store.get(entry.key) or entry))

    approver = Approver(
        service,
        demo.slack,
        interactions,
        signing_secret=demo.org.signing_secret,
        route=interactions.function.route,
        api_id=interactions.function.api_id,
    )
    user = demo.policy.accounts.get(account).approvers.users[0]
    click = approver.click(entry.key, QUARANTINE_ACTION, user)
    released = store.get(entry.key)
    after = read_back(session, instance)
    demo.progress(
        f"  {user} approved (release) from Slack: HTTP {click.status}; "
        f"{released.state.value if released else 'no entry'}"
    )
    claims.append(_released(released, before, after, isolated))

    key = user_with_key(session)
    stolen = _handle(
        findings,
        containment_finding(
            account,
            demo.aws.region,
            EXFILTRATION,
            key_resource(key, "ci-deploy", principal_id=user_id(session, "ci-deploy")),
        ),
    )
    demo.progress(f"  {EXFILTRATION} on {key}: {stolen.state.value}: {_note(stolen)}")
    claims.append(_contained(session, stolen, key))
    return claims


def _handle(findings: LocalFunction, finding: Finding) -> Entry:
    def step() -> Entry:
        from remedy.handlers import findings as handler

        try:
            return handler.runtime.pipeline.handle(finding)
        finally:
            handler.runtime.flush()

    return findings.call(step)


def containment_finding(
    account: str,
    region: str,
    type: str,
    resource: Resource,
    *,
    key: str | None = None,
    sample: bool = False,
) -> Finding:
    """A HIGH GuardDuty threat finding about `resource`, in the shape the GuardDuty
    normalisers give; its key is named for the resource unless `key` says, its id follows
    the key."""
    key = key or f"demo-guardduty-{resource.name or resource.id}"
    return Finding(
        key=key,
        source=Source.GUARDDUTY,
        product="GuardDuty",
        type=type,
        severity=Severity.HIGH,
        account=account,
        region=region,
        envelope_account=account,
        id=f"finding-{key}",
        title=f"GuardDuty {type}",
        resources=(resource,),
        sample=sample,
    )


def instance_resource(account: str, region: str, instance: str) -> Resource:
    """An instance as GuardDuty's normaliser names it: by its ARN and its id."""
    return Resource(
        ResourceKind.EC2_INSTANCE,
        f"arn:aws:ec2:{region}:{account}:instance/{instance}",
        type="Instance",
        name=instance,
        region=region,
    )


def key_resource(
    key_id: str, name: str, *, principal_id: str, user_type: str = "IAMUser"
) -> Resource:
    """An access key as GuardDuty's normaliser names it: its id, and the user or role
    (`name`, of `user_type`) it belongs to."""
    return Resource(
        ResourceKind.IAM_ACCESS_KEY,
        key_id,
        type="AccessKey",
        name=name,
        details={"principal_id": principal_id, "user_type": user_type},
    )


def workload(session: Any) -> str:
    """A web server as it runs: two security groups, an extra volume, an instance profile
    whose role has its own policy, in an Auto Scaling group; its instance id."""
    ec2, iam = session.client("ec2"), session.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.20.1.0/24")["Subnet"]
    groups = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc["VpcId"])["GroupId"]
        for name in ("web", "admin")
    ]
    iam.create_role(RoleName="web-server", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="web-server")
    iam.add_role_to_instance_profile(InstanceProfileName="web-server", RoleName="web-server")
    profile = iam.get_instance_profile(InstanceProfileName="web-server")["InstanceProfile"]
    ec2.create_launch_template(
        LaunchTemplateName="web-server", LaunchTemplateData={"ImageId": _AMI}
    )
    scaling = session.client("autoscaling")
    scaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web-server"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet["SubnetId"],
    )
    found = ec2.run_instances(
        ImageId=_AMI,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": groups}],
        IamInstanceProfile={"Arn": profile["Arn"]},
    )["Instances"][0]
    instance: str = found["InstanceId"]
    volume = ec2.create_volume(AvailabilityZone=found["Placement"]["AvailabilityZone"], Size=8)
    ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance, Device="/dev/sdf")
    scaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName="web")
    return instance


def user_with_key(session: Any) -> str:
    iam = session.client("iam")
    iam.create_user(UserName="ci-deploy")
    key: str = iam.create_access_key(UserName="ci-deploy")["AccessKey"]["AccessKeyId"]
    return key


def user_id(session: Any, name: str) -> str:
    """The user's unique id: what GuardDuty names the principal by (``principalId``)."""
    found: str = session.client("iam").get_user(UserName=name)["User"]["UserId"]
    return found


def read_back(session: Any, instance: str) -> dict[str, Any]:
    """What isolation changes, as the member reads it (snapshots apart: they stay)."""
    ec2 = session.client("ec2")
    found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    member = session.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance])[
        "AutoScalingInstances"
    ]
    return {
        "groups": {
            n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
            for n in found["NetworkInterfaces"]
        },
        "tags": sorted((t["Key"], t["Value"]) for t in found.get("Tags", [])),
        "termination_protection": ec2.describe_instance_attribute(
            InstanceId=instance, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"],
        "auto_scaling": [m["LifecycleState"] for m in member],
        "role_policies": session.client("iam").list_role_policies(RoleName="web-server")[
            "PolicyNames"
        ],
        "snapshots": sorted(
            s["SnapshotId"]
            for s in ec2.describe_snapshots(
                OwnerIds=["self"],
                Filters=[{"Name": "tag:remedy:instance", "Values": [instance]}],
            )["Snapshots"]
        ),
    }


def _note(entry: Entry) -> str:
    return next((h.note for h in reversed(entry.history) if h.target == entry.state), "")


def _isolated(entry: Entry, instance: str, now: dict[str, Any]) -> Claim:
    isolation = set((entry.attrs.get("isolation_groups") or {}).values())
    ok = (
        entry.state is State.QUARANTINED
        and bool(entry.attrs.get("awaiting_approval"))
        and bool(isolation)
        and all(set(groups) == isolation for groups in now["groups"].values())
        and len(now["snapshots"]) == 2
        and now["termination_protection"] is True
        and now["auto_scaling"] == ["Standby"]
        and len(now["role_policies"]) == 1
    )
    return Claim(
        f"the C&C finding on {instance} isolated it at once: {len(now['snapshots'])} "
        "snapshots taken, interfaces on the isolation group, standby, sessions revoked, "
        "and the approvers asked",
        ok,
        "" if ok else f"{entry.state.value}: {json.dumps(now, default=str)}",
    )


def _shown(slack: SlackServer, entry: Entry) -> Claim:
    where = entry.attrs.get("slack") or {}
    try:
        message = slack.message(str(where.get("channel")), str(where.get("ts")))
        text = json.dumps(message.blocks) + message.text
    except KeyError:
        text = ""
    snapshots = [s["snapshot_id"] for s in entry.attrs.get("snapshots", [])]
    ok = bool(snapshots) and all(s in text for s in snapshots) and "Release would" in text
    return Claim(
        "Slack shows what was contained, the evidence taken and what a release would restore",
        ok,
        "" if ok else f"message at {where}: {text[:300]}",
    )


def _released(
    entry: Entry | None, before: dict[str, Any], after: dict[str, Any], isolated: dict[str, Any]
) -> Claim:
    same = {k: v for k, v in after.items() if k != "snapshots"} == {
        k: v for k, v in before.items() if k != "snapshots"
    }
    ok = (
        entry is not None
        and entry.state is State.RELEASED
        and same
        and after["snapshots"] == isolated["snapshots"]
    )
    return Claim(
        "released from Slack: the member reads back every interface's groups, the Auto "
        "Scaling state, the profile role and termination protection as before; the "
        "snapshots are kept",
        ok,
        "" if ok else f"{entry.state.value if entry else 'no entry'}: {after} vs {before}",
    )


def _contained(session: Any, entry: Entry, key: str) -> Claim:
    iam = session.client("iam")
    keys = iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"]
    policies = iam.list_user_policies(UserName="ci-deploy")["PolicyNames"]
    ok = (
        entry.state is State.QUARANTINED
        and [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key, "Inactive")]
        and policies == [entry.attrs.get("policy_name")]
    )
    return Claim(
        f"the stolen-credential finding revoked ci-deploy's sessions and deactivated {key} "
        "(not deleted)",
        ok,
        "" if ok else f"{entry.state.value}: keys {keys}, policies {policies}",
    )
