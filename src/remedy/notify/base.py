"""The one interface the pipeline uses to tell the world about a ledger entry.

The pipeline calls ``on_change`` after every state change it makes (decision recorded,
approval requested, approved/dismissed, each remediation outcome, release). Implementations
post or update Slack messages, publish to the owners' SNS topic, and update Security Hub.
A notifier must never make a remediation fail or roll back: the pipeline logs and counts
what a notifier raises and carries on.
"""

from __future__ import annotations

from typing import Protocol

from remedy.ledger.base import Entry


class Notifier(Protocol):
    def on_change(self, entry: Entry) -> Entry | None:
        """Tell of `entry`; a part that records something on it (the ticket) returns the
        entry as it now is, for the parts after it."""
