"""Telling each account's owners by email, through one SNS topic with filtered subscriptions.

Publishing: one message per state worth an email (approval requested, owners notified, each
remediation outcome, dismissed, released), with the attributes ``account_id``,
``severity``, ``action`` (the decision) and ``state``, and a plain-text body with the same
facts and links as the Slack message.

Subscriptions: one email subscription per owner address with a filter policy on
``account_id``, so an owner of account A never receives account B's messages. `plan` and
`apply` reconcile the topic with ``accounts.yaml`` (add, remove, update the filter);
running them again changes nothing. Owners of the ``default`` block also stand for every
account ``accounts.yaml`` does not list, which the filter expresses as ``anything-but``
the listed accounts they do not own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remedy.approvals.email_links import ApprovalLinks, LinkKeyError
from remedy.errors import RemedyError
from remedy.ledger.base import OUTCOMES, Entry, State
from remedy.ledger.vocabulary import awaiting_decision, is_contained_awaiting, is_marked
from remedy.notify.facts import Facts, facts_of
from remedy.policy.accounts import AccountInfo, Accounts, Resolution

log = logging.getLogger(__name__)

#: States that send the owners an email; transient ones (RECEIVED, QUARANTINING, APPROVED)
#: would only repeat what the outcome says a moment later, and REJECTED findings are
#: spoofing attempts for the security team, not the claimed account's owners.
PUBLISHED_STATES: frozenset[State] = OUTCOMES | {
    State.PENDING_APPROVAL,
    State.NOTIFIED,
    State.DISMISSED,
    State.RELEASED,
}

#: SNS allows at most 150 values across a filter policy.
MAX_FILTER_VALUES = 150
MAX_SUBJECT = 100
PROTOCOL = "email"
_PENDING = "PendingConfirmation"


class OwnersError(RemedyError):
    """accounts.yaml asks for something SNS subscriptions cannot express."""


# -- publishing ---------------------------------------------------------------------------


def render_text(
    facts: Facts, decide: ApprovalLinks | None = None, *, contained: bool = False
) -> str:
    """The plain-text email body: the same facts and links as the Slack message, and for a
    pending approval the signed links that decide it (`remedy.approvals.email_links`)."""
    lines = [
        facts.headline,
        "",
        f"Severity:  {facts.severity}",
        f"Account:   {facts.account_name} ({facts.account_id})",
        f"Region:    {facts.region}",
        f"Finding:   {facts.product} {facts.finding_type}",
    ]
    if facts.title:
        lines.append(f"Title:     {facts.title}")
    for i, resource in enumerate(facts.resources):
        lines.append(f"{'Resource:' if i == 0 else '':<10} {resource}")
    if facts.exposure:
        lines.append(f"Exposure:  {facts.exposure}")
    if facts.found:
        lines.append(f"Found:     {facts.found}")
    lines.append(f"Decision:  {facts.action} (rule {facts.rule})")
    if facts.reason:
        lines.append(f"Reason:    {facts.reason}")
    lines.append(f"Status:    {facts.status}")
    if facts.outcome:
        lines.append(f"Outcome:   {facts.outcome}")
    if facts.events:
        lines += ["", "History:"]
        for event in facts.events:
            note = f": {event.note}" if event.note else ""
            lines.append(f"  {event.at}  {event.what}, by {event.who}{note}")
    if facts.links:
        lines += ["", "Links:"]
        lines += [f"  {link.label}: {link.url}" for link in facts.links]
    if decide is not None:
        lines += [
            "",
            "Decide here (each link opens a page that shows the finding; nothing changes",
            f"until you press its button; the links work once, until {decide.expires}):",
            f"  {'Approve (restore)' if contained else 'Approve'}: {decide.approve}",
            f"  {'Deny (keep contained)' if contained else 'Dismiss'}: {decide.dismiss}",
        ]
    lines += ["", f"Finding key: {facts.key}"]
    return "\n".join(lines)


def subject(facts: Facts, lead: str = "remedy") -> str:
    """SNS subjects: ASCII, no line breaks, at most 100 characters."""
    text = f"{lead} [{facts.severity}] {facts.status} in {facts.account_name} ({facts.account_id})"
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


class OwnersNotifier:
    """Publishes entries' changes to the owners' topic (a `remedy.notify.base.Notifier`)."""

    def __init__(
        self,
        topic_arn: str,
        accounts: Accounts,
        client: Any,
        links: Callable[[Entry], ApprovalLinks] | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self.accounts = accounts
        self.client = client
        self.links = links

    def _decide(self, entry: Entry) -> ApprovalLinks | None:
        if self.links is None or not awaiting_decision(entry):
            return None
        try:
            return self.links(entry)
        except LinkKeyError as exc:
            # The owners still hear of it; they decide in Slack instead.
            log.warning("owners' email for %s goes without approval links: %s", entry.key, exc)
            return None

    def on_change(self, entry: Entry) -> None:
        # An approval its source closed is not the owners' to be asked again.
        if entry.state not in PUBLISHED_STATES or is_marked(entry):
            return
        self._publish(entry)

    def remind(self, entry: Entry, note: str) -> None:
        """Email the owners again that `entry` waits for a decision (`note`: since when)."""
        self._publish(entry, note)

    def _publish(self, entry: Entry, reminder: str = "") -> None:
        facts = facts_of(entry, self.accounts.get(entry.account).name)
        text = render_text(facts, self._decide(entry), contained=is_contained_awaiting(entry))
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject(facts, "remedy reminder") if reminder else subject(facts),
            Message=f"Reminder: {reminder}\n\n{text}" if reminder else text,
            MessageAttributes={
                "account_id": {"DataType": "String", "StringValue": entry.account},
                "severity": {"DataType": "String", "StringValue": facts.severity},
                "action": {"DataType": "String", "StringValue": facts.action},
                "state": {"DataType": "String", "StringValue": entry.state.value},
            },
        )


# -- subscriptions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One step of a sync: ``subscribe``, ``unsubscribe``, ``update`` or ``pending``
    (a subscription awaiting confirmation, whose filter SNS will not let us change yet)."""

    kind: str
    email: str
    filter_policy: Mapping[str, Any] | None = None
    subscription_arn: str | None = None

    def describe(self) -> str:
        policy = json.dumps(self.filter_policy, sort_keys=True) if self.filter_policy else ""
        if self.kind == "subscribe":
            return f"subscribe {self.email} with filter {policy}"
        if self.kind == "update":
            return f"update {self.email}: filter {policy}"
        if self.kind == "unsubscribe":
            return f"unsubscribe {self.email} ({self.subscription_arn})"
        return (
            f"{self.email}: awaiting email confirmation, its filter cannot change until "
            f"then; wanted {policy}"
        )


def resolved(accounts: Accounts) -> dict[str, Resolution]:
    """The accounts owners are kept for, each resolved with the layer of each field:
    accounts.yaml's entries and, with the organization attached, every account in it."""
    ids = set(accounts.by_id)
    if accounts.organization is not None:
        ids.update(accounts.organization.account_ids())
    return {account_id: accounts.resolve(account_id) for account_id in sorted(ids)}


def desired_filters(
    accounts: Accounts, infos: Mapping[str, AccountInfo] | None = None
) -> dict[str, dict[str, Any]]:
    """Each owner address (lower-cased) and the filter policy of its subscription.

    `infos` are the accounts to keep owners for (default: accounts.yaml's entries).
    """
    known = accounts.by_id if infos is None else infos
    owned: dict[str, set[str]] = {}
    for account_id, info in known.items():
        for email in info.owners:
            owned.setdefault(email.lower(), set()).add(account_id)
    default_owners = {email.lower() for email in accounts.default.owners}
    out: dict[str, dict[str, Any]] = {}
    for email in sorted(owned.keys() | default_owners):
        mine = owned.get(email, set())
        values: list[Any] = sorted(mine)
        count = len(values)
        if email in default_owners:
            others = sorted(set(known) - mine)
            # Every account nobody else owns, new ones included; in an organization where
            # units give most accounts their own owners that list can outgrow SNS's limit,
            # and then the accounts resolved to this owner are listed instead (rerun
            # `remedy owners sync` when accounts join).
            if len(others) <= MAX_FILTER_VALUES:
                values = [{"anything-but": others}] if others else [{"exists": True}]
                count = len(others)
        if count > MAX_FILTER_VALUES:
            raise OwnersError(
                f"accounts.yaml: owner {email} needs a filter over {count} accounts; SNS allows "
                f"{MAX_FILTER_VALUES}: give that owner a shared address on fewer accounts, or "
                "make it an owner in the default block"
            )
        out[email] = {"account_id": values}
    return out


def _normal(policy: Mapping[str, Any] | None) -> str:
    return json.dumps(policy or {}, sort_keys=True)


def _existing(client: Any, topic_arn: str) -> list[dict[str, Any]]:
    found = []
    for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        found += [s for s in page["Subscriptions"] if s["Protocol"] == PROTOCOL]
    return found


def plan(
    client: Any, topic_arn: str, accounts: Accounts, infos: Mapping[str, AccountInfo] | None = None
) -> list[Change]:
    """The changes that bring the topic's email subscriptions in line with accounts.yaml
    (and the organization: `infos` as in `desired_filters`)."""
    wanted = desired_filters(accounts, infos)
    changes: list[Change] = []
    seen: set[str] = set()
    for sub in _existing(client, topic_arn):
        email, arn = sub["Endpoint"].lower(), sub["SubscriptionArn"]
        pending = arn == _PENDING
        if email not in wanted or email in seen:
            # Not an owner any more, or a second subscription for one address.
            if not pending:
                changes.append(Change("unsubscribe", email, subscription_arn=arn))
            continue
        seen.add(email)
        if pending:
            changes.append(Change("pending", email, wanted[email]))
            continue
        attributes = client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        current = json.loads(attributes.get("FilterPolicy") or "{}")
        if _normal(current) != _normal(wanted[email]):
            changes.append(Change("update", email, wanted[email], arn))
    changes += [
        Change("subscribe", email, policy) for email, policy in wanted.items() if email not in seen
    ]
    return changes


def apply(client: Any, topic_arn: str, changes: Iterable[Change]) -> None:
    for change in changes:
        policy = json.dumps(change.filter_policy, sort_keys=True)
        if change.kind == "subscribe":
            client.subscribe(
                TopicArn=topic_arn,
                Protocol=PROTOCOL,
                Endpoint=change.email,
                Attributes={"FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"},
                ReturnSubscriptionArn=True,
            )
        elif change.kind == "update":
            client.set_subscription_attributes(
                SubscriptionArn=change.subscription_arn,
                AttributeName="FilterPolicy",
                AttributeValue=policy,
            )
        elif change.kind == "unsubscribe":
            client.unsubscribe(SubscriptionArn=change.subscription_arn)


def sync(
    client: Any,
    topic_arn: str,
    accounts: Accounts,
    *,
    dry_run: bool,
    infos: Mapping[str, AccountInfo] | None = None,
) -> Sequence[Change]:
    changes = plan(client, topic_arn, accounts, infos)
    if not dry_run:
        apply(client, topic_arn, changes)
    return changes
