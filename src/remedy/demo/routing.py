"""Events routed as EventBridge routes them, on the local AWS, by the templates' own rules.

An item is emitted on its sender's default bus (``PutEvents`` with the sender's
credentials, so EventBridge stamps the sender as ``account``). From there the rules the
StackSet deployed forward it to the core bus, whose rules (deployed from template.yaml)
put it on the findings queue. No pattern is evaluated here: moto's EventBridge matches
them (moto 5.2.5 leaves TestEventPattern unimplemented, so real rules are the way).

moto's cross-account forwarding drops the event's ``account`` and ``resources`` on the way
(and its SQS delivery leaves ``account`` out of every event), so the findings queue holds a
lossy copy. Nothing is reconstructed: a tap rule with the same pattern as each forwarding
rule (read back from the deployed rule) sits beside it on the sender's bus, and its input
transformer names every field of an EventBridge event, so the tap queue receives the event
exactly as the forwarding rule matched it. The findings function gets that event as the
body of the findings-queue message that carries its forwarded copy; a forwarded copy
without a matching tap, or a tap whose copy never reached the queue, is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from remedy.demo.local_aws import LocalAWS
from remedy.demo.scenario import Item

TAP_PREFIX = "demo-tap-"
#: Every field of an EventBridge event, as the tap's input transformer rebuilds it.
_PATHS = {
    "version": "$.version",
    "id": "$.id",
    "detailtype": "$.detail-type",
    "source": "$.source",
    "account": "$.account",
    "time": "$.time",
    "region": "$.region",
    "resources": "$.resources",
    "detail": "$.detail",
}
_TEMPLATE = (
    '{"version": "<version>", "id": "<id>", "detail-type": "<detailtype>", '
    '"source": "<source>", "account": "<account>", "time": <time>, "region": "<region>", '
    '"resources": <resources>, "detail": <detail>}'
)


def _signature(event: dict[str, Any]) -> str:
    return json.dumps([event["source"], event["detail-type"], event["detail"]], sort_keys=True)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A findings-queue message and the event it carries, as the member rule matched it."""

    item: Item
    rule: str
    event: dict[str, Any]
    message: dict[str, Any]


class Router:
    def __init__(self, aws: LocalAWS, rule_prefix: str, core: str, queue_arn: str) -> None:
        self.aws = aws
        self.rule_prefix = rule_prefix
        self.core = core
        self.queue_arn = queue_arn
        self._taps: dict[str, dict[str, str]] = {}  # account -> {forwarding rule: tap url}
        self._sent: dict[str, Item] = {}

    def install_taps(self, accounts: Iterable[str]) -> int:
        count = 0
        for account in accounts:
            session = self.aws.session(account)
            events, sqs = session.client("events"), session.client("sqs")
            taps = self._taps.setdefault(account, {})
            for rule in events.list_rules(NamePrefix=self.rule_prefix)["Rules"]:
                name = rule["Name"]
                url = sqs.create_queue(QueueName=TAP_PREFIX + name)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                events.put_rule(Name=TAP_PREFIX + name, EventPattern=rule["EventPattern"])
                events.put_targets(
                    Rule=TAP_PREFIX + name,
                    Targets=[
                        {
                            "Id": "tap",
                            "Arn": arn["Attributes"]["QueueArn"],
                            "InputTransformer": {
                                "InputPathsMap": _PATHS,
                                "InputTemplate": _TEMPLATE,
                            },
                        }
                    ],
                )
                taps[name] = url
                count += 1
        return count

    def emit(self, item: Item) -> None:
        """PutEvents on the sender's default bus, as the AWS service emitting it would."""
        event = item.event
        answer = (
            self.aws.session(item.sender)
            .client("events")
            .put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                    }
                ]
            )
        )
        (entry,) = answer["Entries"]
        if "EventId" not in entry:
            raise RuntimeError(f"PutEvents refused {item.label}: {entry}")
        self._sent[_signature(event)] = item

    def _tapped(self) -> dict[str, tuple[str, dict[str, Any]]]:
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for account, taps in self._taps.items():
            sqs = self.aws.session(account).client("sqs")
            for rule, url in taps.items():
                for message in _drain(sqs, url):
                    event = json.loads(message["Body"])
                    found[_signature(event)] = (rule, event)
        return found

    def deliveries(self, batch_size: int) -> tuple[list[list[Delivery]], list[str]]:
        """What the findings queue holds, in batches of at most `batch_size` as the event
        source mapping receives them, and the problems (events lost or unmatched)."""
        tapped = self._tapped()
        sqs = self.aws.session(self.core).client("sqs")
        url = self.queue_url()
        batches: list[list[Delivery]] = []
        problems: list[str] = []
        seen: set[str] = set()
        while True:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            batch = []
            for message in messages:
                signature = _signature(json.loads(message["Body"]))
                if signature not in tapped or signature not in self._sent:
                    problems.append(f"the findings queue got an event no tap saw: {signature[:80]}")
                    continue
                rule, event = tapped[signature]
                seen.add(signature)
                batch.append(Delivery(self._sent[signature], rule, event, message))
            if batch:
                batches.append(batch)
        for signature, item in self._sent.items():
            if signature not in seen:
                where = (
                    "no forwarding rule matched"
                    if signature not in tapped
                    else "forwarded, but no core rule put it on the findings queue"
                )
                problems.append(f"{item.label}: {where}")
        self._sent = {s: i for s, i in self._sent.items() if s not in seen}
        return batches, problems

    def queue_url(self) -> str:
        sqs = self.aws.session(self.core).client("sqs")
        url: str = sqs.get_queue_url(QueueName=self.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        return url


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out.extend(messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return out
