"""Principle 2: act only where the finding lives, and only for whom sent it.

The account to act in is the finding's own (``Finding.account``, read from the finding).
The envelope account is who delivered the event; it must be that same account or a
trusted aggregator (the Security Hub / Macie administrator). Anything else is a member
account forwarding findings about an account it does not own: a spoofing attempt.
"""

from __future__ import annotations

from collections.abc import Collection

from remedy.model import Action, Decision, Finding

UNTRUSTED = "builtin:trust"


def check(finding: Finding, aggregators: Collection[str]) -> Decision | None:
    """A ``reject`` decision naming both accounts if the sender is not trusted, else None."""
    sender = finding.envelope_account
    if sender == finding.account or sender in aggregators:
        return None
    return Decision(
        Action.REJECT,
        UNTRUSTED,
        f"envelope account {sender or '(none)'} is neither the finding's account "
        f"{finding.account} nor a trusted aggregator: possible spoofing, nothing done",
    )
