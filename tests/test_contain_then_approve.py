"""Contain first, then ask: iam-policy-guard end to end on moto across accounts, and the
approve-then-act path of detach-internet-gateway.

The pipeline contains at once; a decision (remedy.approvals.decide, shared by Slack and the email
links) claims the open question with one conditional write; the remediator Lambda carries
the verdict out: approve restores the original exactly (RELEASED), deny keeps the
containment (QUARANTINED, the question closed).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from fixtures_aws import (
    EVENTS,
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    REGION,
    ROOT,
    LambdaContext,
    World,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from fixtures_guard import trust
from notify_support import atomic_dynamodb
from remedy.approvals.deadlines import Deadlines, Report
from remedy.approvals.decide import Decided, Decider, Decisions
from remedy.approvals.page import EMAIL_DECIDER
from remedy.approvals.release import NotReleasable, release
from remedy.handlers import remediator
from remedy.handlers.runtime import Runtime
from remedy.ledger.base import Conflict, Entry, State, Taken
from remedy.ledger.indexes import PENDING
from remedy.ledger.queries import LedgerQueries
from remedy.notify.slack_message import build_message, has_buttons
from remedy.pipeline import Pipeline

__all__ = ["atomic_dynamodb"]

A, B, C = MEMBERS
POLICIES = ROOT / "policies"
ADA = Decider("U0ADA", "ada", "slack:U0ADA", "in Slack by ada")
BOB = Decider("U0BOB", "bob", "slack:U0BOB", "in Slack by bob")
#: Allows iam:PutRolePolicy, on the restricted list (iam:Put*Policy).
ESCALATING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": "*"}],
}


class Recorder:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.seen: list[Entry] = []

    def on_change(self, entry: Entry) -> None:
        self.seen.append(entry)


@pytest.fixture(autouse=True)
def environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(POLICIES))
    monkeypatch.setattr(remediator, "runtime", Runtime(remediator.metrics))


def remediate(key: str) -> dict[str, Any]:
    answer: dict[str, Any] = remediator.handler(
        {"key": key}, LambdaContext(function_name="remediator")
    )
    return answer


def pipeline(world: World, notifier: Recorder) -> Pipeline:
    return world.pipeline(policy_dir=POLICIES, notifiers=[notifier])


def put_role_policy_event(account: str, role: str, document: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "cloudtrail-iam-putrolepolicy.json").read_text())
    event["account"] = account
    detail = event["detail"]
    detail["userIdentity"]["accountId"] = account
    detail["recipientAccountId"] = account
    detail["eventID"] = str(uuid.uuid4())
    detail["requestParameters"]["roleName"] = role
    detail["requestParameters"]["policyDocument"] = (
        document if isinstance(document, str) else json.dumps(document)
    )
    return event


def make_role(world: World, account: str, role: str, document: Any) -> None:
    iam = world.admin(account).client("iam")
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=trust("ec2.amazonaws.com"),
    )
    iam.put_role_policy(
        RoleName=role,
        PolicyName="inline-data-lake-read",
        PolicyDocument=document if isinstance(document, str) else json.dumps(document),
    )


def inline(world: World, account: str, role: str) -> dict[str, Any] | None:
    iam = world.admin(account).client("iam")
    try:
        document: dict[str, Any] = iam.get_role_policy(
            RoleName=role, PolicyName="inline-data-lake-read"
        )["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return document


def contained(world: World, notifier: Recorder) -> tuple[str, Entry]:
    """A role in A and its twin in B with the escalating inline policy; the event says A."""
    role = f"app-{uuid.uuid4().hex[:8]}"
    for account in (A, B):
        make_role(world, account, role, ESCALATING)
    (entry,) = pipeline(world, notifier).process(put_role_policy_event(A, role, ESCALATING))
    return role, entry


def decisions(world: World, notifier: Recorder, handed: list[str]) -> Decisions:
    return Decisions(world.store, notifier, handed.append)


def test_the_policy_is_contained_at_once_and_approval_asked(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)

    assert entry.state is State.QUARANTINED
    assert entry.attrs["awaiting_approval"] is True
    assert entry.attrs["kind"] == "inline"
    assert inline(world, A, role) is None
    assert inline(world, B, role) == ESCALATING
    assert [e.state for e in notifier.seen] == [State.QUARANTINING, State.QUARANTINED]
    # Slack asks with the contain-then-approve wording.
    assert has_buttons(entry)
    buttons = build_message(entry, "Analytics").blocks_json()[-2]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Approve (restore)", "Deny (keep contained)"]


def test_approve_restores_the_original_exactly_and_records_who(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    handed: list[str] = []

    decided = decisions(world, notifier, handed).decide(entry.key, State.APPROVED, ADA)

    claimed = decided.entry
    assert decided.handed_over and handed == [entry.key]
    assert claimed.state is State.QUARANTINED
    assert claimed.attrs["awaiting_approval"] is False
    assert claimed.attrs["pending_decision"] == "approved"
    assert claimed.attrs["decided_by"]["id"] == "U0ADA"
    assert claimed.version == entry.version
    assert claimed.history[-1].by == "slack:U0ADA"
    assert claimed.history[-1].note == ("approved in Slack by ada: the original is being restored")
    assert not has_buttons(claimed)
    assert inline(world, A, role) is None  # the decision alone changes nothing in AWS

    assert remediate(entry.key) == {"key": entry.key, "state": "RELEASED"}

    released = world.store.get(entry.key)
    assert released is not None and released.state is State.RELEASED
    assert inline(world, A, role) == ESCALATING
    assert inline(world, B, role) == ESCALATING
    assert released.attrs["pending_decision"] is None
    assert released.attrs["release"]["by"] == "slack:U0ADA"
    assert released.history[-1].by == "slack:U0ADA"
    assert released.history[-1].note == (
        f"approved: restored inline policy inline-data-lake-read of role {role}"
    )
    # The decision was told (the remediator Lambda tells its own notifiers the outcome).
    assert notifier.seen[-1] == claimed
    # Lambda's retry of the same invocation changes nothing more.
    assert remediate(entry.key) == {"key": entry.key, "state": "RELEASED"}
    assert world.store.get(entry.key) == released


def test_deny_keeps_the_containment_and_closes_the_question(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    handed: list[str] = []

    decided = decisions(world, notifier, handed).decide(entry.key, State.DISMISSED, BOB)

    assert handed == [entry.key]
    assert decided.entry.attrs["pending_decision"] == "dismissed"
    assert notifier.seen[-1] == decided.entry
    # The remediator's pipeline, with the test's notifier.
    pipeline(world, notifier).remediate(entry.key)

    kept = world.store.get(entry.key)
    assert kept is not None and kept.state is State.QUARANTINED
    assert kept.attrs["awaiting_approval"] is False
    assert kept.attrs["pending_decision"] is None
    assert kept.attrs["decided_by"]["id"] == "U0BOB"
    assert kept.attrs["decided_by"]["action"] == "dismissed"
    assert kept.attrs["finalise"]["by"] == "slack:U0BOB"
    assert kept.history[-1].note == "kept contained: the inline policy stays deleted"
    assert kept.history[-1].by == "slack:U0BOB"
    assert inline(world, A, role) is None
    assert inline(world, B, role) == ESCALATING
    assert notifier.seen[-1] == kept
    assert not has_buttons(kept)
    # Nothing is left to decide: a late click loses.
    with pytest.raises(Taken):
        decisions(world, notifier, handed).decide(entry.key, State.APPROVED, ADA)
    assert handed == [entry.key]


def test_a_double_click_decides_once(world: World) -> None:
    notifier = Recorder()
    _, entry = contained(world, notifier)
    handed: list[str] = []
    deciding = decisions(world, notifier, handed)

    deciding.decide(entry.key, State.APPROVED, ADA)
    with pytest.raises(Taken) as lost:
        deciding.decide(entry.key, State.APPROVED, ADA)

    assert str(lost.value) == (
        f"ledger entry {entry.key}: attrs.awaiting_approval no longer holds (already taken); "
        "the entry is QUARANTINED"
    )
    assert handed == [entry.key]
    after = world.store.get(entry.key)
    assert after is not None
    assert [h.by for h in after.history].count("slack:U0ADA") == 1


def test_approve_and_deny_at_once_have_one_winner(world: World, atomic_dynamodb: None) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    handed: list[str] = []
    barrier = threading.Barrier(2)
    results: dict[str, Decided | Conflict] = {}

    def decide(target: State, decider: Decider) -> None:
        deciding = Decisions(world.store, Recorder(), handed.append)
        barrier.wait()
        try:
            results[decider.id] = deciding.decide(entry.key, target, decider)
        except Conflict as lost:
            results[decider.id] = lost

    threads = [
        threading.Thread(target=decide, args=(State.APPROVED, ADA)),
        threading.Thread(target=decide, args=(State.DISMISSED, BOB)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [r for r in results.values() if isinstance(r, Decided)]
    losers = [r for r in results.values() if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], Taken)
    assert handed == [entry.key]
    verdict = winners[0].entry.attrs["pending_decision"]
    remediate(entry.key)
    final = world.store.get(entry.key)
    assert final is not None
    if verdict == "approved":
        assert final.state is State.RELEASED and inline(world, A, role) == ESCALATING
    else:
        assert final.state is State.QUARANTINED and inline(world, A, role) is None
    assert final.attrs["decided_by"]["id"] == (ADA.id if verdict == "approved" else BOB.id)


def test_an_email_link_decides_a_contained_entry_too(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    handed: list[str] = []

    decisions(world, notifier, handed).decide(entry.key, State.APPROVED, EMAIL_DECIDER)
    assert remediate(entry.key)["state"] == "RELEASED"

    released = world.store.get(entry.key)
    assert released is not None
    assert released.attrs["release"]["by"] == "email-link"
    assert inline(world, A, role) == ESCALATING


def test_a_document_with_nothing_restricted_is_left_alone_and_nobody_is_asked(
    world: World,
) -> None:
    """The shipped sample (s3:GetObject, s3:ListBucket): told, not asked."""
    notifier = Recorder()
    sample = json.loads((EVENTS / "cloudtrail-iam-putrolepolicy.json").read_text())
    document = sample["detail"]["requestParameters"]["policyDocument"]
    role = f"app-{uuid.uuid4().hex[:8]}"
    make_role(world, A, role, document)

    (entry,) = pipeline(world, notifier).process(put_role_policy_event(A, role, document))

    assert entry.state is State.GONE
    assert entry.history[-1].note == (
        f"nothing restricted: inline policy inline-data-lake-read of role {role} allows none "
        "of the restricted actions"
    )
    assert "awaiting_approval" not in entry.attrs
    assert not has_buttons(entry)
    assert json.loads(document) == inline(world, A, role)
    assert [e.state for e in notifier.seen] == [State.QUARANTINING, State.GONE]
    handed: list[str] = []
    with pytest.raises(Conflict) as refused:
        decisions(world, notifier, handed).decide(entry.key, State.APPROVED, ADA)
    assert refused.value.actual is State.GONE and not isinstance(refused.value, Taken)
    assert handed == []
    # A redelivery finds the story over.
    (again,) = pipeline(world, notifier).process(put_role_policy_event(A, role, document))
    assert again.state is State.GONE


def test_a_release_that_finds_the_policy_put_again_closes_the_question(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    other = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    world.admin(A).client("iam").put_role_policy(
        RoleName=role, PolicyName="inline-data-lake-read", PolicyDocument=json.dumps(other)
    )
    decisions(world, notifier, []).decide(entry.key, State.APPROVED, ADA)

    assert remediate(entry.key) == {"key": entry.key, "state": "QUARANTINED"}

    after = world.store.get(entry.key)
    assert after is not None
    assert after.attrs["pending_decision"] is None
    assert after.attrs["decision_outcome"] == {
        "state": "CHANGED",
        "reason": f"inline policy inline-data-lake-read of role {role} was put again since; "
        "not overwriting it",
    }
    assert inline(world, A, role) == other


# -- internet gateways: approve, then detach -----------------------------------------------


def igw_event(account: str, gateway: str, vpc: str) -> dict[str, Any]:
    name = "cloudtrail-ec2-attachinternetgateway-to-vpc.json"
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    event["account"] = account
    detail = event["detail"]
    detail["userIdentity"]["accountId"] = account
    detail["recipientAccountId"] = account
    detail["eventID"] = str(uuid.uuid4())
    detail["awsRegion"] = REGION
    event["region"] = REGION
    detail["requestParameters"] = {"internetGatewayId": gateway, "vpcId": vpc}
    return event


def attached_gateway(world: World, account: str) -> tuple[str, str]:
    ec2 = world.admin(account).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    return gateway, vpc


def attachments(world: World, account: str, gateway: str) -> list[str]:
    ec2 = world.admin(account).client("ec2")
    found = ec2.describe_internet_gateways(InternetGatewayIds=[gateway])["InternetGateways"]
    return [a["VpcId"] for a in found[0].get("Attachments", [])]


def test_an_approved_internet_gateway_is_detached_in_its_account_only(world: World) -> None:
    notifier = Recorder()
    gateway, vpc = attached_gateway(world, C)
    other_gateway, other_vpc = attached_gateway(world, B)

    (entry,) = pipeline(world, notifier).process(igw_event(C, gateway, vpc))

    assert entry.state is State.PENDING_APPROVAL
    assert entry.decision["rule"] == "approve-internet-gateway"
    assert has_buttons(entry)
    assert attachments(world, C, gateway) == [vpc]
    handed: list[str] = []
    decided = decisions(world, notifier, handed).decide(entry.key, State.APPROVED, ADA)
    assert decided.entry.state is State.APPROVED and handed == [entry.key]

    assert remediate(entry.key) == {"key": entry.key, "state": "QUARANTINED"}

    done = world.store.get(entry.key)
    assert done is not None
    assert done.history[-1].note == (
        f"detached internet gateway {gateway} from {vpc} in {C} {REGION}"
    )
    assert done.attrs == {
        **done.attrs,
        "internet_gateway_id": gateway,
        "vpc_id": vpc,
        "region": REGION,
    }
    assert attachments(world, C, gateway) == []
    assert attachments(world, B, other_gateway) == [other_vpc]
    # A second click loses; nothing is detached twice.
    with pytest.raises(Conflict):
        decisions(world, notifier, handed).decide(entry.key, State.APPROVED, BOB)
    assert handed == [entry.key]


def test_a_dismissed_internet_gateway_stays_attached(world: World) -> None:
    gateway, vpc = attached_gateway(world, C)
    (entry,) = pipeline(world, Recorder()).process(igw_event(C, gateway, vpc))
    handed: list[str] = []

    decided = decisions(world, Recorder(), handed).decide(entry.key, State.DISMISSED, BOB)

    assert decided.entry.state is State.DISMISSED and handed == []
    assert remediate(entry.key) == {"key": entry.key, "state": "DISMISSED"}
    assert attachments(world, C, gateway) == [vpc]


def test_remedy_release_leaves_a_waiting_question_to_the_approvers(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)

    with pytest.raises(NotReleasable) as refused:
        release(entry.key, by="ops@example.com", store=world.store, actions={})

    assert refused.value.reason == (
        f"ledger entry {entry.key} is contained and waiting for its approvers; approve it "
        "(which restores it) or deny it from Slack or the owners' email link instead"
    )
    after = world.store.get(entry.key)
    assert after is not None
    assert (after.state, after.attrs["awaiting_approval"]) == (State.QUARANTINED, True)
    assert after.version == entry.version
    assert inline(world, A, role) is None  # still contained
    assert inline(world, B, role) == ESCALATING


def test_on_timeout_quarantine_keeps_a_contained_change_contained(world: World) -> None:
    # The shipped rule, with a 1-hour deadline after which remedy acts on its own.
    folder = Path(tempfile.mkdtemp(prefix="policy-", dir=world.policy_dir.parent))
    shutil.copytree(POLICIES, folder, dirs_exist_ok=True)
    rules = (folder / "remediation.yaml").read_text(encoding="utf-8")
    guard = "    remediation: iam-policy-guard\n"
    assert rules.count(guard) == 1
    timed = guard + "    approval_deadline_hours: 1\n    on_timeout: quarantine\n"
    (folder / "remediation.yaml").write_text(rules.replace(guard, timed), encoding="utf-8")
    notifier = Recorder()
    role = f"app-{uuid.uuid4().hex[:8]}"
    make_role(world, A, role, ESCALATING)
    contain = world.pipeline(policy_dir=folder, notifiers=[notifier])
    (entry,) = contain.process(put_role_policy_event(A, role, ESCALATING))
    assert entry.state is State.QUARANTINED and entry.attrs["awaiting_approval"] is True
    assert entry.decision["deadline"] == {"hours": 1.0, "on_timeout": "quarantine"}
    handed: list[str] = []
    reminded: list[str] = []
    queries = LedgerQueries(LEDGER_TABLE, world.core.client("dynamodb"))
    deadlines = Deadlines(
        # The module's tests share one ledger table: this test's entry only.
        lambda: (e for e in queries.waiting(PENDING) if e.key == entry.key),
        world.store,
        Decisions(world.store, notifier, handed.append),
        lambda waiting, note: reminded.append(note),
        default_hours=24,
        clock=world.clock,
    )
    world.clock.advance(minutes=59)
    assert deadlines.run() == Report(pending=1)

    world.clock.advance(minutes=1)
    assert deadlines.run() == Report(pending=1, timed_out=1)

    # Approving would restore the escalating policy: the containment is kept instead.
    claimed = world.store.get(entry.key)
    assert claimed is not None and claimed.state is State.QUARANTINED
    assert claimed.attrs["awaiting_approval"] is False
    assert claimed.attrs["pending_decision"] == "dismissed"
    assert claimed.history[-1].by == "remedy"
    assert claimed.history[-1].note == (
        "dismissed by remedy: the approval deadline of 1 h passed with no decision (waited "
        "1h 0m; the rule says on_timeout: quarantine): the containment is kept and the "
        "original removed"
    )
    assert handed == [entry.key] and reminded == []
    contain.remediate(entry.key)
    kept = world.store.get(entry.key)
    assert kept is not None and kept.state is State.QUARANTINED
    assert kept.attrs["pending_decision"] is None
    assert kept.attrs["finalise"]["by"] == "remedy"
    assert inline(world, A, role) is None
    # Nothing waits any more.
    assert deadlines.run() == Report()


def test_a_contained_change_is_reminded_until_decided_and_never_after(world: World) -> None:
    notifier = Recorder()
    role, entry = contained(world, notifier)
    reminded: list[str] = []
    handed: list[str] = []
    queries = LedgerQueries(LEDGER_TABLE, world.core.client("dynamodb"))

    def deadlines(pending: Any) -> Deadlines:
        return Deadlines(
            pending,
            world.store,
            Decisions(world.store, notifier, handed.append),
            lambda waiting, note: reminded.append(note),
            default_hours=24,
            clock=world.clock,
        )

    def waiting() -> list[Entry]:
        # The module's tests share one ledger table: this test's entry only.
        return [e for e in queries.waiting(PENDING) if e.key == entry.key]

    world.clock.advance(hours=24)
    assert deadlines(waiting).run() == Report(pending=1, reminded=1)
    assert reminded == [
        "reminder 1: still waiting for approval after 1d 0h (deadline 24 h); remedy keeps "
        "waiting for a person"
    ]
    # A run read it, then a person decided before the run's reminder: none is sent.
    (stale,) = waiting()
    decisions(world, notifier, handed).decide(entry.key, State.DISMISSED, BOB)
    decided = world.store.get(entry.key)
    world.clock.advance(hours=24)

    assert deadlines(lambda: [stale]).run() == Report(pending=1)

    assert len(reminded) == 1 and handed == [entry.key]
    assert world.store.get(entry.key) == decided
    assert waiting() == []
    assert inline(world, A, role) is None
