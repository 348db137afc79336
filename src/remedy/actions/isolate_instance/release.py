"""Release an isolated instance: check it is as remedy left it, then put everything back.

Nothing is restored unless every part is as the isolation left it (each interface on its
isolation group, the instance still in standby, the revocation still remedy's): a person
who moved the instance on meanwhile made a choice remedy must not overwrite, so the
refusal lists what changed. Each part already restored counts as done, so a release cut
short by a fault finishes on the next try. Snapshots are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remedy.actions import aws_errors, revoke_sessions
from remedy.actions.isolate_instance import network, records
from remedy.actions.isolate_instance.instance import ENDED, describe, service_of
from remedy.actions.reversible import ActionFailed, Undo
from remedy.actions.revoke_sessions import Principal
from remedy.ledger.base import State
from remedy.model import Finding

#: ``client(service, region)``: a client acting as the remediation role in the account.
Client = Callable[[str, str], Any]
_INSTANCE_TAGS = (records.ISOLATED_FOR, records.PRIOR_TERMINATION, records.PRIOR_SCALING)


@dataclass
class _Plan:
    """What a release will do, and what changed so that it must not."""

    moves: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    exit_group: str | None = None
    changed: list[str] = field(default_factory=list)


def release(client: Client, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
    instance, region, account = attrs["instance_id"], attrs["region"], finding.account
    try:
        ec2 = client("ec2", region)
        found = describe(ec2, instance, account)
        if found is None or found["State"]["Name"] in ENDED:
            now = "is terminated" if found is not None else "no longer exists"
            raise ActionFailed(
                State.GONE,
                f"instance {instance} {now} in {account} {region}; nothing restored; "
                f"{_kept(attrs)}",
            )
        enis = network.interfaces(ec2, found, account)
        plan = _plan(client, finding, attrs, enis)
        if plan.changed:
            raise ActionFailed(
                State.CHANGED,
                f"instance {instance} changed since it was isolated: "
                f"{'; '.join(plan.changed)}. Nothing restored; {_kept(attrs)}",
            )
        said = _restore(client, finding, attrs, found, plan)
        _untag(ec2, found, enis)
    except aws_errors.AWS_ERRORS as error:
        raise aws_errors.failed(
            error,
            account=account,
            doing=f"releasing instance {instance}",
            service=service_of(error),
        ) from error
    if not said:
        return Undo(f"already restored: instance {instance} is as it was; {_kept(attrs)}")
    return Undo(f"released instance {instance}: {'; '.join(said)}; {_kept(attrs)}")


def _plan(
    client: Client, finding: Finding, attrs: Mapping[str, Any], enis: list[network.Interface]
) -> _Plan:
    plan = _Plan()
    now = {e.id: e for e in enis}
    for item in attrs.get("interfaces", []):
        isolation = attrs["isolation_groups"][item["vpc_id"]]
        eni = now.get(item["id"])
        prior = tuple(item["prior_groups"] or ())
        if eni is None:
            plan.changed.append(f"interface {item['id']} is no longer attached")
        elif eni.groups == (isolation,):
            if item["prior_groups"] is None:
                plan.changed.append(f"the groups {item['id']} had before are not recorded")
            else:
                plan.moves.append((item["id"], prior))
        elif eni.groups != prior:
            plan.changed.append(
                f"interface {item['id']} is now on {network.names(eni.groups)}, not {isolation}"
            )
    scaling = attrs.get("auto_scaling")
    if scaling and scaling["state"] == "InService":
        group = scaling["group"]
        found = client("autoscaling", attrs["region"]).describe_auto_scaling_instances(
            InstanceIds=[attrs["instance_id"]]
        )["AutoScalingInstances"]
        state = found[0]["LifecycleState"] if found else None
        if not found or found[0]["AutoScalingGroupName"] != group:
            plan.changed.append(f"it is no longer in Auto Scaling group {group}")
        elif state == "Standby":
            plan.exit_group = group
        elif state != "InService":
            plan.changed.append(f"it is {state} in Auto Scaling group {group}, not Standby")
    profile = attrs.get("profile") or {}
    if "policy_name" in profile:
        doc = revoke_sessions.read(
            client("iam", finding.region),
            Principal("role", profile["role"], finding.account),
            profile["policy_name"],
        )
        if doc is not None and revoke_sessions.issued_before(doc) != profile["revoked_before"]:
            plan.changed.append(
                f"inline policy {profile['policy_name']} of role {profile['role']} is no "
                "longer remedy's revocation"
            )
    return plan


def _restore(
    client: Client,
    finding: Finding,
    attrs: Mapping[str, Any],
    found: Mapping[str, Any],
    plan: _Plan,
) -> list[str]:
    ec2 = client("ec2", attrs["region"])
    said = []
    for eni, groups in plan.moves:
        network.move(ec2, eni, groups)
        said.append(f"{eni} is back on {network.names(groups)}")
    if plan.exit_group is not None:
        client("autoscaling", attrs["region"]).exit_standby(
            InstanceIds=[attrs["instance_id"]], AutoScalingGroupName=plan.exit_group
        )
        said.append(f"in service again in Auto Scaling group {plan.exit_group}")
    profile = attrs.get("profile") or {}
    if "policy_name" in profile:
        done = revoke_sessions.remove(
            client("iam", finding.region),
            Principal("role", profile["role"], finding.account),
            profile["policy_name"],
            profile["revoked_before"],
        )
        if done is not None:
            said.append(done)
    if not attrs.get("termination_protection_before", True):
        on = ec2.describe_instance_attribute(
            InstanceId=attrs["instance_id"], Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"]
        if on:
            ec2.modify_instance_attribute(
                InstanceId=attrs["instance_id"], DisableApiTermination={"Value": False}
            )
            said.append("termination protection off again")
    return said


def _untag(ec2: Any, instance: Mapping[str, Any], enis: list[network.Interface]) -> None:
    """Delete the tags the isolation wrote (last, so a cut-short release still has them)."""
    mine = records.written(records.tags_of(instance), _INSTANCE_TAGS)
    if mine:
        ec2.delete_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": k} for k in mine])
    for eni in enis:
        mine = records.written(eni.tags, (records.PRIOR_GROUPS,))
        if mine:
            ec2.delete_tags(Resources=[eni.id], Tags=[{"Key": k} for k in mine])


def _kept(attrs: Mapping[str, Any]) -> str:
    snapshots = [s["snapshot_id"] for s in attrs.get("snapshots", [])]
    if not snapshots:
        return "no snapshots were taken"
    return f"snapshots {', '.join(snapshots)} are kept as evidence"
