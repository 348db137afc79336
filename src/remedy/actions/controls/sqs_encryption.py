"""SQS.1: a queue encrypted at rest with SQS-managed keys (SSE-SQS).

Senders and receivers need no key permission for SSE-SQS, so nothing that uses the
queue notices. A queue with a KMS key complies. Release switches SSE-SQS off again.

The queue is found with ``GetQueueUrl`` naming the finding's account as its owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions.controls.base import ControlRemediation, Setting, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding

SSE = "SqsManagedSseEnabled"
KEY = "KmsMasterKeyId"


@register("sqs-queue-encryption")
class SqsQueueEncryption(ControlRemediation):
    """Turn on SSE-SQS unless the queue has a KMS key."""

    controls = ("SQS.1",)
    mode = Action.QUARANTINE
    service = "sqs"
    noun = "SQS queue"
    arn = ("sqs", ("",))
    types = frozenset({"AwsSqsQueue", "AWS::SQS::Queue"})
    permissions = frozenset({"sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes"})

    def _url(self, client: Any, id: str, finding: Finding) -> str:
        with missing_on("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            url: str = client.get_queue_url(QueueName=id, QueueOwnerAWSAccountId=finding.account)[
                "QueueUrl"
            ]
        return url

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        found = client.get_queue_attributes(
            QueueUrl=self._url(client, id, finding), AttributeNames=[SSE, KEY]
        )["Attributes"]
        return {SSE: found.get(SSE) == "true", KEY: found.get(KEY) or None}

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        return setting if setting[KEY] else {**setting, SSE: True}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.set_queue_attributes(
            QueueUrl=self._url(client, id, finding),
            Attributes={SSE: "true" if new[SSE] else "false"},
        )
