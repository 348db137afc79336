"""The facts of one ledger entry that every notification tells, as plain data.

Slack (``slack_message``) and the owners' email (``owners``) render the same `Facts`, so
both say the same thing: severity, account, region, resources, what was found, the
decision, the status, who did what and when, and the console links. Nothing here is
escaped or formatted for a channel; each renderer does that for its own medium.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from remedy.ledger.base import OUTCOMES, Entry, State
from remedy.normalise.control_parameters import CONTROL_PARAMETERS
from remedy.normalise.malware import MALWARE
from remedy.notify import console
from remedy.regions import region_or

#: History ``by`` values for people acting from Slack: ``slack:<user id>``.
SLACK_ACTOR = "slack:"

STATUS: Mapping[State, str] = {
    State.RECEIVED: "Received",
    State.PENDING_APPROVAL: "Waiting for approval",
    State.APPROVED: "Approved: quarantine starting",
    State.DISMISSED: "Dismissed: no action",
    State.QUARANTINING: "Quarantining",
    State.QUARANTINED: "Quarantined",
    State.GONE: "Already gone: nothing to quarantine",
    State.CHANGED: "Object changed since the finding: left in place",
    State.LOCKED: "Locked (Object Lock or legal hold): copy kept, source untouched",
    State.ARCHIVED: "Archived storage class: restore it before quarantine",
    State.DENIED: "Access denied: check the remediation role, KMS key and bucket policy",
    State.FAILED: "Failed: will be retried",
    State.NOTIFIED: "Owners notified",
    State.IGNORED: "Ignored by policy",
    State.REJECTED: "Rejected: delivered by an account that is not trusted for it",
    State.RELEASED: "Released: object put back (false positive)",
    State.DRY_RUN: "Dry run: recorded what would be done, nothing done",
}

#: The same states worded for remediations that change configuration (security groups,
#: bucket access, IAM policies, gateways) rather than move an object.
GUARD_STATUS: Mapping[State, str] = {
    State.APPROVED: "Approved: remediation starting",
    State.QUARANTINED: "Contained: the risky change is undone",
    State.GONE: "Nothing to do: already fixed, allow-listed or not risky",
    State.CHANGED: "Changed since the finding: left as it is",
    State.RELEASED: "Released: the previous configuration is restored",
}
OBJECT_REMEDIATION = "s3-quarantine"
#: What people are told about a finding whose data anyone can read (`Finding.public`).
PUBLICLY_READABLE = "publicly readable"


def status_of(entry: Entry) -> str:
    """The status line for `entry`, worded for what its remediation does."""
    remediation = entry.decision.get("remediation")
    if remediation in (None, OBJECT_REMEDIATION):
        return STATUS[entry.state]
    if entry.state is State.QUARANTINED and entry.attrs.get("awaiting_approval"):
        return "Contained: waiting for approval to restore or keep it contained"
    return GUARD_STATUS.get(entry.state, STATUS[entry.state])


_CATEGORY_WORDS = {
    "FINANCIAL_INFORMATION": "financial data items",
    "PERSONAL_INFORMATION": "personal data items",
    "CREDENTIALS": "credentials",
    "CUSTOM_IDENTIFIER": "custom identifier matches",
}
# Plurals a trailing "s" gets wrong, for the Macie types that often stand alone.
_TYPE_PLURALS = {
    "DATE_OF_BIRTH": "dates of birth",
    "AWS_CREDENTIALS": "AWS secret keys",
    "ADDRESS": "addresses",
}


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Event:
    """One step of the entry's history: when, who (a Slack user id or a name), what."""

    at: str
    who: str
    what: str
    note: str = ""
    slack_user: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    key: str
    state: State
    status: str
    severity: str
    account_id: str
    account_name: str
    region: str
    source: str
    product: str
    finding_type: str
    title: str
    resources: tuple[str, ...]
    found: str
    action: str
    rule: str
    reason: str
    outcome: str
    events: tuple[Event, ...]
    links: tuple[Link, ...]
    #: How exposed the data is, when the source says: `PUBLICLY_READABLE`, else "".
    exposure: str = ""

    @property
    def headline(self) -> str:
        """One line: what, where; used as Slack's notification text and the email subject."""
        resource = self.resources[0] if self.resources else self.account_id
        return (
            f"[{self.severity}] {self.status}: {self.finding_type} on {resource} "
            f"in {self.account_name} ({self.account_id})"
        )


def control_settings(parameters: Mapping[str, Any]) -> str:
    """``control parameters: maxCredentialUsageAge 45``: what the member's control is set to,
    so an approver sees the threshold a fix will use (the member chooses it), cut at 200."""
    given = parameters.get(CONTROL_PARAMETERS)
    if not isinstance(given, dict) or not given:
        return ""
    named = "; ".join(
        f"{name} {', '.join(map(str, values)) if isinstance(values, list) else values}"
        for name, values in sorted(given.items())
    )
    text = f"control parameters: {named}"
    return text if len(text) <= 200 else text[:199] + "…"


def found_summary(detections: Iterable[Mapping[str, Any]]) -> str:
    """``30 credit card numbers, 136 personal data items``: per category, the type when
    the category has one, else the category's total."""
    by_category: dict[str, list[tuple[str, int]]] = {}
    for item in detections:
        by_category.setdefault(str(item["category"]), []).append(
            (str(item["type"]), int(item["count"]))
        )
    parts = []
    for category, items in by_category.items():
        total = sum(count for _, count in items)
        if category == "CUSTOM_IDENTIFIER":
            names = ", ".join(f'"{name}"' for name, _ in items)
            parts.append(f"{total} {_plural('custom identifier match', total)} ({names})")
        elif category == MALWARE:
            # Threat names as GuardDuty wrote them: people search for them verbatim.
            names = ", ".join(name for name, _ in items)
            parts.append(f"{_plural('threat', len(items))}: {names}")
        elif len(items) == 1:
            parts.append(f"{total} {_type_words(items[0][0], total)}")
        else:
            words = _CATEGORY_WORDS.get(category, category.lower().replace("_", " ") + " items")
            parts.append(f"{total} {words}")
    return ", ".join(parts)


def _plural(words: str, count: int) -> str:
    if count == 1:
        return words
    return words + ("es" if words.endswith(("s", "ch", "sh", "x")) else "s")


def _type_words(detection_type: str, count: int) -> str:
    if count != 1 and detection_type in _TYPE_PLURALS:
        return _TYPE_PLURALS[detection_type]
    words = detection_type.lower().replace("_", " ")
    for acronym in ("aws", "usa", "uk", "ssn", "pgp", "ssh"):
        words = " ".join(acronym.upper() if w == acronym else w for w in words.split())
    return _plural(words, count)


def resource_label(resource: Mapping[str, Any]) -> str:
    kind = resource.get("kind")
    bucket = resource.get("bucket")
    if kind == "s3-object" and bucket is not None:
        label = f"s3://{bucket}/{resource.get('key', '')}"
        if resource.get("version_id"):
            label += f" (version {resource['version_id']})"
        return label
    if kind == "s3-bucket" and bucket is not None:
        return f"s3://{bucket}"
    if kind == "security-group":
        return f"security group {resource.get('id', '')}"
    if kind == "iam-policy":
        return f"IAM policy {resource.get('id', '')}"
    if kind == "iam-access-key":
        owner = resource.get("name")
        return f"access key {resource.get('id', '')}" + (f" of {owner}" if owner else "")
    kind_name = resource.get("type") or kind or "resource"
    # The bare id (i-0abc…, a function's name) reads better than the ARN beside it.
    return f"{kind_name} {resource.get('name') or resource.get('id', '')}"


def destination(attrs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Where the remediation put the object (``attrs["destination"]``), if it did."""
    where = attrs.get("destination")
    return where if isinstance(where, Mapping) and where.get("bucket") else None


def state_note(entry: Entry) -> str:
    """The note of the latest history step into the entry's current state."""
    return next((h.note for h in reversed(entry.history) if h.target == entry.state), "")


def _outcome(entry: Entry) -> str:
    """What the remediation did, for outcome states: where the object went, or why not."""
    if entry.state not in OUTCOMES and entry.state is not State.RELEASED:
        return ""
    where = destination(entry.attrs)
    note = state_note(entry)
    if where is not None:
        moved = f"moved to s3://{where['bucket']}/{where.get('key', '')}"
        return f"{moved}; {note}" if note and note not in moved else moved
    return note


def _status(target: str) -> str:
    try:
        return STATUS[State(target)]
    except ValueError:
        return target


def _events(entry: Entry) -> tuple[Event, ...]:
    decided = entry.attrs.get("decided_by") or {}
    out = []
    for item in entry.history:
        slack_user = item.by.removeprefix(SLACK_ACTOR) if item.by.startswith(SLACK_ACTOR) else None
        who = item.by
        if slack_user is not None:
            name = decided.get("name") if decided.get("id") == slack_user else None
            who = f"{name} ({slack_user})" if name else slack_user
        out.append(Event(item.at, who, _status(item.target), item.note, slack_user))
    return tuple(out)


def _links(entry: Entry, finding: Mapping[str, Any]) -> tuple[Link, ...]:
    region = entry.region
    finding_id = str(finding.get("id") or "")
    links: list[Link] = []
    source = finding.get("source")
    if finding_id and source == "macie":
        links.append(Link("Finding in Macie", console.macie_finding_url(finding_id, region)))
    elif finding_id and source == "securityhub":
        links.append(
            Link("Finding in Security Hub", console.securityhub_finding_url(finding_id, region))
        )
    elif finding_id and source == "cloudtrail":
        links.append(Link("Event in CloudTrail", console.cloudtrail_event_url(finding_id, region)))
    resources = finding.get("resources") or []
    obj = next((r for r in resources if r.get("kind") == "s3-object" and r.get("bucket")), None)
    bucket = next((r for r in resources if r.get("kind") == "s3-bucket" and r.get("bucket")), None)
    if obj is not None:
        links.append(
            Link(
                "Object in S3",
                console.s3_object_url(
                    obj["bucket"],
                    obj.get("key", ""),
                    region_or(obj.get("region"), region),
                    obj.get("version_id"),
                ),
            )
        )
    elif bucket is not None:
        links.append(
            Link(
                "Bucket in S3",
                console.s3_bucket_url(bucket["bucket"], region_or(bucket.get("region"), region)),
            )
        )
    ticket = entry.attrs.get("ticket")
    # The ticket that follows the entry (`remedy.tickets`), once it is recorded.
    if isinstance(ticket, dict) and ticket.get("url"):
        links.append(Link(f"Ticket {ticket['id']}", ticket["url"]))
    where = destination(entry.attrs)
    if where is not None:
        links.append(
            Link(
                "Quarantined copy",
                console.s3_object_url(
                    where["bucket"], where.get("key", ""), region, where.get("version_id")
                ),
            )
        )
    return tuple(links)


def facts_of(entry: Entry, account_name: str) -> Facts:
    finding = entry.finding
    decision = entry.decision
    listed = finding.get("resources") or []
    object_buckets = {r.get("bucket") for r in listed if r.get("kind") == "s3-object"}
    # A Macie finding names the object and its bucket: the object says it all.
    resources = tuple(
        resource_label(r)
        for r in listed
        if not (r.get("kind") == "s3-bucket" and r.get("bucket") in object_buckets)
    )
    return Facts(
        key=entry.key,
        state=entry.state,
        status=status_of(entry),
        severity=str(finding.get("severity", "")),
        account_id=entry.account,
        account_name=account_name,
        region=entry.region,
        source=str(finding.get("source", "")),
        product=str(finding.get("product", "")),
        finding_type=str(finding.get("type", "")),
        title=str(finding.get("title") or ""),
        resources=resources,
        found=found_summary(finding.get("detections") or [])
        or control_settings(finding.get("parameters") or {}),
        action=str(decision.get("action", "")),
        rule=str(decision.get("rule", "")),
        reason=str(decision.get("reason", "")),
        outcome=_outcome(entry),
        events=_events(entry),
        links=_links(entry, finding),
        exposure=PUBLICLY_READABLE if finding.get("public") is True else "",
    )
