"""The one model every source is normalised into.

Normalisers (``remedy.normalise``) build these; the policy (``remedy.policy``) decides on
them; actions (``remedy.actions``) act on them. Everything here is plain data: slotted
dataclasses that serialise to JSON with ``to_dict``. They are treated as immutable by
convention but not declared ``frozen``: a frozen dataclass costs ~4x more to construct,
and normalising must stay within 1.2x of ``json.loads`` (bench/decide.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so policies can say "at least MEDIUM"."""

    INFORMATIONAL = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def from_normalized(cls, score: float) -> Severity:
        """ASFF ``Severity.Normalized`` (0-100) to a label, as Security Hub defines it."""
        if score <= 0:
            return cls.INFORMATIONAL
        if score < 40:
            return cls.LOW
        if score < 70:
            return cls.MEDIUM
        if score < 90:
            return cls.HIGH
        return cls.CRITICAL


class Source(StrEnum):
    MACIE = "macie"
    SECURITYHUB = "securityhub"
    CLOUDTRAIL = "cloudtrail"
    #: GuardDuty's own events: Malware Protection for S3 scan results and native findings.
    GUARDDUTY = "guardduty"


class ResourceKind(StrEnum):
    S3_OBJECT = "s3-object"
    S3_BUCKET = "s3-bucket"
    SECURITY_GROUP = "security-group"
    IAM_POLICY = "iam-policy"
    INTERNET_GATEWAY = "internet-gateway"
    EC2_INSTANCE = "ec2-instance"
    #: A long-term IAM access key: ``id`` is the key id, ``name`` the user it belongs to.
    IAM_ACCESS_KEY = "iam-access-key"
    IAM_USER = "iam-user"
    IAM_ROLE = "iam-role"
    LAMBDA_FUNCTION = "lambda-function"
    SQS_QUEUE = "sqs-queue"
    EKS_CLUSTER = "eks-cluster"
    ECS_CLUSTER = "ecs-cluster"
    RDS_DB_INSTANCE = "rds-db-instance"
    OTHER = "other"


class Action(StrEnum):
    """What the policy decided. ``reject`` is never written in a policy: trust decides it."""

    QUARANTINE = "quarantine"
    APPROVE = "approve"
    NOTIFY = "notify"
    IGNORE = "ignore"
    REJECT = "reject"


class Mode(StrEnum):
    """How a decision is carried out; the safety rails (`remedy.rails`) set the other two."""

    ACT = "act"
    #: A rail (breaker, freeze, managed as code) turned an automatic remediation into an
    #: approval: ask first, never contain first.
    HOLD = "hold"
    #: Record what would be done and the calls it would make; do nothing.
    DRY_RUN = "dry-run"


class OnTimeout(StrEnum):
    """What an approval rule does once its deadline passes with no decision."""

    KEEP_WAITING = "keep-waiting"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class ApprovalDeadline:
    """How long an approval may wait: after `hours` (and every `hours` again) it is
    announced again; with ``on_timeout: quarantine`` it is approved by remedy instead."""

    hours: float
    on_timeout: OnTimeout = OnTimeout.KEEP_WAITING

    def to_dict(self) -> dict[str, Any]:
        return {"hours": self.hours, "on_timeout": self.on_timeout.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApprovalDeadline:
        return cls(float(data["hours"]), OnTimeout(data.get("on_timeout", "keep-waiting")))


@dataclass(slots=True)
class Resource:
    """One affected resource. Fields that do not apply to the kind stay None.

    ``type`` keeps the source's own type name (``AwsS3Object``, ``AwsEc2Instance``) so
    resources of kinds remedy does not act on are still shown faithfully. ``id`` is the
    resource's ARN wherever one exists; ``name`` its bare id (``i-0abc…``, a function name).
    """

    kind: ResourceKind
    id: str
    type: str = ""
    name: str | None = None
    region: str | None = None
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "id": self.id, "type": self.type}
        for name in ("name", "region", "bucket", "key", "version_id", "etag", "size"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resource:
        """The inverse of `to_dict` (the ledger stores findings as their JSON snapshot)."""
        return cls(
            kind=ResourceKind(data["kind"]),
            id=data["id"],
            type=data.get("type", ""),
            name=data.get("name"),
            region=data.get("region"),
            bucket=data.get("bucket"),
            key=data.get("key"),
            version_id=data.get("version_id"),
            etag=data.get("etag"),
            size=data.get("size"),
            details=data.get("details") or {},
        )


@dataclass(slots=True)
class Detection:
    """What a scanner found, e.g. category FINANCIAL_INFORMATION, type CREDIT_CARD_NUMBER, 30."""

    category: str
    type: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "type": self.type, "count": self.count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detection:
        return cls(category=data["category"], type=data["type"], count=data["count"])


#: Finding fields stored in its snapshot only when set (`to_dict` and `from_dict` agree).
_OPTIONAL_FIELDS = (
    "product_arn",
    "workflow_status",
    "record_state",
    "compliance_status",
    "action_name",
    "actor",
    "api_call",
    "error_code",
    "created_at",
    "updated_at",
    "public",
)


@dataclass(slots=True)
class Finding:
    """One finding, whatever its source.

    ``account``/``region`` are where the finding lives (from the finding itself, never from
    the envelope); ``envelope_account`` is who delivered it, kept for the trust check.
    ``key`` is the dedupe key: equal for the native Macie event and its Security Hub copy.
    ``type`` is canonical: a Macie finding seen through Security Hub carries Macie's own
    type (``SensitiveData:S3Object/Personal``), other ASFF findings their first ``Types`` entry.
    """

    key: str
    source: Source
    product: str
    type: str
    severity: Severity
    account: str
    region: str
    envelope_account: str
    id: str
    title: str = ""
    description: str = ""
    category: str | None = None
    resources: tuple[Resource, ...] = ()
    detections: tuple[Detection, ...] = ()
    product_arn: str | None = None
    workflow_status: str | None = None
    record_state: str | None = None
    compliance_status: str | None = None
    action_name: str | None = None
    actor: str | None = None
    api_call: str | None = None
    error_code: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    #: True when the source itself says the data is readable by anyone (Macie's bucket
    #: ``publicAccess.effectivePermission`` PUBLIC); None when it does not say so.
    public: bool | None = None
    #: Generated by the product on request (``CreateSampleFindings``), about placeholder
    #: resources: never remediated unless a rule asks for samples (`remedy.policy.rules`).
    sample: bool = False

    @property
    def s3_objects(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.kind is ResourceKind.S3_OBJECT)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "source": self.source.value,
            "product": self.product,
            "type": self.type,
            "category": self.category,
            "severity": self.severity.name,
            "account": self.account,
            "region": self.region,
            "envelope_account": self.envelope_account,
            "id": self.id,
            "title": self.title,
            "resources": [r.to_dict() for r in self.resources],
        }
        if self.detections:
            out["detections"] = [d.to_dict() for d in self.detections]
        for name in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.parameters:
            out["parameters"] = self.parameters
        if self.sample:
            out["sample"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_dict`, so a stored snapshot can be acted on again."""
        optional = {name: data[name] for name in _OPTIONAL_FIELDS if name in data}
        return cls(
            key=data["key"],
            source=Source(data["source"]),
            product=data["product"],
            type=data["type"],
            severity=Severity[data["severity"]],
            account=data["account"],
            region=data["region"],
            envelope_account=data["envelope_account"],
            id=data["id"],
            title=data.get("title", ""),
            description=data.get("description", ""),
            category=data.get("category"),
            resources=tuple(Resource.from_dict(r) for r in data.get("resources", ())),
            detections=tuple(Detection.from_dict(d) for d in data.get("detections", ())),
            parameters=data.get("parameters") or {},
            sample=data.get("sample") is True,
            **optional,
        )


@dataclass(frozen=True, slots=True)
class TicketWant:
    """A rule's ``ticket``: which backend, and when a ticket is worth opening."""

    backend: str
    min_severity: Severity = Severity.INFORMATIONAL
    #: Only when the entry waits for an approval or ends FAILED, LOCKED or CHANGED.
    only_when_a_person_must_act: bool = False
    #: A new occurrence's ticket: ``link`` (a new ticket linked to the previous one) or
    #: ``reopen`` (the previous occurrence's ticket, reopened).
    on_recurrence: str = "link"

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "min_severity": self.min_severity.name,
            "only_when_a_person_must_act": self.only_when_a_person_must_act,
            "on_recurrence": self.on_recurrence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketWant:
        return cls(
            data["backend"],
            Severity[data.get("min_severity", "INFORMATIONAL")],
            data.get("only_when_a_person_must_act") is True,
            data.get("on_recurrence", "link"),
        )


@dataclass(slots=True)
class Decision:
    """The policy's verdict: what to do, which rule said so, and why in words."""

    action: Action
    rule: str
    reason: str
    remediation: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: Approve decisions only: when to remind, and whether to act without an approver.
    deadline: ApprovalDeadline | None = None
    mode: Mode = Mode.ACT
    #: The rule asks for a ticket that follows the ledger entry (`remedy.tickets`).
    ticket: TicketWant | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action.value,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.remediation is not None:
            out["remediation"] = self.remediation
        if self.options:
            out["options"] = self.options
        if self.deadline is not None:
            out["deadline"] = self.deadline.to_dict()
        if self.mode is not Mode.ACT:
            out["mode"] = self.mode.value
        if self.ticket is not None:
            out["ticket"] = self.ticket.to_dict()
        return out
