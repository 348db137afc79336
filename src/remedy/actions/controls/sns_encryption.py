"""SNS.1: a topic encrypted at rest with the AWS managed key ``alias/aws/sns``.

Approval by default, not automatic: AWS services that publish to topics (CloudWatch
alarms, EventBridge, S3 event notifications) cannot use the AWS managed key, whose policy
they may not change, so their messages would stop. A topic with any key complies.
Release removes the key again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remedy.actions.controls.base import ControlRemediation, Setting, missing_on
from remedy.actions.registry import register
from remedy.model import Finding

KEY = "KmsMasterKeyId"
MANAGED = "alias/aws/sns"


@register("sns-topic-encryption")
class SnsTopicEncryption(ControlRemediation):
    """Set the topic's ``KmsMasterKeyId`` to ``alias/aws/sns`` unless it has a key."""

    controls = ("SNS.1",)
    service = "sns"
    noun = "SNS topic"
    arn = ("sns", ("",))
    types = frozenset({"AwsSnsTopic", "AWS::SNS::Topic"})
    permissions = frozenset({"sns:GetTopicAttributes", "sns:SetTopicAttributes"})

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("NotFound", "NotFoundException"):
            found = client.get_topic_attributes(TopicArn=self.own_arn(client, finding, id))
        return {KEY: found["Attributes"].get(KEY) or None}

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        return setting if setting[KEY] else {KEY: MANAGED}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.set_topic_attributes(
            TopicArn=self.own_arn(client, finding, id),
            AttributeName=KEY,
            AttributeValue=new[KEY] or "",
        )
