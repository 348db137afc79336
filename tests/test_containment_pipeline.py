"""Containment through the pipeline and the ledger, with the shipped policy, on members
that have the member template deployed: contained at once, asked, a redelivery acting
once, approved, released and read back.

Not under moto's IAM enforcement: moto authorises every non-S3 call against resource "*",
so the template's account-scoped EC2 and IAM grants cannot match there. Each action's own
tests enforce its declared permissions; tests/test_member_permissions.py holds the
template to exactly those."""

from __future__ import annotations

import json
from typing import Any

from conftest import CONFORMANCE
from fixtures_aws import (
    MEMBERS,
    REGION,
    ROOT,
    World,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.approvals.decide import Decider, Decisions
from remedy.demo.containment import (
    C2,
    EXFILTRATION,
    containment_finding,
    instance_resource,
    key_resource,
    read_back,
    user_id,
    user_with_key,
    workload,
)
from remedy.ledger.base import Entry, State
from remedy.pipeline import Pipeline

A, B, C = MEMBERS
ADA = Decider("U0ADA", "ada", "slack:U0ADA", "in Slack by ada")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Entry] = []

    def on_change(self, entry: Entry) -> None:
        self.seen.append(entry)


def pipeline(world: World, notifier: Recorder) -> Pipeline:
    return world.pipeline(policy_dir=ROOT / "policies", notifiers=[notifier])


def test_an_instance_is_isolated_asked_about_and_released_through_the_ledger(
    world: World,
) -> None:
    session = world.admin(A)
    instance = workload(session)
    before = read_back(session, instance)
    notifier = Recorder()
    found = containment_finding(A, REGION, C2, instance_resource(A, REGION, instance))
    entry = pipeline(world, notifier).handle(found)
    assert (entry.state, entry.decision["rule"]) == (
        State.QUARANTINED,
        "isolate-compromised-instances",
    ), entry.history[-1].note
    assert entry.attrs["awaiting_approval"] is True
    isolated = read_back(session, instance)
    assert isolated["auto_scaling"] == ["Standby"]
    assert len(isolated["snapshots"]) == 2
    # A redelivery finds the entry and changes nothing.
    again = pipeline(world, notifier).handle(found)
    assert again.state is State.QUARANTINED
    assert read_back(session, instance) == isolated

    handed: list[str] = []
    Decisions(world.store, notifier, handed.append).decide(entry.key, State.APPROVED, ADA)
    assert handed == [entry.key]
    released = pipeline(world, notifier).remediate(entry.key)
    assert released.state is State.RELEASED
    after = read_back(session, instance)
    assert {k: v for k, v in after.items() if k != "snapshots"} == {
        k: v for k, v in before.items() if k != "snapshots"
    }
    assert after["snapshots"] == isolated["snapshots"]


def test_a_stolen_key_is_contained_and_a_low_one_only_notified(world: World) -> None:
    session = world.admin(B)
    key = user_with_key(session)
    resource = key_resource(key, "ci-deploy", principal_id=user_id(session, "ci-deploy"))
    notifier = Recorder()
    low = containment_finding(B, REGION, EXFILTRATION, resource)
    low.severity = low.severity.MEDIUM
    low.key = "medium-one"
    told = pipeline(world, notifier).handle(low)
    assert (told.state, told.decision["rule"]) == (State.NOTIFIED, "notify-threats-below-high")
    iam = session.client("iam")
    assert iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"][0]["Status"] == (
        "Active"
    )
    entry = pipeline(world, notifier).handle(containment_finding(B, REGION, EXFILTRATION, resource))
    assert entry.state is State.QUARANTINED, entry.history[-1].note
    assert iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"][0]["Status"] == (
        "Inactive"
    )
    assert iam.list_user_policies(UserName="ci-deploy")["PolicyNames"] == [
        entry.attrs["policy_name"]
    ]


def test_a_sample_finding_is_only_told(world: World) -> None:
    session = world.admin(A)
    key = user_with_key(session)
    resource = key_resource(key, "ci-deploy", principal_id=user_id(session, "ci-deploy"))
    found = containment_finding(A, REGION, EXFILTRATION, resource, key="a-sample", sample=True)
    entry = pipeline(world, Recorder()).handle(found)
    assert (entry.state, entry.decision["rule"]) == (State.IGNORED, "ignore-samples")
    iam = session.client("iam")
    assert iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"][0]["Status"] == (
        "Active"
    )


def _native(account: str, instance: str) -> dict[str, Any]:
    """GuardDuty's published native finding about an instance, made a C&C finding about
    `instance` in `account`: the event as a member forwards it, read by the real normaliser."""
    event: dict[str, Any] = json.loads(
        (CONFORMANCE / "guardduty-ec2-recon-portprobeunprotectedport.json").read_text()
    )
    event["account"], event["region"] = account, REGION
    detail = event["detail"]
    detail.update(accountId=account, region=REGION, type=C2, severity=8, id="native-c2")
    detail["arn"] = f"arn:aws:guardduty:{REGION}:{account}:detector/d1/finding/native-c2"
    detail["resource"]["instanceDetails"]["instanceId"] = instance
    # The published sample's profile and interfaces name its own account: the action reads
    # the instance's live state from EC2 instead of trusting them.
    del detail["resource"]["instanceDetails"]["iamInstanceProfile"]
    return event


def test_a_native_guardduty_event_isolates_the_instance_it_names(world: World) -> None:
    # A member no other test here gives a workload (the moto server outlives each test).
    session = world.admin(C)
    instance = workload(session)

    (entry,) = pipeline(world, Recorder()).process(_native(C, instance))

    assert (entry.state, entry.decision["rule"]) == (
        State.QUARANTINED,
        "isolate-compromised-instances",
    ), entry.history[-1].note
    (resource,) = (r for r in entry.finding["resources"] if r["kind"] == "ec2-instance")
    assert (resource["id"], resource["name"]) == (
        f"arn:aws:ec2:{REGION}:{C}:instance/{instance}",
        instance,
    )
    isolated = read_back(session, instance)
    assert isolated["auto_scaling"] == ["Standby"] and len(isolated["snapshots"]) == 2
