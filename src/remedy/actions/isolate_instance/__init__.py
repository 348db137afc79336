"""Isolate a compromised EC2 instance, keeping evidence, so that it can be released.

Triggers: GuardDuty's instance findings (``Backdoor:EC2/C&CActivity.B``,
``CryptoCurrency:EC2/BitcoinTool.B``, ``UnauthorizedAccess:EC2/TorClient``, ``Trojan:EC2/*``
and the Runtime Monitoring types), read into an ``ec2-instance`` resource. The instance
is read from EC2 itself (owner pinned to the finding's account), never from the finding.

Steps, each recorded before the next (in the outcome, and in tags for a rerun:
`records`):

1. Evidence: a snapshot of every EBS volume, tagged with the finding, the ledger key, the
   instance and the volume; termination protection on.
2. Network: every interface moves, through the transit group, to its VPC's isolation
   group, which has no rules, so tracked connections end too (`network`).
3. Auto Scaling: an instance in service goes to standby, so the group neither replaces
   nor terminates it (lowering the desired capacity when the minimum allows).
4. Credentials: the sessions of its instance profile's role are revoked
   (`remedy.actions.revoke_sessions`), unless that role must not be contained (then the
   outcome says why). The profile stays associated: re-associating needs iam:PassRole,
   which the remediation role does not get.

Release first checks the instance is as remedy left it (every interface on the isolation
group, still in standby) and refuses, saying what changed, if not. Then it puts each
interface's groups back, returns the instance to service, removes the revocation, turns
termination protection back to what it was and deletes remedy's tags. Snapshots are
never deleted: they are evidence, kept by the account's own retention.

Example policy rule::

    - id: isolate-compromised-instances
      match:
        source: [guardduty]
        type: ["Backdoor:EC2/*", "CryptoCurrency:EC2/*", "Trojan:EC2/*"]
        min_severity: HIGH
      action: approve
      remediation: isolate-instance
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from remedy.actions import aws_errors, revoke_sessions
from remedy.actions.containment import Containment, foreign, refused_sample
from remedy.actions.isolate_instance import network, records
from remedy.actions.isolate_instance.instance import ENDED, describe, instance_id, service_of
from remedy.actions.isolate_instance.release import release
from remedy.actions.outcome import Outcome
from remedy.actions.registry import register
from remedy.actions.reversible import Undo
from remedy.actions.revoke_sessions import Principal
from remedy.ledger.base import State
from remedy.model import Finding, ResourceKind


@register("isolate-instance")
class IsolateInstance(Containment):
    """Snapshot, network-isolate, stand by and revoke an instance; release restores it."""

    permissions = frozenset(
        {
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:ModifyInstanceAttribute",
            "ec2:CreateTags",
            "ec2:DeleteTags",
            "ec2:DescribeSnapshots",
            "ec2:CreateSnapshot",
            "ec2:DescribeNetworkInterfaces",
            "ec2:ModifyNetworkInterfaceAttribute",
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:EnterStandby",
            "autoscaling:ExitStandby",
            "iam:GetInstanceProfile",
            *revoke_sessions.PERMISSIONS["role"],
        }
    )
    resource_kinds = frozenset({ResourceKind.EC2_INSTANCE.value})

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        sample = refused_sample(finding)
        if sample is not None:
            return sample
        resource = next((r for r in finding.resources if r.kind is ResourceKind.EC2_INSTANCE), None)
        if resource is None:
            return Outcome(State.FAILED, "the finding names no EC2 instance; nothing changed")
        wrong = foreign(finding, resource)
        if wrong is not None:
            return wrong
        instance = instance_id(resource)
        region = resource.region or finding.region
        account = finding.account
        done: dict[str, Any] = {"instance_id": instance, "region": region}
        said: list[str] = []
        try:
            ec2 = self._client("ec2", finding, region)
            found = describe(ec2, instance, account)
            if found is None or found["State"]["Name"] in ENDED:
                now = "is terminated" if found is not None else "no longer exists"
                return Outcome(State.GONE, f"instance {instance} {now} in {account} {region}")
            marker = records.short(finding.key)
            tags = records.tags_of(found)
            other = tags.get(records.ISOLATED_FOR)
            if other is not None and other != marker:
                if not network.isolated(ec2, found, account):
                    return Outcome(
                        State.FAILED,
                        f"refused: instance {instance} in {account} {region} is tagged "
                        f"{records.ISOLATED_FOR}={other} but its interfaces are not on "
                        f"{network.ISOLATION_GROUP}: that isolation did not finish, or the tag "
                        f"was written in the account; nothing changed. Look up ledger entry "
                        f"{other}; if there is none, delete the tag and approve again",
                    )
                return Outcome(
                    State.GONE,
                    f"instance {instance} in {account} {region} is already isolated for "
                    f"ledger entry {other}; nothing changed",
                )
            # A first attempt (the ledger knows of none, or our marker, written first, is
            # not there) has written nothing: remedy:* tags already here were written by
            # someone in the account (who can read the finding and so its ledger key).
            fresh = other is None or not resume
            if fresh:
                tags = {k: v for k, v in tags.items() if not k.startswith(records.PREFIX)}
            if other is None:
                records.write(ec2, instance, records.ISOLATED_FOR, marker)
            self._evidence(ec2, finding, found, tags, done)
            self._network(ec2, found, account, done, said, fresh=fresh)
            self._scaling(ec2, finding, region, found, tags, done, said)
            self._profile(finding, found, options, done, said)
        except aws_errors.AWS_ERRORS as error:
            failed = aws_errors.failure(
                error,
                account=account,
                doing=f"isolating instance {instance}",
                service=service_of(error),
            )
            return Outcome(failed.state, _progress(failed.reason, done), done)
        return Outcome(State.QUARANTINED, _summary(instance, account, region, done, said), done)

    def _client(self, service: str, finding: Finding, region: str) -> Any:
        return self.sessions.client(service, finding.account, region, finding_key=finding.key)

    # --- 1. evidence ---------------------------------------------------------------------

    def _evidence(
        self,
        ec2: Any,
        finding: Finding,
        instance: Mapping[str, Any],
        tags: Mapping[str, str],
        done: dict[str, Any],
    ) -> None:
        instance_id = instance["InstanceId"]
        volumes = [
            b["Ebs"]["VolumeId"] for b in instance.get("BlockDeviceMappings", []) if "Ebs" in b
        ]
        marker = records.short(finding.key)
        taken = ec2.describe_snapshots(
            OwnerIds=[finding.account],
            Filters=[
                {"Name": f"tag:{records.SNAPSHOT_LEDGER_KEY}", "Values": [marker]},
                {"Name": f"tag:{records.SNAPSHOT_INSTANCE}", "Values": [instance_id]},
            ],
        )["Snapshots"]
        by_volume = {
            records.tags_of(s).get(records.SNAPSHOT_VOLUME): s["SnapshotId"] for s in taken
        }
        snapshots = done.setdefault("snapshots", [])
        for volume in volumes:
            snapshot = by_volume.get(volume)
            if snapshot is None:
                snapshot = ec2.create_snapshot(
                    VolumeId=volume,
                    Description=(
                        f"remedy evidence: {finding.type} on {instance_id} (ledger {finding.key})"
                    )[:255],
                    TagSpecifications=[
                        {
                            "ResourceType": "snapshot",
                            "Tags": [
                                {
                                    "Key": records.SNAPSHOT_FINDING,
                                    "Value": records.short(finding.id),
                                },
                                {"Key": records.SNAPSHOT_LEDGER_KEY, "Value": marker},
                                {"Key": records.SNAPSHOT_INSTANCE, "Value": instance_id},
                                {"Key": records.SNAPSHOT_VOLUME, "Value": volume},
                            ],
                        }
                    ],
                )["SnapshotId"]
            snapshots.append({"volume_id": volume, "snapshot_id": snapshot})
        recorded = tags.get(records.PRIOR_TERMINATION)
        on = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"]
        if recorded is None:
            recorded = "true" if on else "false"
            if not on:
                records.write(ec2, instance_id, records.PRIOR_TERMINATION, recorded)
        if not on:
            ec2.modify_instance_attribute(
                InstanceId=instance_id, DisableApiTermination={"Value": True}
            )
        done["termination_protection_before"] = recorded == "true"

    # --- 2. network ----------------------------------------------------------------------

    def _network(
        self,
        ec2: Any,
        instance: Mapping[str, Any],
        account: str,
        done: dict[str, Any],
        said: list[str],
        *,
        fresh: bool,
    ) -> None:
        enis = network.interfaces(ec2, instance, account)
        if fresh:
            enis = [e.unrecorded() for e in enis]
        vpcs = {e.vpc_id for e in enis}
        if not vpcs:
            said.append("it has no network interface to isolate")
            done["interfaces"] = []
            return
        groups = network.groups_by_name(ec2, vpcs, account)
        isolation: dict[str, str] = {}
        for vpc in sorted(vpcs):
            group = groups.get((vpc, network.ISOLATION_GROUP))
            if group is None:
                group = network.create(ec2, vpc, network.ISOLATION_GROUP, account)
            network.empty(ec2, group)
            isolation[vpc] = group["GroupId"]
        done["isolation_groups"] = isolation
        transit_ids = {
            g["GroupId"] for (_, name), g in groups.items() if name == network.TRANSIT_GROUP
        }
        recorded = done.setdefault("interfaces", [])
        pending = []
        for eni in enis:
            mine = eni.groups in ((isolation[eni.vpc_id],), *((t,) for t in transit_ids))
            prior = eni.recorded if mine else eni.groups
            if not mine and eni.recorded != eni.groups:
                records.write(ec2, eni.id, records.PRIOR_GROUPS, " ".join(eni.groups))
            recorded.append(
                {
                    "id": eni.id,
                    "vpc_id": eni.vpc_id,
                    "prior_groups": list(prior) if prior is not None else None,
                }
            )
            if eni.groups != (isolation[eni.vpc_id],):
                pending.append(eni)
        transit: dict[str, dict[str, Any]] = {}
        for vpc in sorted({e.vpc_id for e in pending}):
            group = groups.get((vpc, network.TRANSIT_GROUP))
            if group is None:
                group = network.create(ec2, vpc, network.TRANSIT_GROUP, account)
            network.allow_all(ec2, group)
            transit[vpc] = group
        for eni in pending:
            if eni.groups != (transit[eni.vpc_id]["GroupId"],):
                network.move(ec2, eni.id, [transit[eni.vpc_id]["GroupId"]])
        for eni in pending:
            network.move(ec2, eni.id, [isolation[eni.vpc_id]])
        # Whatever an earlier attempt left on a transit group goes too: re-read, as the
        # allow-all rules were just added to some.
        leftover = [
            g
            for (_, name), g in network.groups_by_name(ec2, vpcs, account).items()
            if name == network.TRANSIT_GROUP
        ]
        for group in leftover:
            network.empty(ec2, group)

    # --- 3. Auto Scaling -----------------------------------------------------------------

    def _scaling(
        self,
        ec2: Any,
        finding: Finding,
        region: str,
        instance: Mapping[str, Any],
        tags: Mapping[str, str],
        done: dict[str, Any],
        said: list[str],
    ) -> None:
        instance_id = instance["InstanceId"]
        autoscaling = self._client("autoscaling", finding, region)
        found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
            "AutoScalingInstances"
        ]
        if not found:
            return
        group, state = found[0]["AutoScalingGroupName"], found[0]["LifecycleState"]
        recorded = records.joined(tags, records.PRIOR_SCALING)
        prior: dict[str, Any] = {"group": group, "state": state, "decremented": False}
        if recorded is not None:
            was, decremented, was_group = recorded.split(" ", 2)
            if was_group == group:
                prior = {"group": group, "state": was, "decremented": decremented == "yes"}
        if state == "InService":
            described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
            size = described["AutoScalingGroups"][0]
            decrement = size["DesiredCapacity"] > size["MinSize"]
            prior = {"group": group, "state": state, "decremented": decrement}
            records.write(
                ec2,
                instance_id,
                records.PRIOR_SCALING,
                f"InService {'yes' if decrement else 'no'} {group}",
            )
            autoscaling.enter_standby(
                InstanceIds=[instance_id],
                AutoScalingGroupName=group,
                ShouldDecrementDesiredCapacity=decrement,
            )
        elif state != "Standby":
            said.append(f"its Auto Scaling group {group} has it {state}: left as it is")
        done["auto_scaling"] = prior

    # --- 4. the instance profile's sessions ------------------------------------------------

    def _profile(
        self,
        finding: Finding,
        instance: Mapping[str, Any],
        options: Mapping[str, Any],
        done: dict[str, Any],
        said: list[str],
    ) -> None:
        arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
        if not arn:
            return
        iam = self._client("iam", finding, finding.region)
        name = arn.rsplit("/", 1)[-1]
        roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        if not roles:
            done["profile"] = {"arn": arn}
            said.append(f"its instance profile {name} has no role: no sessions to revoke")
            return
        role = roles[0]
        principal = Principal("role", role["RoleName"], finding.account, role.get("Path", "/"))
        why = revoke_sessions.refusal(principal, self.settings, options.get("break_glass", ()))
        if why is not None:
            done["profile"] = {"arn": arn, "role": principal.name, "refused": why}
            said.append(f"sessions not revoked: {why}")
            return
        policy, stamp, _ = revoke_sessions.put(iam, principal, finding.key, datetime.now(UTC))
        done["profile"] = {
            "arn": arn,
            "role": principal.name,
            "policy_name": policy,
            "revoked_before": stamp,
        }

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        return release(
            lambda service, region: self._client(service, finding, region), finding, attrs
        )


def evidence_text(done: Mapping[str, Any]) -> str:
    snapshots = done.get("snapshots", [])
    taken = ", ".join(f"{s['snapshot_id']} of {s['volume_id']}" for s in snapshots)
    return (f"snapshots {taken}" if taken else "no EBS volume to snapshot") + (
        " (tagged with the finding and ledger key)" if taken else ""
    )


def _summary(
    instance: str, account: str, region: str, done: Mapping[str, Any], said: list[str]
) -> str:
    parts = [f"Evidence: {evidence_text(done)}; termination protection on"]
    moved = [
        f"{e['id']} from {network.names(e['prior_groups'] or [])} to "
        f"{done['isolation_groups'][e['vpc_id']]}"
        for e in done.get("interfaces", [])
    ]
    if moved:
        parts.append(
            "Network: moved " + "; ".join(moved) + " (remedy-isolation, no rules; through "
            "allow-all first, so tracked connections ended too)"
        )
    undo = ["put each interface's groups back"]
    scaling = done.get("auto_scaling")
    if scaling and scaling["state"] == "InService":
        lowered = " (desired capacity lowered by 1)" if scaling["decremented"] else ""
        parts.append(f"Auto Scaling group {scaling['group']}: in standby{lowered}")
        undo.append(f"return it to service in {scaling['group']}")
    profile = done.get("profile") or {}
    if "policy_name" in profile:
        parts.append(
            f"Credentials: sessions of instance profile role {profile['role']} issued before "
            f"{profile['revoked_before']} revoked ({profile['policy_name']})"
        )
        undo.append(f"remove {profile['policy_name']}")
    if not done.get("termination_protection_before"):
        undo.append("turn termination protection off")
    parts += said
    return (
        f"isolated instance {instance} in {account} {region}. " + ". ".join(parts) + ". "
        f"Release would {', '.join(undo)}; the snapshots are kept"
    )


def _progress(reason: str, done: Mapping[str, Any]) -> str:
    steps = []
    if done.get("snapshots"):
        steps.append(evidence_text(done))
    if "termination_protection_before" in done:
        steps.append("termination protection on")
    if done.get("interfaces"):
        steps.append("interface groups recorded: " + ", ".join(e["id"] for e in done["interfaces"]))
    if "auto_scaling" in done:
        steps.append(f"Auto Scaling state recorded ({done['auto_scaling']['group']})")
    if not steps:
        return f"{reason}; nothing changed"
    return (
        f"{reason}. Done before the fault, recorded here and in remedy's tags on the instance "
        f"and its interfaces: {'; '.join(steps)}. A retry finishes it and acts once"
    )
