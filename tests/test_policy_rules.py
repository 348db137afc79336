"""The shipped rules, the built-in guards, and what each match key means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_support import (
    cloudtrail,
    control,
    finding,
    iam_policy,
    internet_gateway,
    policy_dir,
    s3_bucket,
    s3_object,
    security_group,
    securityhub,
)
from remedy.actions import actions
from remedy.actions.controls.base import ControlRemediation
from remedy.model import (
    Action,
    ApprovalDeadline,
    Finding,
    OnTimeout,
    Resource,
    ResourceKind,
    Severity,
    Source,
)
from remedy.policy import Policy, decide, load_policy
from remedy.policy.rules import compile_rules


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy()


MACIE_SH = {"source": Source.SECURITYHUB, "workflow_status": "NEW", "record_state": "ACTIVE"}
PUBLIC_BUCKET = {"type": "Policy:IAMUser/S3BucketPublic", "category": "POLICY"}
# A GuardDuty Malware Protection scan result; its `type` says what the scan found.
SCAN = {"source": Source.GUARDDUTY, "product": "GuardDuty"}
MALWARE = {"type": "Object:S3/MaliciousFile", "category": "MALWARE"}
INSTANCE = Resource(
    ResourceKind.EC2_INSTANCE,
    "arn:aws:ec2:eu-west-1:111111111111:instance/i-0abc",
    name="i-0abc",
)
ACCESS_KEY = Resource(
    ResourceKind.IAM_ACCESS_KEY,
    "AKIAEXAMPLE",
    name="deploy",
    details={"user_type": "IAMUser"},
)


def _call(api: str, severity: Severity, *resources: Resource) -> Finding:
    return cloudtrail(type=api, api_call=api, severity=severity, resources=resources)


IAM_CALLS = (
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutGroupPolicy",
)
BUCKET_CALLS = ("s3:PutBucketPolicy", "s3:PutBucketAcl", "s3:DeletePublicAccessBlock")

# (case, finding, action, rule): every rule of the shipped policy and every guard. Each
# was checked against remediation.yaml by reading the rule, not by running it. Severities
# of CloudTrail calls are the normaliser's (normalise/cloudtrail.py): HIGH when the call
# opens a port to the world or makes a bucket public, INFORMATIONAL when it opens nothing,
# MEDIUM for IAM policy writes and internet gateways.
SHIPPED_CASES: list[tuple[str, Finding, Action, str]] = [
    (
        "console request on personal data: its own rule still decides",
        finding(
            type="SensitiveData:S3Object/Personal",
            action_name="Quarantine object",
            **{**MACIE_SH, "workflow_status": "NOTIFIED"},
        ),
        Action.APPROVE,
        "approve-personal-data",
    ),
    (
        "console request on another finding naming an object",
        securityhub(
            type="TTPs/Exfiltration/Exfiltration:S3-AnomalousBehavior",
            severity=Severity.MEDIUM,
            action_name="Quarantine object",
            resources=(s3_object(), s3_bucket()),
        ),
        Action.APPROVE,
        "approve-on-console-request",
    ),
    (
        "console request on a finding without an object",
        securityhub(action_name="Quarantine object"),
        Action.NOTIFY,
        "notify-securityhub-high",
    ),
    (
        "console request on an open-port control: the control's rule decides",
        control("EC2.19", security_group(), action_name="Quarantine object"),
        Action.QUARANTINE,
        "close-world-open-ports-reported",
    ),
    ("malware scan result", finding(**SCAN, **MALWARE), Action.QUARANTINE, "quarantine-malware"),
    (
        "GuardDuty malware finding via SH",
        securityhub(**MALWARE, resources=(s3_object(),)),
        Action.QUARANTINE,
        "quarantine-malware",
    ),
    (
        "malware finding from a product that is not GuardDuty",
        securityhub(**MALWARE, product="arn:aws:securityhub:eu-west-1:111111111111:product/x"),
        Action.NOTIFY,
        "notify-securityhub-high",
    ),
    *(
        (
            f"scan {status}",
            finding(**SCAN, type=f"MalwareScan:S3Object/{status}", severity=Severity.MEDIUM),
            Action.NOTIFY,
            "notify-unscanned-uploads",
        )
        for status in ("UNSUPPORTED", "ACCESS_DENIED", "FAILED")
    ),
    (
        "clean scan is below the minimum",
        finding(
            **SCAN, type="MalwareScan:S3Object/NO_THREATS_FOUND", severity=Severity.INFORMATIONAL
        ),
        Action.IGNORE,
        "builtin:min-severity",
    ),
    (
        "native GuardDuty instance finding naming no instance: notify instead",
        finding(**SCAN, type="Backdoor:EC2/C&CActivity.B", resources=()),
        Action.NOTIFY,
        "isolate-compromised-instances",
    ),
    (
        "C&C activity on an instance, HIGH: isolate, then ask",
        finding(**SCAN, type="Backdoor:EC2/C&CActivity.B", resources=(INSTANCE,)),
        Action.APPROVE,
        "isolate-compromised-instances",
    ),
    (
        "the Security Hub copy of a CRITICAL runtime finding on an instance",
        securityhub(
            product="GuardDuty",
            type="CryptoCurrency:Runtime/BitcoinTool.B",
            severity=Severity.CRITICAL,
            resources=(INSTANCE,),
        ),
        Action.APPROVE,
        "isolate-compromised-instances",
    ),
    (
        "exfiltrated instance credentials, HIGH: contain, then ask",
        finding(
            **SCAN,
            type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            resources=(ACCESS_KEY,),
        ),
        Action.APPROVE,
        "contain-stolen-credentials",
    ),
    (
        "anomalous credential use, MEDIUM: notify only",
        finding(
            **SCAN,
            type="CredentialAccess:IAMUser/AnomalousBehavior",
            severity=Severity.MEDIUM,
            resources=(ACCESS_KEY,),
        ),
        Action.NOTIFY,
        "notify-threats-below-high",
    ),
    (
        "root credential usage: notify only",
        finding(**SCAN, type="Policy:IAMUser/RootCredentialUsage", resources=(ACCESS_KEY,)),
        Action.NOTIFY,
        "notify-root-credential-usage",
    ),
    (
        "a GuardDuty sample finding is never acted on",
        finding(
            **SCAN,
            type="Backdoor:EC2/C&CActivity.B",
            resources=(INSTANCE,),
            sample=True,
        ),
        Action.IGNORE,
        "ignore-samples",
    ),
    (
        "native GuardDuty finding of another type, HIGH",
        finding(**SCAN, type="Recon:EC2/PortProbeUnprotectedPort", resources=()),
        Action.NOTIFY,
        "notify-guardduty-high",
    ),
    (
        "native GuardDuty finding, MEDIUM",
        finding(**SCAN, type="Recon:EC2/Portscan", severity=Severity.MEDIUM, resources=()),
        Action.IGNORE,
        "ignore-guardduty-below-high",
    ),
    ("credentials", finding(), Action.QUARANTINE, "quarantine-credentials"),
    (
        "a custom product calling itself Macie, HIGH",
        finding(product="custom: Macie", **MACIE_SH),
        Action.NOTIFY,
        "notify-custom-products",
    ),
    (
        "a custom product naming a control, MEDIUM",
        control("S3.8", s3_bucket(), product="custom: Security Hub", severity=Severity.MEDIUM),
        Action.IGNORE,
        "ignore-custom-products",
    ),
    ("credentials via SH", finding(**MACIE_SH), Action.QUARANTINE, "quarantine-credentials"),
    (
        "credentials at LOW still quarantined",
        finding(severity=Severity.LOW),
        Action.QUARANTINE,
        "quarantine-credentials",
    ),
    (
        "financial",
        finding(type="SensitiveData:S3Object/Financial"),
        Action.QUARANTINE,
        "quarantine-financial",
    ),
    (
        "financial via SH",
        finding(type="SensitiveData:S3Object/Financial", **MACIE_SH),
        Action.QUARANTINE,
        "quarantine-financial",
    ),
    (
        "credentials via SH naming only the bucket",
        finding(resources=(s3_bucket(),), **MACIE_SH),
        Action.NOTIFY,
        "quarantine-credentials",
    ),
    (
        "personal",
        finding(type="SensitiveData:S3Object/Personal", severity=Severity.MEDIUM),
        Action.APPROVE,
        "approve-personal-data",
    ),
    (
        "personal via SH",
        finding(type="SensitiveData:S3Object/Personal", **MACIE_SH),
        Action.APPROVE,
        "approve-personal-data",
    ),
    (
        "custom identifier",
        finding(type="SensitiveData:S3Object/CustomIdentifier"),
        Action.APPROVE,
        "approve-personal-data",
    ),
    (
        "multiple",
        finding(type="SensitiveData:S3Object/Multiple"),
        Action.APPROVE,
        "approve-personal-data",
    ),
    # In a bucket Macie says anyone can read: moved first, not asked about.
    (
        "public personal data",
        finding(type="SensitiveData:S3Object/Personal", public=True),
        Action.QUARANTINE,
        "quarantine-public-sensitive-data",
    ),
    (
        "public custom identifier: the owners are still asked",
        finding(type="SensitiveData:S3Object/CustomIdentifier", public=True),
        Action.APPROVE,
        "approve-personal-data",
    ),
    # Macie policy findings: a public bucket gets Block Public Access, the rest notify.
    (
        "macie public bucket",
        finding(**PUBLIC_BUCKET, resources=(s3_bucket(),)),
        Action.QUARANTINE,
        "block-public-buckets-macie",
    ),
    (
        "macie public bucket via SH",
        finding(**PUBLIC_BUCKET, resources=(s3_bucket(),), **MACIE_SH),
        Action.QUARANTINE,
        "block-public-buckets-macie",
    ),
    (
        "macie S3BucketPublic* subtype (aws-cli sample's S3BucketPublicReadAccess)",
        finding(
            type="Policy:IAMUser/S3BucketPublicReadAccess",
            category="POLICY",
            resources=(s3_bucket(),),
        ),
        Action.QUARANTINE,
        "block-public-buckets-macie",
    ),
    (
        "macie public bucket naming no bucket",
        finding(**PUBLIC_BUCKET, resources=()),
        Action.NOTIFY,
        "block-public-buckets-macie",
    ),
    (
        "macie bucket policy finding that is not about a public bucket",
        finding(
            type="Policy:IAMUser/S3BucketEncryptionDisabled",
            category="POLICY",
            resources=(s3_bucket(),),
        ),
        Action.NOTIFY,
        "notify-macie-policy",
    ),
    (
        # Block Public Access turned off is not yet public: tell the owners (S3.8 acts).
        "macie block public access disabled via SH",
        finding(
            type="Policy:IAMUser/S3BlockPublicAccessDisabled",
            category="POLICY",
            resources=(s3_bucket(),),
            **MACIE_SH,
        ),
        Action.NOTIFY,
        "notify-macie-policy",
    ),
    (
        "macie type no rule names",
        finding(type="SensitiveData:S3Object/Unknown"),
        Action.IGNORE,
        "builtin:no-match",
    ),
    # Security Hub controls that guarded remediations close.
    *(
        (
            f"control {control_id}",
            control(control_id, security_group(), severity=severity),
            Action.QUARANTINE,
            "close-world-open-ports-reported",
        )
        for control_id, severity in (("EC2.18", Severity.HIGH), ("EC2.19", Severity.CRITICAL))
    ),
    (
        "control EC2.19 naming no security group",
        control("EC2.19", severity=Severity.CRITICAL),
        Action.NOTIFY,
        "close-world-open-ports-reported",
    ),
    *(
        (
            f"control {control_id}",
            control(control_id, s3_bucket(), severity=severity),
            Action.QUARANTINE,
            "block-public-buckets-reported",
        )
        for control_id, severity in (
            ("S3.2", Severity.CRITICAL),
            ("S3.3", Severity.CRITICAL),
            ("S3.8", Severity.HIGH),
        )
    ),
    (
        "control S3.8 from a member, delivered by the aggregator",
        control("S3.8", s3_bucket(), account="222222222222", envelope_account="999999999999"),
        Action.QUARANTINE,
        "block-public-buckets-reported",
    ),
    (
        "control S3.8 naming no bucket",
        control("S3.8", security_group()),
        Action.NOTIFY,
        "block-public-buckets-reported",
    ),
    (
        "control S3.8 once passed",
        control("S3.8", s3_bucket(), compliance_status="PASSED"),
        Action.IGNORE,
        "builtin:passed",
    ),
    (
        # Our own BatchUpdateFindings emits another Imported event: it must not loop.
        "control S3.8 after remedy set it NOTIFIED",
        control("S3.8", s3_bucket(), workflow_status="NOTIFIED"),
        Action.IGNORE,
        "builtin:workflow-status",
    ),
    (
        "a HIGH control no guard rule names",
        control("IAM.1", iam_policy()),
        Action.NOTIFY,
        "notify-securityhub-high",
    ),
    (
        "S3.1 is account-wide, not a bucket's: the account's Block Public Access, MEDIUM",
        control("S3.1", severity=Severity.MEDIUM),
        Action.QUARANTINE,
        "fix-s3-account-block-public-access",
    ),
    # Everything else from Security Hub.
    ("guardduty HIGH", securityhub(), Action.NOTIFY, "notify-securityhub-high"),
    (
        "inspector CRITICAL",
        securityhub(product="Inspector", severity=Severity.CRITICAL),
        Action.NOTIFY,
        "notify-securityhub-high",
    ),
    (
        "guardduty MEDIUM",
        securityhub(severity=Severity.MEDIUM),
        Action.IGNORE,
        "ignore-securityhub-below-high",
    ),
    (
        "config LOW",
        securityhub(product="Config", severity=Severity.LOW),
        Action.IGNORE,
        "ignore-securityhub-below-high",
    ),
    # Guarded API calls.
    *(
        (
            api,
            _call(api, Severity.MEDIUM, iam_policy()),
            Action.APPROVE,
            "contain-restricted-iam-policies",
        )
        for api in IAM_CALLS
    ),
    (
        "iam policy write naming no policy",
        _call("iam:PutRolePolicy", Severity.MEDIUM),
        Action.NOTIFY,
        "contain-restricted-iam-policies",
    ),
    (
        "world-open ingress",
        cloudtrail(),
        Action.QUARANTINE,
        "close-world-open-ports",
    ),
    (
        "ingress opening nothing to the world",
        cloudtrail(severity=Severity.INFORMATIONAL),
        Action.IGNORE,
        "builtin:min-severity",
    ),
    *(
        (
            f"{api} making a bucket public",
            _call(api, Severity.HIGH, s3_bucket()),
            Action.QUARANTINE,
            "block-public-buckets",
        )
        for api in BUCKET_CALLS
    ),
    (
        "public bucket policy on a bucket the call does not name",
        _call("s3:PutBucketPolicy", Severity.HIGH),
        Action.NOTIFY,
        "block-public-buckets",
    ),
    (
        "bucket ACL that makes nothing public",
        _call("s3:PutBucketAcl", Severity.INFORMATIONAL, s3_bucket()),
        Action.IGNORE,
        "builtin:min-severity",
    ),
    (
        "internet gateway attached",
        _call("ec2:AttachInternetGateway", Severity.MEDIUM, internet_gateway()),
        Action.APPROVE,
        "approve-internet-gateway",
    ),
    # Only reachable with a call the rules above do not name, or a lower severity than the
    # normaliser gives today.
    (
        "a guarded call no rule above names",
        _call("iam:DeletePolicy", Severity.MEDIUM, iam_policy()),
        Action.NOTIFY,
        "notify-cloudtrail-guards",
    ),
    (
        "bucket ACL at LOW",
        _call("s3:PutBucketAcl", Severity.LOW, s3_bucket()),
        Action.NOTIFY,
        "notify-cloudtrail-guards",
    ),
    # Guards, before any rule.
    (
        "failed call",
        cloudtrail(error_code="AccessDenied"),
        Action.IGNORE,
        "builtin:failed-call",
    ),
    (
        "below the minimum",
        securityhub(severity=Severity.INFORMATIONAL),
        Action.IGNORE,
        "builtin:min-severity",
    ),
    (
        "SH update not NEW",
        finding(**{**MACIE_SH, "workflow_status": "NOTIFIED"}),
        Action.IGNORE,
        "builtin:workflow-status",
    ),
    (
        "custom action on a NOTIFIED finding",
        finding(**{**MACIE_SH, "workflow_status": "NOTIFIED"}, action_name="Quarantine"),
        Action.QUARANTINE,
        "quarantine-credentials",
    ),
    (
        "archived",
        finding(**{**MACIE_SH, "record_state": "ARCHIVED"}),
        Action.IGNORE,
        "builtin:archived",
    ),
    (
        "passed control",
        securityhub(compliance_status="PASSED", severity=Severity.HIGH),
        Action.IGNORE,
        "builtin:passed",
    ),
    (
        "a sample finding (CreateSampleFindings)",
        finding(**MACIE_SH, sample=True),
        Action.IGNORE,
        "ignore-samples",
    ),
]


# The Security Hub control remediations: each control its shipped rule, in its mode.
CONTROL_CASES = [
    (control(control_id, severity=Severity.MEDIUM), f"fix-{cls.name}", cls)
    for cls in actions().values()
    if issubclass(cls, ControlRemediation)
    for control_id in cls.controls
]
SHIPPED_CASES += [
    (f"{item.parameters['control_id']} fixed by {cls.name}", item, cls.mode, rule)
    for item, rule, cls in CONTROL_CASES
]


@pytest.mark.parametrize(
    ("case", "item", "action", "rule"), SHIPPED_CASES, ids=[c[0] for c in SHIPPED_CASES]
)
def test_shipped_policy(
    shipped: Policy, case: str, item: Finding, action: Action, rule: str
) -> None:
    decision = decide(item, shipped)
    assert (decision.action, decision.rule) == (action, rule), decision.reason


def test_every_shipped_rule_has_a_case(shipped: Policy) -> None:
    covered = {rule for *_, rule in SHIPPED_CASES}
    assert set(shipped.rules.ids) <= covered


def test_reason_names_rule_finding_account_and_object(shipped: Policy) -> None:
    decision = decide(finding(), shipped)
    assert decision.reason == (
        "rule quarantine-credentials: Macie SensitiveData:S3Object/Credentials at HIGH "
        "in 111111111111 (prod-payments) on s3://payments-exports/2024/cards.csv"
    )
    assert decision.remediation == "s3-quarantine"


def test_reason_for_an_unlisted_account_and_several_objects(shipped: Policy) -> None:
    item = finding(
        account="444444444444",
        resources=(s3_object("a", "x"), s3_object("a", "y"), s3_object("b", "z")),
    )
    assert decide(item, shipped).reason == (
        "rule quarantine-credentials: Macie SensitiveData:S3Object/Credentials at HIGH "
        "in 444444444444 (unlisted account) on s3://a/x and 2 more"
    )


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (cloudtrail(error_code="AccessDenied"), "the call failed (AccessDenied); nothing changed"),
        (
            securityhub(severity=Severity.INFORMATIONAL),
            "severity INFORMATIONAL is below the minimum LOW",
        ),
        (
            securityhub(workflow_status="SUPPRESSED"),
            "workflow status is SUPPRESSED, not NEW: an update of a finding already handled",
        ),
        (securityhub(record_state="ARCHIVED"), "the finding is ARCHIVED"),
        (securityhub(compliance_status="PASSED"), "the compliance check PASSED; nothing to fix"),
        (finding(type="SensitiveData:S3Object/Unknown"), "no rule matched"),
    ],
)
def test_builtin_reasons(shipped: Policy, item: Finding, reason: str) -> None:
    assert decide(item, shipped).reason == reason


def test_defaults_min_severity_applies_before_rules(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        remediation=(
            "version: 1\ndefaults: {min_severity: HIGH}\n"
            "rules:\n  - {id: all, match: {}, action: notify}\n"
        ),
    )
    policy = load_policy(folder)
    assert decide(finding(severity=Severity.MEDIUM), policy).rule == "builtin:min-severity"
    assert decide(finding(severity=Severity.HIGH), policy).rule == "all"


# What each match key means, one rule at a time. (match, matching finding, other finding)
KEY_CASES: list[tuple[str, dict[str, Any], Finding, Finding]] = [
    ("source", {"source": ["cloudtrail", "macie"]}, cloudtrail(), securityhub()),
    ("product glob", {"product": ["Guard*"]}, securityhub(), securityhub(product="Inspector")),
    ("product ignores case", {"product": ["guardduty"]}, securityhub(), finding()),
    (
        "type glob",
        {"type": ["SensitiveData:S3Object/*"]},
        finding(),
        finding(type="Policy:IAMUser/S3BucketPublic"),
    ),
    (
        "type glob is case-sensitive",
        {"type": ["*/Credentials"]},
        finding(),
        finding(type="SensitiveData:S3Object/credentials"),
    ),
    ("category", {"category": ["POLICY"]}, finding(category="POLICY"), finding()),
    (
        "min_severity",
        {"min_severity": "HIGH"},
        finding(severity=Severity.CRITICAL),
        finding(severity=Severity.MEDIUM),
    ),
    (
        "accounts",
        {"accounts": ["222222222222", "333333333333"]},
        finding(account="333333333333"),
        finding(),
    ),
    (
        "environment from accounts.yaml",
        {"environment": ["prod"]},
        finding(),
        finding(account="333333333333"),
    ),
    (
        "environment of an unlisted account is the default's",
        {"environment": ["unknown"]},
        finding(account="444444444444"),
        finding(),
    ),
    (
        "bucket glob, any S3 resource",
        {"bucket": ["payments-*"]},
        finding(resources=(s3_object("logs", "a"), s3_object("payments-x", "b"))),
        finding(resources=(s3_object("logs", "a"),)),
    ),
    (
        "bucket matches a bucket resource",
        {"bucket": ["payments-*"]},
        finding(resources=(s3_bucket(),)),
        securityhub(),
    ),
    (
        "key glob, * crosses /",
        {"key": ["exports/*.csv"]},
        finding(resources=(s3_object(key="exports/2024/01/a.csv"),)),
        finding(resources=(s3_object(key="exports/a.csv.gz"),)),
    ),
    (
        "key needs an object, not a bucket",
        {"key": ["*"]},
        finding(resources=(s3_object(),)),
        finding(resources=(s3_bucket(),)),
    ),
    (
        "key with spaces and unicode, exactly",
        {"key": ["dir/naïve file ?.txt"]},
        finding(resources=(s3_object(key="dir/naïve file 1.txt"),)),
        finding(resources=(s3_object(key="dir/naive file 1.txt"),)),
    ),
    (
        "bucket and key on the same object",
        {"bucket": ["a"], "key": ["x"]},
        finding(resources=(s3_object("b", "y"), s3_object("a", "x"))),
        finding(resources=(s3_object("a", "y"), s3_object("b", "x"))),
    ),
    (
        "action_name",
        {"action_name": ["Quarantine"]},
        securityhub(action_name="Quarantine"),
        securityhub(action_name="Ec2 aws"),
    ),
    (
        "workflow_status",
        {"workflow_status": ["NEW"]},
        securityhub(),
        finding(),
    ),
    (
        "control_id glob",
        {"control_id": ["EC2.*"]},
        securityhub(parameters={"control_id": "EC2.19"}),
        securityhub(parameters={"control_id": "S3.1"}),
    ),
    (
        "keys are ANDed",
        {"source": ["securityhub"], "min_severity": "CRITICAL"},
        securityhub(severity=Severity.CRITICAL),
        finding(severity=Severity.CRITICAL),
    ),
    (
        "empty match matches everything",
        {},
        cloudtrail(),
        None,  # type: ignore[list-item]
    ),
]


@pytest.mark.parametrize(("case", "match", "hit", "miss"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_match_key(
    tmp_path: Path, case: str, match: dict[str, Any], hit: Finding, miss: Finding | None
) -> None:
    policy = load_policy(
        policy_dir(tmp_path, [{"id": "the-rule", "match": match, "action": "notify"}])
    )
    assert decide(hit, policy).rule == "the-rule"
    if miss is not None:
        assert decide(miss, policy).rule == "builtin:no-match"


def test_first_match_wins_and_remediation_defaults(tmp_path: Path) -> None:
    policy = load_policy(
        policy_dir(
            tmp_path,
            [
                {"id": "prod-first", "match": {"environment": ["prod"]}, "action": "approve"},
                {"id": "then-all", "match": {}, "action": "quarantine"},
                {"id": "never", "match": {}, "action": "notify"},
            ],
        )
    )
    first = decide(finding(), policy)
    assert (first.action, first.rule, first.remediation) == (
        Action.APPROVE,
        "prod-first",
        "s3-quarantine",
    )
    second = decide(finding(account="333333333333"), policy)
    assert (second.rule, second.remediation) == ("then-all", "s3-quarantine")
    assert policy.rules.ids == ("prod-first", "then-all", "never")


def test_approve_decisions_carry_the_rules_deadline_or_the_default(tmp_path: Path) -> None:
    document = {
        "version": 1,
        "defaults": {"approval_deadline_hours": 8},
        "rules": [
            {
                "id": "prod-times-out",
                "match": {"environment": ["prod"]},
                "action": "approve",
                "approval_deadline_hours": 0.5,
                "on_timeout": "quarantine",
            },
            {"id": "staging-waits", "match": {"environment": ["staging"]}, "action": "approve"},
            {"id": "then-notify", "match": {}, "action": "notify"},
        ],
    }
    folder = policy_dir(tmp_path)
    (folder / "remediation.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    policy = load_policy(folder)

    assert decide(finding(), policy).deadline == ApprovalDeadline(0.5, OnTimeout.QUARANTINE)
    assert decide(finding(account="222222222222"), policy).deadline == ApprovalDeadline(8)
    assert decide(finding(account="333333333333"), policy).deadline is None
    # Without defaults: a day, and keep waiting.
    del document["defaults"]
    (folder / "remediation.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    assert decide(finding(account="222222222222"), load_policy(folder)).deadline == (
        ApprovalDeadline(24, OnTimeout.KEEP_WAITING)
    )


def test_notify_and_ignore_carry_no_remediation(shipped: Policy) -> None:
    for item in (
        _call("s3:PutBucketAcl", Severity.LOW, s3_bucket()),
        securityhub(severity=Severity.LOW),
        control("S3.8"),  # block-public-buckets-reported, but nothing to act on
    ):
        decision = decide(item, shipped)
        assert decision.remediation is None
        assert decision.options == {}


# The remediation (and options) each acting rule hands to the action registry.
REMEDIATION_CASES: list[tuple[Finding, str, str, dict[str, Any]]] = [
    (finding(**SCAN, **MALWARE), "quarantine-malware", "s3-quarantine", {}),
    (
        finding(**SCAN, type="Trojan:EC2/DNSDataExfiltration", resources=(INSTANCE,)),
        "isolate-compromised-instances",
        "isolate-instance",
        {"break_glass": ["BreakGlass"]},
    ),
    (
        finding(
            **SCAN,
            type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
            resources=(ACCESS_KEY,),
        ),
        "contain-stolen-credentials",
        "contain-principal",
        {"break_glass": ["BreakGlass"]},
    ),
    (finding(), "quarantine-credentials", "s3-quarantine", {}),
    (
        finding(type="SensitiveData:S3Object/Financial"),
        "quarantine-financial",
        "s3-quarantine",
        {},
    ),
    (
        finding(type="SensitiveData:S3Object/Personal"),
        "approve-personal-data",
        "s3-quarantine",
        {},
    ),
    (
        finding(type="SensitiveData:S3Object/Multiple", public=True),
        "quarantine-public-sensitive-data",
        "s3-quarantine",
        {},
    ),
    (
        securityhub(action_name="Quarantine object", resources=(s3_object(),)),
        "approve-on-console-request",
        "s3-quarantine",
        {},
    ),
    (
        finding(**PUBLIC_BUCKET, resources=(s3_bucket(),)),
        "block-public-buckets-macie",
        "s3-block-public-access",
        {},
    ),
    # No options: revoke-open-ingress falls back to its own DEFAULT_PORTS.
    (
        control("EC2.19", security_group(), severity=Severity.CRITICAL),
        "close-world-open-ports-reported",
        "revoke-open-ingress",
        {},
    ),
    (
        control("S3.2", s3_bucket(), severity=Severity.CRITICAL),
        "block-public-buckets-reported",
        "s3-block-public-access",
        {},
    ),
    (
        _call("iam:PutUserPolicy", Severity.MEDIUM, iam_policy()),
        "contain-restricted-iam-policies",
        "iam-policy-guard",
        {},
    ),
    (
        cloudtrail(),
        "close-world-open-ports",
        "revoke-open-ingress",
        {"ports": [22, 3389, 3306, 5432, 1433, 6379, 9200, 27017]},
    ),
    (
        _call("s3:DeletePublicAccessBlock", Severity.HIGH, s3_bucket()),
        "block-public-buckets",
        "s3-block-public-access",
        {},
    ),
    (
        _call("ec2:AttachInternetGateway", Severity.MEDIUM, internet_gateway()),
        "approve-internet-gateway",
        "detach-internet-gateway",
        {},
    ),
]


REMEDIATION_CASES += [(item, rule, cls.name, {}) for item, rule, cls in CONTROL_CASES]


@pytest.mark.parametrize(
    ("item", "rule", "remediation", "options"),
    REMEDIATION_CASES,
    ids=[c[1] for c in REMEDIATION_CASES],
)
def test_acting_rules_name_their_remediation(
    shipped: Policy, item: Finding, rule: str, remediation: str, options: dict[str, Any]
) -> None:
    decision = decide(item, shipped)
    assert (decision.rule, decision.remediation, decision.options) == (rule, remediation, options)
    # Each decision gets its own copy: an action editing its options cannot change the rule.
    decision.options["ports"] = []
    assert decide(item, shipped).options == options


def test_every_acting_shipped_rule_has_a_remediation_case(shipped: Policy) -> None:
    acting = {r.id for r in shipped.rules.rules if r.remediation is not None}
    assert acting == {rule for _, rule, _, _ in REMEDIATION_CASES}


def test_account_routing(shipped: Policy) -> None:
    payments = shipped.account("111111111111")
    assert payments.channel_for(Severity.MEDIUM) == "#payments-security"
    assert payments.channel_for(Severity.HIGH) == "#payments-oncall"
    assert payments.approvers.usergroup == "S0PAYAPPROV"
    sandbox = shipped.account("333333333333")
    assert (sandbox.name, sandbox.environment, sandbox.listed) == ("dev-sandbox", "dev", True)
    # What a listed account leaves out comes from the default block.
    assert sandbox.owners == ("platform-team@example.com",)
    assert sandbox.channel_for(Severity.LOW) == "#sec-findings"
    assert sandbox.channel_for(Severity.CRITICAL) == "#sec-incidents"
    assert sandbox.approvers.usergroup == "S0SECAPPROVE"
    unlisted = shipped.account("444444444444")
    assert (unlisted.name, unlisted.listed) == ("unlisted account", False)


_SEVERITIES = st.sampled_from(list(Severity))
_TEXT = st.text(max_size=20)
_RESOURCES = st.lists(
    st.builds(
        Resource,
        kind=st.sampled_from(list(ResourceKind)),
        id=_TEXT,
        bucket=st.none() | _TEXT,
        key=st.none() | _TEXT,
    ),
    max_size=3,
).map(tuple)


@settings(max_examples=200, deadline=None)
@given(
    source=st.sampled_from(list(Source)),
    product=_TEXT,
    type_=_TEXT,
    severity=_SEVERITIES,
    account=st.sampled_from(["111111111111", "333333333333", "444444444444"]),
    envelope=st.sampled_from(["111111111111", "999999999999", "555555555555"]),
    workflow=st.none() | st.sampled_from(["NEW", "NOTIFIED", "RESOLVED"]),
    action_name=st.none() | _TEXT,
    error_code=st.none() | _TEXT,
    resources=_RESOURCES,
)
def test_any_finding_gets_exactly_one_known_decision(
    shipped: Policy,
    source: Source,
    product: str,
    type_: str,
    severity: Severity,
    account: str,
    envelope: str,
    workflow: str | None,
    action_name: str | None,
    error_code: str | None,
    resources: tuple[Resource, ...],
) -> None:
    item = finding(
        source=source,
        product=product,
        type=type_,
        severity=severity,
        account=account,
        envelope_account=envelope,
        workflow_status=workflow,
        action_name=action_name,
        error_code=error_code,
        resources=resources,
    )
    decision = decide(item, shipped)
    assert decision.rule in shipped.rules.ids or decision.rule.startswith("builtin:")
    trusted = envelope in (account, "999999999999")
    assert (decision.action is Action.REJECT) is (not trusted)
    assert decision.reason


def test_remediation_without_a_resource_to_act_on_notifies_instead() -> None:
    # s3-quarantine declares that it acts on s3-object resources.
    ruleset = compile_rules(
        {"rules": [{"id": "q", "match": {}, "action": "quarantine"}]}, actions()
    )
    account = load_policy().account("111111111111")
    acted = ruleset.decide(finding(), account)
    assert (acted.action, acted.remediation) == (Action.QUARANTINE, "s3-quarantine")
    bucket_only = finding(type="SensitiveData:S3Object/Credentials", resources=(s3_bucket(),))
    told = ruleset.decide(bucket_only, account)
    assert (told.action, told.rule, told.remediation) == (Action.NOTIFY, "q", None)
    assert told.reason == (
        "rule q: Macie SensitiveData:S3Object/Credentials at HIGH in 111111111111 "
        "(prod-payments); s3-quarantine acts on s3-object and the finding names none, "
        "so notify instead"
    )
