"""Template checks: cfn-lint, `sam validate --lint`, checkov, and the security properties.

moto skips bucket policies, public access blocks and versioning when it deploys a template,
so deploying is no proof of them: they are asserted here on the parsed templates. Every
tool runs once per session (slow to start) and its result is shared by the tests.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.decode import decode

from remedy.handlers.runtime import METRICS_NAMESPACE, METRICS_SERVICE
from remedy.handlers.slack_outbox import OWED_METRIC, PENDING_METRIC
from remedy.ledger.base import OUTCOMES
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.model import Action
from remedy.normalise import normalisers
from remedy.pipeline import TIME_TO_REMEDIATE_METRIC
from remedy.settings import Settings
from template_support import dashboard_metrics

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "template.yaml"
MEMBER = ROOT / "member-account-template.yaml"
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"

pytestmark = pytest.mark.slow


def load(path: Path) -> dict[str, Any]:
    template, errors = decode(str(path))
    assert not errors, f"{path.name} does not parse: {errors}"
    assert template is not None
    return dict(template)


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    return load(CORE)


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return load(MEMBER)


def tool(path: Path) -> Path:
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make tools` (make test does)")
    return path


def tool_env() -> dict[str, str]:
    # Offline and quiet: no telemetry, a region for `sam validate`, fake credentials.
    return {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAM_CLI_TELEMETRY": "0",
    }


@pytest.fixture(scope="module")
def checkov_results() -> dict[str, Any]:
    """One checkov run over both templates (its start-up dominates)."""
    proc = subprocess.run(
        [
            str(tool(CHECKOV)),
            *("-f", str(CORE)),
            *("-f", str(MEMBER)),
            *("--framework", "cloudformation", "--skip-download", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=tool_env(),
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return report


# ---------------------------------------------------------------- tools


@pytest.mark.parametrize("path", [CORE, MEMBER], ids=lambda p: p.name)
def test_cfn_lint_reports_no_errors_or_warnings(path: Path) -> None:
    problems = [m for m in lint_file(path) if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(str(m) for m in problems)


@pytest.mark.parametrize("path", [CORE, MEMBER], ids=lambda p: p.name)
def test_sam_validate_lint_passes(path: Path) -> None:
    proc = subprocess.run(
        [str(tool(SAM)), "validate", "--lint", "--template-file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=tool_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_checkov_finds_no_failed_checks(checkov_results: dict[str, Any]) -> None:
    results = checkov_results["results"]
    assert checkov_results["summary"]["parsing_errors"] == 0
    scanned = {c["file_path"] for c in results["passed_checks"]}
    assert scanned == {f"/{CORE.name}", f"/{MEMBER.name}"}
    failed = [
        f"{c['file_path']} {c['resource']}: {c['check_id']} {c['check_name']}"
        for c in results["failed_checks"]
    ]
    assert not failed, "\n".join(failed)


def test_every_checkov_skip_is_justified_in_the_template(
    checkov_results: dict[str, Any], core: dict[str, Any], member: dict[str, Any]
) -> None:
    by_file = {f"/{CORE.name}": core, f"/{MEMBER.name}": member}
    skipped = checkov_results["results"]["skipped_checks"]
    assert skipped, "expected the documented skips (Lambda VPC, DLQ, concurrency; member DLQ)"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        where = f"{check['file_path']} {check['resource']} {check['check_id']}"
        assert len(comment) > 40, f"{where}: the skip needs a comment saying why"
        logical_id = check["resource"].split(".", 1)[1]
        skips = by_file[check["file_path"]]["Resources"][logical_id]["Metadata"]["checkov"]["skip"]
        assert check["check_id"] in {s["id"] for s in skips}, where


# ---------------------------------------------------------------- helpers


def resources(template: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document["Statement"]
    return list(found) if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def by_sid(document: Mapping[str, Any], sid: str) -> Mapping[str, Any]:
    for statement in statements(document):
        if statement.get("Sid") == sid:
            return statement
    raise AssertionError(f"no statement {sid!r} in {json.dumps(document, default=str)[:300]}")


def branches(value: Any) -> Iterator[Any]:
    """Every outcome of nested Fn::If (the condition's both sides)."""
    if isinstance(value, Mapping) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    else:
        yield value


def sub(value: Any, names: Mapping[str, str]) -> str:
    """Resolve a Fn::Sub string (or a plain string) with the given names."""
    text = value["Fn::Sub"] if isinstance(value, Mapping) else value
    assert isinstance(text, str), value
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def denies_tls(document: Mapping[str, Any], service: str) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s["Principal"] == "*"
        and as_list(s["Action"]) == [f"{service}:*"]
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements(document)
    )


# ---------------------------------------------------------------- member template

NAMES = {
    "Prefix": "remedy",
    "AWS::AccountId": "111122223333",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "BreakGlassRoleName": "BreakGlass",
}


def test_member_names_match_what_the_core_builds(
    member: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REMEDY_QUARANTINE_PREFIX", "REMEDY_REMEDIATION_ROLE_NAME", "REMEDY_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    res = member["Resources"]
    bucket = sub(res["QuarantineBucket"]["Properties"]["BucketName"], NAMES)
    assert bucket == settings.quarantine_bucket("111122223333", "eu-west-1")
    role = sub(res["RemediationRole"]["Properties"]["RoleName"], NAMES)
    assert f"arn:aws:iam::111122223333:role/{role}" == settings.remediation_role_arn("111122223333")
    assert member["Parameters"]["Prefix"]["Default"] == settings.quarantine_bucket_prefix
    alias = sub(res["QuarantineKeyAlias"]["Properties"]["AliasName"], NAMES)
    assert alias == settings.quarantine_key_alias()


def test_quarantine_key_rotates_and_is_the_bucket_default(member: dict[str, Any]) -> None:
    res = member["Resources"]
    assert res["QuarantineKey"]["Properties"]["EnableKeyRotation"] is True
    (rule,) = res["QuarantineBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    default = rule["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == {"Fn::GetAtt": ["QuarantineKey", "Arn"]}
    assert rule["BucketKeyEnabled"] is True


def test_quarantine_bucket_is_versioned_private_and_owner_enforced(member: dict[str, Any]) -> None:
    props = member["Resources"]["QuarantineBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_evidence_outlives_the_stack(member: dict[str, Any]) -> None:
    for name in ("QuarantineBucket", "QuarantineKey"):
        resource = member["Resources"][name]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_retention_and_object_lock_are_off_unless_asked(member: dict[str, Any]) -> None:
    params = member["Parameters"]
    assert params["QuarantineRetentionDays"]["Default"] == 0
    assert params["ObjectLockRetentionDays"]["Default"] == 0
    conditions = member["Conditions"]
    assert conditions["HasRetention"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "QuarantineRetentionDays"}, 0]}]
    }
    assert conditions["HasObjectLock"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ObjectLockRetentionDays"}, 0]}]
    }
    props = member["Resources"]["QuarantineBucket"]["Properties"]
    assert props["ObjectLockEnabled"] == {
        "Fn::If": ["HasObjectLock", True, {"Ref": "AWS::NoValue"}]
    }
    lock = props["ObjectLockConfiguration"]["Fn::If"]
    assert lock[0] == "HasObjectLock"
    assert lock[1]["Rule"]["DefaultRetention"]["Days"] == {"Ref": "ObjectLockRetentionDays"}
    expiring = [
        rule
        for rule in props["LifecycleConfiguration"]["Rules"]
        for outcome in branches(rule)
        if isinstance(outcome, Mapping) and "ExpirationInDays" in outcome
    ]
    assert len(expiring) == 1 and expiring[0]["Fn::If"][0] == "HasRetention"


def test_bucket_policy_is_tls_only(member: dict[str, Any]) -> None:
    policy = member["Resources"]["QuarantineBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "QuarantineBucket"}
    assert denies_tls(policy["PolicyDocument"], "s3")


def test_bucket_data_is_denied_to_all_but_the_remediation_and_break_glass_roles(
    member: dict[str, Any],
) -> None:
    document = member["Resources"]["QuarantineBucketPolicy"]["Properties"]["PolicyDocument"]
    deny = by_sid(document, "DenyDataAccessExceptRemedyRoles")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    allowed = [sub(arn, NAMES) for arn in deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]]
    assert allowed == [
        "arn:aws:iam::111122223333:role/remedy-remediation",
        "arn:aws:iam::111122223333:role/BreakGlass",
    ]
    assert set(deny["Condition"]) == {"ArnNotLike"}
    patterns = as_list(deny["Action"])
    for action in (
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:RestoreObject",
        "s3:BypassGovernanceRetention",
    ):
        assert any(fnmatch.fnmatchcase(action, p) for p in patterns), action
    # Configuration stays with IAM so CloudFormation can still update and delete the stack.
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning"):
        assert not any(fnmatch.fnmatchcase(action, p) for p in patterns), action
    # And no statement grants anything: the deny narrows what IAM already allows in-account.
    assert all(s["Effect"] == "Deny" for s in statements(document))


def test_key_data_use_is_denied_to_all_but_the_remedy_roles(member: dict[str, Any]) -> None:
    # A JSON string in the template (see its comment): resolve and parse it.
    policy = json.loads(sub(member["Resources"]["QuarantineKey"]["Properties"]["KeyPolicy"], NAMES))
    admin = by_sid(policy, "AccountAdministers")
    assert admin["Principal"]["AWS"] == "arn:aws:iam::111122223333:root"
    deny = by_sid(policy, "DataUseOnlyByRemedyRoles")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"} <= set(deny["Action"])
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [
        "arn:aws:iam::111122223333:role/remedy-remediation",
        "arn:aws:iam::111122223333:role/BreakGlass",
    ]


def test_remediation_role_trusts_only_the_core_remediator_with_the_external_id(
    member: dict[str, Any],
) -> None:
    role = member["Resources"]["RemediationRole"]
    assert role["Condition"] == "IsHomeRegion"
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Effect"] == "Allow"
    assert trust["Principal"] == {"AWS": {"Ref": "CoreRemediatorRoleArn"}}
    assert trust["Action"] == "sts:AssumeRole"
    assert set(trust["Condition"]) == {"StringEquals"}
    outcomes = list(branches(trust["Condition"]["StringEquals"]))
    assert trust["Condition"]["StringEquals"]["Fn::If"][0] == "HasOrganizationId"
    with_org, without_org = outcomes
    for outcome in outcomes:
        assert outcome["sts:ExternalId"] == {"Ref": "ExternalId"}
        assert outcome["aws:PrincipalAccount"] == {"Ref": "CoreAccountId"}
    assert with_org["aws:PrincipalOrgID"] == {"Ref": "OrganizationId"}
    assert "aws:PrincipalOrgID" not in without_org
    assert member["Parameters"]["ExternalId"]["NoEcho"] is True


#: Settings of the account itself, which IAM cannot scope to a resource.
ACCOUNT_SETTINGS = frozenset(
    {
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:EnableEbsEncryptionByDefault",
        "ec2:DisableEbsEncryptionByDefault",
        "iam:GetAccountPasswordPolicy",
        "iam:UpdateAccountPasswordPolicy",
        "iam:DeleteAccountPasswordPolicy",
    }
)


def test_remediation_role_reaches_only_this_account(member: dict[str, Any]) -> None:
    policy = member["Resources"]["RemediationPolicy"]
    assert policy["Condition"] == "IsHomeRegion"
    assert policy["Properties"]["Roles"] == [{"Ref": "RemediationRole"}]
    for statement in statements(policy["Properties"]["PolicyDocument"]):
        for resource in (sub(r, NAMES) for r in as_list(statement["Resource"])):
            if resource == "*":
                # Only calls IAM cannot scope to a resource: Describe*, and the settings of
                # the account itself (the control remediations' account-level settings).
                assert all(
                    a.split(":")[1].startswith("Describe") or a in ACCOUNT_SETTINGS
                    for a in as_list(statement["Action"])
                ), statement["Action"]
            elif resource.startswith(("arn:aws:s3:::", "arn:aws:ec2:*::snapshot/")):
                # S3 and snapshot ARNs carry no account: the condition confines them.
                assert statement["Condition"] == {
                    "StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}
                }
            else:
                assert ":111122223333:" in resource, resource
                if resource.startswith("arn:aws:kms:") and any(
                    a in ("kms:Decrypt", "kms:GenerateDataKey")
                    for a in as_list(statement["Action"])
                ):
                    assert "kms:ViaService" in statement["Condition"]["StringLike"]


def test_remediation_role_cannot_rewrite_its_own_or_break_glass_policies(
    member: dict[str, Any],
) -> None:
    policy = member["Resources"]["RemediationPolicy"]["Properties"]
    deny = by_sid(policy["PolicyDocument"], "NotOnRemedyOrBreakGlassRoles")
    assert deny["Effect"] == "Deny"
    assert {"iam:PutRolePolicy", "iam:DeleteRolePolicy"} <= set(as_list(deny["Action"]))
    assert [sub(r, NAMES) for r in deny["Resource"]] == [
        "arn:aws:iam::111122223333:role/remedy-remediation",
        "arn:aws:iam::111122223333:role/remedy-forwarder",
        "arn:aws:iam::111122223333:role/BreakGlass",
    ]


def test_forwarder_role_may_only_put_events_on_the_core_bus(member: dict[str, Any]) -> None:
    role = member["Resources"]["ForwarderRole"]
    assert role["Condition"] == "IsHomeRegion"
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    policy = member["Resources"]["ForwarderPolicy"]
    assert policy["Condition"] == "IsHomeRegion"
    assert policy["Properties"]["Roles"] == [{"Ref": "ForwarderRole"}]
    (grant,) = statements(policy["Properties"]["PolicyDocument"])
    assert grant == {
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": {"Ref": "CoreEventBusArn"},
    }


def test_member_rules_forward_to_the_core_bus_through_the_forwarder(
    member: dict[str, Any],
) -> None:
    rules = resources(member, "AWS::Events::Rule")
    assert set(rules) == {
        "MacieFindingsRule",
        "SecurityHubFindingsRule",
        "SecurityHubCustomActionRule",
        "ApiGuardRule",
        "IamGuardRule",
        "SecurityHubV2FindingsRule",
        "GuardDutyMalwareScanRule",
        "GuardDutyMalwareFindingRule",
        "GuardDutyThreatFindingRule",
    }
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "CoreEventBusArn"}, name
        cond, here, elsewhere = target["RoleArn"]["Fn::If"]
        assert cond == "IsHomeRegion"
        assert here == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
        assert sub(elsewhere, NAMES) == "arn:aws:iam::111122223333:role/remedy-forwarder"
        assert target["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": ["ForwardDeadLetterQueue", "Arn"]}
        }
    assert rules["IamGuardRule"]["Condition"] == "IsIamEventsRegion"
    assert member["Parameters"]["IamEventsRegion"]["Default"] == "us-east-1"
    for name in ("SecurityHubFindingsRule", "SecurityHubCustomActionRule"):
        assert rules[name]["Condition"] == "ForwardsSecurityHub"
    # The new Security Hub only where a parameter says it is on; GuardDuty's scan results
    # go only to the bucket owner's bus, so every account forwards its own.
    assert rules["SecurityHubV2FindingsRule"]["Condition"] == "ForwardsSecurityHubV2"
    assert member["Parameters"]["ForwardSecurityHubV2"]["Default"] == "false"
    for name in ("GuardDutyMalwareScanRule", "GuardDutyMalwareFindingRule"):
        assert "Condition" not in rules[name]
    assert "Condition" not in rules["GuardDutyThreatFindingRule"]
    assert rules["GuardDutyMalwareFindingRule"]["Properties"]["EventPattern"]["detail"] == {
        "type": ["Object:S3/MaliciousFile"]
    }


def test_member_dead_letter_queue_is_encrypted_and_tls_only(member: dict[str, Any]) -> None:
    res = member["Resources"]
    assert res["ForwardDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    policy = res["ForwardDeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "ForwardDeadLetterQueue"}]
    assert denies_tls(policy["PolicyDocument"], "sqs")
    allow = by_sid(policy["PolicyDocument"], "ForwardingRulesOnly")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert sub(allow["Condition"]["ArnLike"]["aws:SourceArn"], NAMES) == (
        "arn:aws:events:eu-west-1:111122223333:rule/remedy-forward-*"
    )


def test_member_outputs(member: dict[str, Any]) -> None:
    assert set(member["Outputs"]) == {"QuarantineBucketName", "RemediationRoleArn", "KeyArn"}
    assert "Transform" not in member, "StackSets do not run transforms"


# ---------------------------------------------------------------- event patterns vs registry


def leaves(pattern: Mapping[str, Any], path: str = "") -> dict[str, set[str]]:
    """Each list in an event pattern, by its dotted path, as a set of JSON strings."""
    out: dict[str, set[str]] = {}
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, Mapping):
            out.update(leaves(value, where))
        else:
            out[where] = {json.dumps(v, sort_keys=True) for v in value}
    return out


def narrower_or_equal(rule: Mapping[str, Any], registered: Mapping[str, Any]) -> bool:
    """Every event `rule` matches is matched by `registered` (for plain value lists)."""
    mine = leaves(rule)
    return all(path in mine and mine[path] <= values for path, values in leaves(registered).items())


def rule_patterns(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, rule in resources(template, "AWS::Events::Rule").items():
        pattern = dict(rule["Properties"]["EventPattern"])
        # The custom-action ARN is built per account; the registry routes on the rest.
        pattern.pop("resources", None)
        out[name] = pattern
    return out


@pytest.mark.parametrize("path", [CORE, MEMBER], ids=lambda p: p.name)
def test_every_rule_is_read_by_a_registered_normaliser(path: Path) -> None:
    registered = [n.event_pattern for n in normalisers()]
    for name, pattern in rule_patterns(load(path)).items():
        assert any(narrower_or_equal(pattern, r) for r in registered), (
            f"{path.name} {name}: pattern {pattern} is not within any registered normaliser's"
        )


@pytest.mark.parametrize("path", [CORE, MEMBER], ids=lambda p: p.name)
def test_every_registered_normaliser_gets_its_events(path: Path) -> None:
    patterns = [leaves(p) for p in rule_patterns(load(path)).values()]
    for normaliser in normalisers():
        routed = []
        for source in normaliser.sources:
            for detail_type in normaliser.detail_types:
                pair = [
                    p
                    for p in patterns
                    if json.dumps(source) in p["source"]
                    and json.dumps(detail_type) in p["detail-type"]
                ]
                assert pair, f"{path.name}: no rule forwards {source} / {detail_type}"
                routed += pair
        # Other fields (e.g. detail.eventName): together the rules reach every listed value.
        for where, values in leaves(normaliser.event_pattern).items():
            reached = set().union(*(p.get(where, values) for p in routed))
            assert values <= reached, (
                f"{path.name}: {normaliser.name} {where} {sorted(values - reached)} "
                "are registered but never forwarded"
            )


# ---------------------------------------------------------------- core template


def test_core_bus_policy_is_scoped_to_the_organization_or_listed_accounts(
    core: dict[str, Any],
) -> None:
    policy = core["Resources"]["CoreEventBusPolicy"]["Properties"]
    statement = policy["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["CoreEventBus", "Arn"]}
    outcomes = list(branches(statement["Condition"]["StringEquals"]))
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert set(outcome) <= {"aws:PrincipalOrgID", "aws:PrincipalAccount"} and outcome
    assert {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}} in outcomes
    assert {"aws:PrincipalAccount": {"Ref": "MemberAccountIds"}} in outcomes
    # One of the two must be given: a rule refuses the deploy otherwise.
    (assertion,) = core["Rules"]["SendersAreScoped"]["Assertions"]
    either = assertion["Assert"]["Fn::Or"]
    assert either == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]},
        {"Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "MemberAccountIds"}, ""]}]},
    ]


def test_core_rules_feed_the_queue_with_a_dead_letter_queue(core: dict[str, Any]) -> None:
    for name, rule in resources(core, "AWS::Events::Rule").items():
        assert rule["Properties"]["EventBusName"] == {"Ref": "CoreEventBus"}, name
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["FindingsQueue", "Arn"]}, name
        assert target["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": ["EventTargetDeadLetterQueue", "Arn"]}
        }


def test_core_queues_are_encrypted_redriven_and_tls_only(core: dict[str, Any]) -> None:
    queues = resources(core, "AWS::SQS::Queue")
    for name, queue in queues.items():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Ref": "CoreKey"}, name
    assert queues["FindingsQueue"]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["FindingsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    covered = set()
    for policy in resources(core, "AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        assert denies_tls(props["PolicyDocument"], "sqs")
        covered |= {q["Ref"] for q in props["Queues"]}
        for statement in statements(props["PolicyDocument"]):
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "events.amazonaws.com"}
                assert statement["Action"] == "sqs:SendMessage"
                rules = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
                assert sorted(_rule_of(r) for r in rules) == sorted(
                    resources(core, "AWS::Events::Rule")
                )
    assert covered == set(queues)


def _rule_of(arn: Mapping[str, Any]) -> str:
    """The rule named by ``!GetAtt R.Arn`` or, for a conditional rule, ``!If [C, !GetAtt ...]``."""
    if "Fn::If" in arn:
        _condition, arn, absent = arn["Fn::If"]
        assert absent == {"Ref": "AWS::NoValue"}
    name: str = arn["Fn::GetAtt"][0]
    return name


def test_core_routes_the_new_security_hub_only_where_a_parameter_says_so(
    core: dict[str, Any],
) -> None:
    assert core["Parameters"]["SecurityHubV2"]["Default"] == "false"
    assert core["Conditions"]["RoutesSecurityHubV2"] == {
        "Fn::Equals": [{"Ref": "SecurityHubV2"}, "true"]
    }
    rules = resources(core, "AWS::Events::Rule")
    assert rules["SecurityHubV2FindingsRule"]["Condition"] == "RoutesSecurityHubV2"
    assert "Condition" not in rules["GuardDutyMalwareScanRule"]


def test_findings_function_reads_the_queue_with_partial_batch_responses(
    core: dict[str, Any],
) -> None:
    function = core["Resources"]["FindingsFunction"]["Properties"]
    assert function["Handler"] == "remedy.handlers.findings.handler"
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["FindingsQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_remediator_role_is_named_and_assumes_only_member_remediation_roles(
    core: dict[str, Any],
) -> None:
    res = core["Resources"]
    assert (
        res["RemediatorFunction"]["Properties"]["Handler"] == "remedy.handlers.remediator.handler"
    )
    assert res["RemediatorFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["RemediatorRole", "Arn"]
    }
    role = res["RemediatorRole"]["Properties"]
    assert sub(role["RoleName"], NAMES) == "remedy-remediator"
    (policy,) = role["Policies"]
    assume = [
        s for s in statements(policy["PolicyDocument"]) if "sts:AssumeRole" in as_list(s["Action"])
    ]
    (statement,) = assume
    member_role = sub(statement["Resource"], NAMES)
    assert member_role == "arn:aws:iam::*:role/remedy-remediation"
    cond, with_org, without_org = statement["Condition"]["Fn::If"]
    assert cond == "HasOrganizationId"
    assert with_org == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    assert without_org == {"Ref": "AWS::NoValue"}
    # Only the remediator role may assume member roles. The findings function runs immediate
    # quarantines, so it shares that role; the HTTP-facing functions must not.
    assert res["FindingsFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["RemediatorRole", "Arn"]
    }
    for name in ("InteractionsFunction", "EmailApprovalFunction"):
        assert "Role" not in res[name]["Properties"], name
        text = json.dumps(res[name]["Properties"]["Policies"], default=str)
        assert "sts:AssumeRole" not in text, name
    # It reports failures to an on-failure destination.
    destination = res["RemediatorFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    assert destination["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["RemediatorDeadLetterQueue", "Arn"]
    }


def test_interactions_api_route(core: dict[str, Any]) -> None:
    function = core["Resources"]["InteractionsFunction"]["Properties"]
    assert function["Handler"] == "remedy.handlers.interactions.handler"
    (event,) = function["Events"].values()
    assert event["Type"] == "HttpApi"
    assert (event["Properties"]["Method"], event["Properties"]["Path"]) == (
        "POST",
        "/slack/interactions",
    )


def test_ledger_table_matches_the_store_and_is_protected(core: dict[str, Any]) -> None:
    from remedy.ledger import dynamodb

    table = core["Resources"]["LedgerTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    # Key and indexes exactly as the tests and benches create the table.
    for name in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes"):
        assert props[name] == TABLE_SCHEMA[name], name
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "CoreKey"},
    }
    assert table["DeletionPolicy"] == "Retain"
    # The store writes the attributes the table declares.
    source = inspect.getsource(dynamodb)
    assert '"pk"' in source and "expires_at" in source


def test_core_key_rotates_and_topics_are_encrypted_and_tls_only(core: dict[str, Any]) -> None:
    assert core["Resources"]["CoreKey"]["Properties"]["EnableKeyRotation"] is True
    topics = resources(core, "AWS::SNS::Topic")
    assert set(topics) == {"OwnerTopic", "OpsTopic"}
    for name, topic in topics.items():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "CoreKey"}, name
    (policy,) = resources(core, "AWS::SNS::TopicPolicy").values()
    assert {t["Ref"] for t in policy["Properties"]["Topics"]} == set(topics)
    assert denies_tls(policy["Properties"]["PolicyDocument"], "sns")


def test_secrets_are_created_empty(core: dict[str, Any], member: dict[str, Any]) -> None:
    secrets = resources(core, "AWS::SecretsManager::Secret")
    assert secrets, "the Slack secret"
    for name, secret in secrets.items():
        props = secret["Properties"]
        assert "SecretString" not in props and "GenerateSecretString" not in props, name
        assert props["KmsKeyId"] == {"Ref": "CoreKey"}
    assert not resources(member, "AWS::SecretsManager::Secret")


SECRET_LOOKING = re.compile(r"xox[abprs]-|AKIA[0-9A-Z]{16}|-----BEGIN|^[A-Za-z0-9+/=_-]{32,}$")


def environments(core: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    yield from (
        ("Globals", k, v)
        for k, v in core["Globals"]["Function"]["Environment"]["Variables"].items()
    )
    for name, function in resources(core, "AWS::Serverless::Function").items():
        env = function["Properties"].get("Environment", {}).get("Variables", {})
        yield from ((name, k, v) for k, v in env.items())


def test_no_environment_variable_holds_a_secret(core: dict[str, Any]) -> None:
    no_echo = {k for k, v in core["Parameters"].items() if v.get("NoEcho")}
    for where, name, value in environments(core):
        if isinstance(value, str):
            assert not SECRET_LOOKING.search(value), f"{where} {name}={value!r}"
        elif isinstance(value, Mapping) and "Ref" in value and value["Ref"] in no_echo:
            # The ExternalId is a confused-deputy guard, not a secret (AWS IAM user guide).
            assert name == "REMEDY_EXTERNAL_ID", f"{where} {name} carries NoEcho {value['Ref']}"
        if re.search(r"SECRET|TOKEN|PASSWORD", name):
            assert name.endswith("_ARN"), f"{where} {name}: pass the secret's ARN, not its value"


def test_environment_names_are_the_ones_settings_reads(core: dict[str, Any]) -> None:
    read = set(re.findall(r'"(REMEDY_[A-Z_]+)"', inspect.getsource(Settings.from_env)))
    env = core["Globals"]["Function"]["Environment"]["Variables"]
    set_here = {name for _, name, _ in environments(core) if name.startswith("REMEDY_")}
    assert set_here <= read, f"set but never read: {sorted(set_here - read)}"
    # What the deployed features need (the email approval links, REMEDY_LINK_*, are wired
    # when their route and key secret join the template).
    required = {
        "REMEDY_LEDGER_TABLE",
        "REMEDY_OWNER_TOPIC_ARN",
        "REMEDY_SLACK_SECRET_ARN",
        "REMEDY_REMEDIATION_ROLE_NAME",
        "REMEDY_EXTERNAL_ID",
        "REMEDY_QUARANTINE_PREFIX",
        "REMEDY_POLICY_DIR",
        "REMEDY_REMEDIATOR_FUNCTION",
        "REMEDY_PARTITION",
        "REMEDY_LEDGER_TTL_DAYS",
    }
    assert required <= set_here, f"never set: {sorted(required - set_here)}"
    assert sub(env["REMEDY_REMEDIATION_ROLE_NAME"], NAMES) == "remedy-remediation"
    assert env["REMEDY_QUARANTINE_PREFIX"] == {"Ref": "Prefix"}
    for name in ("InteractionsFunction", "EmailApprovalFunction"):
        variables = core["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["REMEDY_REMEDIATOR_FUNCTION"] == {"Ref": "RemediatorFunction"}


def test_functions_log_with_retention_and_build_with_the_makefile(core: dict[str, Any]) -> None:
    functions = resources(core, "AWS::Serverless::Function")
    globals_ = core["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    assert globals_["CodeUri"] == "."
    for name, function in functions.items():
        assert function["Metadata"]["BuildMethod"] == "makefile", name
        assert "CodeUri" not in function["Properties"], name
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert core["Resources"][group]["Properties"]["RetentionInDays"] == {
            "Ref": "LogRetentionDays"
        }
        dry_run = subprocess.run(
            ["make", "-n", f"build-{name}", "ARTIFACTS_DIR=/nonexistent/artifacts"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert dry_run.returncode == 0, f"Makefile has no build-{name} target: {dry_run.stderr}"
    assert core["Parameters"]["LogRetentionDays"]["Default"] == 365


def test_build_validates_policies_before_packaging_them() -> None:
    proc = subprocess.run(
        ["make", "-n", "build-FindingsFunction", "ARTIFACTS_DIR=/nonexistent/artifacts"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    lines = [line for line in proc.stdout.replace("\\\n", " ").splitlines() if line.strip()]
    validate = next(i for i, line in enumerate(lines) if "validate --for-deploy policies" in line)
    copy = next(i for i, line in enumerate(lines) if "cp -R policies" in line)
    assert validate < copy
    assert any("--only-binary=:all:" in line and "aarch64" in line for line in lines)


def test_alarms_cover_dead_letters_errors_and_failed_remediations(core: dict[str, Any]) -> None:
    alarms = resources(core, "AWS::CloudWatch::Alarm").values()
    watched = set()
    for alarm in alarms:
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}]
        watched.add(f"{props['Namespace']}/{props['MetricName']}")
        for dimension in props["Dimensions"]:
            value = dimension["Value"]
            if isinstance(value, Mapping):
                value = value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]
            watched.add(value)
    assert {
        "FindingsDeadLetterQueue",
        "EventTargetDeadLetterQueue",
        "RemediatorDeadLetterQueue",
        "FindingsFunction",
        "remedy/RemediationFailed",
    } <= watched


def test_dashboard_plots_what_the_code_emits(core: dict[str, Any]) -> None:
    custom = {(m[0], m[1], tuple(m[2:4])) for m in dashboard_metrics() if m[0] == METRICS_NAMESPACE}
    assert custom == {
        (METRICS_NAMESPACE, name, ("service", METRICS_SERVICE))
        for name in (
            *(f"Decision{action.value.capitalize()}" for action in Action),
            *(f"Outcome{state.value.capitalize()}" for state in OUTCOMES),
            TIME_TO_REMEDIATE_METRIC,
            OWED_METRIC,
            PENDING_METRIC,
        )
    }
    # AWS's own metrics name resources of this stack: every DLQ and every function.
    named = {m[3] for m in dashboard_metrics() if m[0].startswith("AWS/")}
    functions = resources(core, "AWS::Serverless::Function")
    queues = [q for q in resources(core, "AWS::SQS::Queue") if "DeadLetter" in q]
    assert named == {f"${{{f}}}" for f in functions} | {f"${{{q}.QueueName}}" for q in queues}


def test_core_outputs(core: dict[str, Any]) -> None:
    assert set(core["Outputs"]) >= {
        "CoreEventBusArn",
        "RemediatorRoleArn",
        "InteractionsUrl",
        "LedgerTableName",
        "OwnerTopicArn",
        "SlackSecretArn",
    }


def test_guardduty_threats_the_policy_contains_are_forwarded_and_routed(
    core: dict[str, Any], member: dict[str, Any]
) -> None:
    """Every GuardDuty type a shipped containment (or root) rule names reaches the core
    natively: the members forward it and the core routes it, by the same pattern."""
    patterns = [
        resources(t, "AWS::Events::Rule")["GuardDutyThreatFindingRule"]["Properties"][
            "EventPattern"
        ]
        for t in (member, core)
    ]
    assert patterns[0] == patterns[1]
    assert patterns[0]["source"] == ["aws.guardduty"]
    assert patterns[0]["detail-type"] == ["GuardDuty Finding"]
    prefixes = [p["prefix"] for p in patterns[0]["detail"]["type"]]
    shipped = yaml.safe_load((ROOT / "policies" / "remediation.yaml").read_text(encoding="utf-8"))
    wanted = [
        glob
        for rule in shipped["rules"]
        if rule.get("remediation") in ("isolate-instance", "contain-principal")
        or rule["id"] in ("notify-root-credential-usage", "notify-threats-below-high")
        for glob in rule["match"]["type"]
    ]
    assert len(wanted) >= 10
    for glob in wanted:
        assert any(glob.removesuffix("*").startswith(p) for p in prefixes), glob
