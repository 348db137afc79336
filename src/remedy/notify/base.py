"""The one interface the pipeline uses to tell the world about a ledger entry.

The pipeline calls ``on_change`` after every state change it makes (decision recorded,
approval requested, approved/dismissed, each remediation outcome, release). Implementations
post or update Slack messages, publish to the owners' SNS topic, and update Security Hub.
A notifier must never make a remediation fail or roll back: the pipeline logs and counts
what a notifier raises and carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from remedy.ledger.base import Entry

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def on_change(self, entry: Entry) -> Entry | None:
        """Tell of `entry`; a part that records something on it (the ticket) returns the
        entry as it now is, for the parts after it."""


def no_count(name: str) -> None:
    """A metric counter that counts nothing (tests, the CLI)."""
    return


@dataclass
class Announcer:
    """Tells every notifier about a changed entry; a notifier's failure is logged and
    counted, never raised (a notification must not undo or block a remediation)."""

    notifiers: Sequence[Notifier] = ()
    count: Callable[[str], None] = no_count

    def __call__(self, entry: Entry) -> None:
        for notifier in self.notifiers:
            try:
                notifier.on_change(entry)
            except Exception:
                log.exception(
                    "notifier %s failed for %s (%s)",
                    type(notifier).__name__,
                    entry.key,
                    entry.state,
                )
                self.count("NotifierErrors")
