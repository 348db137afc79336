"""Telling people a breaker opened: one Slack message and one email to the owners.

Sent only by the invocation whose write opened it (`remedy.rails.breaker`), so a burst
of a thousand findings past the limit makes one message, not a thousand. The Slack
message goes to the account's top channel (``channels_by_severity``'s highest, else its
channel; the default block's for the overall breaker), the email through the owners'
topic to the owners of the account whose finding tripped it.
"""

from __future__ import annotations

import logging
from typing import Any

from remedy.model import Finding
from remedy.notify.owners import MAX_SUBJECT, OwnersNotifier
from remedy.notify.slack import SlackNotifier
from remedy.policy.accounts import Accounts
from remedy.rails.breaker import OVERALL, Opening

log = logging.getLogger(__name__)


def text(opening: Opening, finding: Finding) -> str:
    return (
        f"remedy: circuit breaker open ({opening.scope}). Automatic remediation is paused "
        f"there: further findings wait for approval, nothing is dropped. {opening.reason}. "
        f"Tripped by finding {finding.key} ({finding.type}) in {finding.account}."
    )


class BreakerAlerts:
    """Called with each breaker this process opened."""

    def __init__(self, accounts: Accounts, notifier: Any) -> None:
        self.accounts = accounts
        parts = dict(getattr(notifier, "parts", ()))
        slack, owners = parts.get("slack"), parts.get("owners")
        self.slack = slack if isinstance(slack, SlackNotifier) else None
        self.owners = owners if isinstance(owners, OwnersNotifier) else None

    def __call__(self, opening: Opening, finding: Finding) -> None:
        message = text(opening, finding)
        if self.slack is not None:
            info = (
                self.accounts.default
                if opening.scope == OVERALL
                else self.accounts.get(finding.account)
            )
            channel = info.channels[-1]
            if self.slack.pace is not None:
                self.slack.pace.wait(channel)
            self.slack.client.chat_postMessage(channel=channel, text=message)
        if self.owners is not None:
            subject = f"remedy: circuit breaker open in {finding.account} ({opening.scope})"
            self.owners.client.publish(
                TopicArn=self.owners.topic_arn,
                Subject=subject[:MAX_SUBJECT],
                Message=message,
                MessageAttributes={
                    "account_id": {"DataType": "String", "StringValue": finding.account},
                    "state": {"DataType": "String", "StringValue": "BREAKER_OPEN"},
                },
            )
