"""Security Hub control findings in the demo: two controls fixed in place and one undone.

In the first member account a queue without encryption (SQS.1) and a subnet that gives
instances public addresses (EC2.15). Their control findings, Security Hub's ASFF made
from the S3.8 sample in ``events/`` with the control and resource replaced, are delivered
by the Security Hub administrator (the core) the way every finding goes (its bus, the
forwarding rule, the findings function). The shipped policy
fixes SQS.1 at once; EC2.15 waits for an approver, who clicks Quarantine in Slack; then an
operator releases it as ``remedy release`` would, and the subnet is as it was before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from remedy.actions import build
from remedy.actions.session import AccountSessions
from remedy.approvals.release import release
from remedy.demo.report import Claim
from remedy.demo.scenario import Item, dated
from remedy.ledger.base import State
from remedy.notify.slack_message import QUARANTINE_ACTION
from remedy.settings import Settings


class Demo(Protocol):
    """What of `remedy.demo.run.Demo` this part of the story uses."""

    aws: Any
    org: Any
    root: Path
    slack: Any
    policy: Any
    progress: Any

    def approver(self, service: Any, interactions: Any) -> Any: ...

    def _emit(
        self, service: Any, findings: Any, router: Any, store: Any, items: list[Item], keys: Any
    ) -> list[str]: ...


SAMPLE = "securityhub-control-s3.8-block-public-access.json"
QUEUE = "demo-orders"


def control_event(
    root: Path, sender: str, account: str, region: str, control: str, rtype: str, rid: str
) -> Any:
    """The ASFF control sample, made a finding of `control` about `rid` in `account`,
    delivered by `sender` (the Security Hub administrator, as the sample is)."""
    event = dated(
        json.loads((root / "events" / SAMPLE).read_text(encoding="utf-8")), datetime.now(UTC)
    )
    event["account"], event["region"] = sender, region
    finding = event["detail"]["findings"][0]
    finding["AwsAccountId"], finding["Region"] = account, region
    finding["Id"] = (
        f"arn:aws:securityhub:{region}:{account}:security-control/{control}/finding/demo"
    )
    finding["Compliance"]["SecurityControlId"] = control
    finding["ProductFields"] = {**finding.get("ProductFields", {}), "ControlId": control}
    finding["Resources"] = [{"Type": rtype, "Id": rid, "Partition": "aws", "Region": region}]
    return event


@dataclass
class Told:
    """The control findings (the report's rows, by `keys`) and what the world showed."""

    items: list[Item]
    claims: list[Claim]


def run(
    demo: Demo,
    service: Any,
    router: Any,
    store: Any,
    functions: dict[str, Any],
    keys: dict[str, str],
) -> Told:
    """Emit the two control findings, approve EC2.15, release it; what the world shows.
    `functions` are the demo's findings, interactions and remediator functions, in order;
    `keys` gets each item's ledger key."""
    findings, interactions, remediator = functions.values()
    aws, member, core = demo.aws, demo.org.members[0], demo.org.core
    region = aws.region
    session = aws.session(member)
    sqs, ec2 = session.client("sqs"), session.client("ec2")
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"SqsManagedSseEnabled": "false"})[
        "QueueUrl"
    ]
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    items = [
        Item(
            "Security Hub control SQS.1: queue not encrypted",
            "control SQS.1",
            core,
            control_event(
                demo.root, core, member, region, "SQS.1", "AwsSqsQueue",
                f"arn:aws:sqs:{region}:{member}:{QUEUE}",
            ),
        ),
        Item(
            "Security Hub control EC2.15: subnet gives public IPs",
            "control EC2.15",
            core,
            control_event(
                demo.root, core, member, region, "EC2.15", "AwsEc2Subnet",
                f"arn:aws:ec2:{region}:{member}:subnet/{subnet}",
            ),
        ),
    ]  # fmt: skip
    demo._emit(service, findings, router, store, items, keys)
    claims: list[Claim] = []
    sse = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"])
    queue_entry = store.get(keys["control SQS.1"])
    fixed = sse["Attributes"].get("SqsManagedSseEnabled") == "true"
    claims.append(
        Claim(
            f"SQS.1 fixed at once: queue {QUEUE} now has SSE-SQS (ledger QUARANTINED)",
            fixed and queue_entry is not None and queue_entry.state is State.QUARANTINED,
            "" if fixed else f"queue attributes {sse['Attributes']}",
        )
    )
    key = keys["control EC2.15"]
    waiting = store.get(key)
    public = _public_ip(ec2, subnet)
    claims.append(
        Claim(
            f"EC2.15 waits for approval, subnet {subnet} unchanged until then",
            waiting is not None and waiting.state is State.PENDING_APPROVAL and public,
            f"{waiting.state.value if waiting else 'no entry'}; public IP on launch {public}",
        )
    )
    approver = demo.approver(service, interactions)
    [user, *_] = demo.policy.accounts.get(member).approvers.users
    click = approver.click(key, QUARANTINE_ACTION, user)
    demo.progress(f"{user} clicked Quarantine on EC2.15: HTTP {click.status}")
    approved = store.get(key)
    public = _public_ip(ec2, subnet)
    claims.append(
        Claim(
            f"EC2.15 fixed once approved: subnet {subnet} no longer gives public IPs",
            approved is not None and approved.state is State.QUARANTINED and not public,
            f"{approved.state.value if approved else 'no entry'}; public IP on launch {public}",
        )
    )
    released = _release(remediator, store, key)
    public = _public_ip(ec2, subnet)
    demo.progress(f"remedy release {key}: {released.state.value}")
    claims.append(
        Claim(
            f"EC2.15 released: subnet {subnet} gives public IPs again, as before the fix",
            released.state is State.RELEASED and public,
            f"{released.state.value}; public IP on launch {public}",
        )
    )
    return Told(items, claims)


def _public_ip(ec2: Any, subnet: str) -> bool:
    [found] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    return bool(found["MapPublicIpOnLaunch"])


def _release(remediator: Any, store: Any, key: str) -> Any:
    """``remedy release KEY`` as an operator runs it: with the functions' settings and the
    remediator's role, the one the member roles trust."""
    with remediator.as_function():
        settings = Settings.from_env()
        actions = build(AccountSessions(settings), settings)
        return release(key, by="demo-operator", caller="demo", store=store, actions=actions)
