"""Issue 9.2: a product is who its ARN says, not what its name says.

Anyone in a member account allowed ``securityhub:BatchImportFindings`` can import a finding
under the account's own custom product (``product/<account>/default``) and name it Macie,
with a Macie type and an object in that same account (so the trust check passes). It must
never be treated as Macie: no Macie type, category or dedupe key, and no shipped rule for
an AWS product; the shipped default for custom products is to notify at HIGH and above.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EVENTS, POLICIES, load_json
from fixtures_aws import (
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    REGION,
    LambdaContext,
    World,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from policy_support import policy_dir
from remedy.cli import main
from remedy.handlers import findings
from remedy.handlers.runtime import Runtime
from remedy.ledger.base import State
from remedy.model import Severity
from remedy.normalise import normalise
from remedy.policy import decide, load_policy

A = MEMBERS[0]
CREDENTIALS = "Sensitive Data Identifications/Passwords/SensitiveData:S3Object-Credentials"


def forged(account: str, bucket: str, key: str, *, severity: str = "HIGH") -> dict[str, Any]:
    """A finding `account` imported itself under its own product, dressed up as Macie's."""
    event = copy.deepcopy(load_json(EVENTS / "securityhub-macie-personal-copy.json"))
    event["id"] = str(uuid.uuid4())
    event["account"] = account
    event["region"] = REGION
    product_arn = f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default"
    event["resources"] = [f"{product_arn}/forged-1"]
    item = event["detail"]["findings"][0]
    item.update(
        {
            "Id": f"arn:aws:macie2:{REGION}:{account}:finding/{uuid.uuid4().hex}",
            "ProductArn": product_arn,
            "ProductName": "Macie",
            "CompanyName": "Amazon",
            "GeneratorId": "aws/macie",
            "AwsAccountId": account,
            "Region": REGION,
            "Types": [CREDENTIALS],
            "Severity": {"Label": severity},
            "FindingProviderFields": {"Severity": {"Label": severity}, "Types": [CREDENTIALS]},
            # A forged control id: only AWS's own products may name one.
            "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        }
    )
    item["ProductFields"]["aws/securityhub/ProductName"] = "Macie"
    item["ProductFields"]["aws/securityhub/CompanyName"] = "Amazon"
    bucket_resource, object_resource = item["Resources"]
    bucket_resource.update({"Id": f"arn:aws:s3:::{bucket}", "Region": REGION})
    object_resource.update({"Id": f"arn:aws:s3:::{bucket}/{key}", "Region": REGION})
    object_resource["Details"]["AwsS3Object"].pop("VersionId")
    object_resource["Details"]["AwsS3Object"].pop("ETag")
    return event


def test_forged_macie_is_a_custom_product() -> None:
    (finding,) = normalise(forged(A, "payments-exports", "prod/.env"))
    assert finding.product == "custom: Macie"
    # Not Macie's type, category or dedupe key: the ASFF type and the ASFF key.
    assert finding.type == CREDENTIALS
    assert finding.category is None
    assert finding.key.startswith("sh-")
    assert "control_id" not in finding.parameters
    assert finding.severity is Severity.HIGH


def test_the_genuine_copy_is_still_macie() -> None:
    (finding,) = normalise(load_json(EVENTS / "securityhub-macie-personal-copy.json"))
    assert (finding.product, finding.type) == ("Macie", "SensitiveData:S3Object/Personal")
    assert finding.category == "CLASSIFICATION"
    assert finding.key.startswith("m-")


@pytest.mark.parametrize(
    ("severity", "action", "rule"),
    [
        ("CRITICAL", "notify", "notify-custom-products"),
        ("HIGH", "notify", "notify-custom-products"),
        ("MEDIUM", "ignore", "ignore-custom-products"),
    ],
)
def test_explain_shows_the_forged_finding_is_not_quarantined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], severity: str, action: str, rule: str
) -> None:
    event = tmp_path / "forged.json"
    event.write_text(json.dumps(forged(A, "payments-exports", "prod/.env", severity=severity)))
    assert main(["explain", str(event)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    (finding,) = json.loads(out)["events"][0]["findings"]
    assert finding["product"] == "custom: Macie"
    assert finding["decision"] == {
        "action": action,
        "rule": rule,
        "reason": f"rule {rule}: custom: Macie {CREDENTIALS} at {severity} in {A} "
        "(prod-payments) on s3://payments-exports/prod/.env",
    }


CUSTOM_RULES = """\
version: 1
rules:
  - id: quarantine-our-scanner
    match:
      product_arn: ["arn:aws:securityhub:*:111111111111:product/111111111111/default"]
      type: ["*SensitiveData:S3Object-Credentials"]
    action: approve
  - id: any-custom
    match: {custom_product: true}
    action: notify
  - id: aws-only
    match: {custom_product: false}
    action: ignore
"""


def test_rules_match_custom_products_deliberately(tmp_path: Path) -> None:
    policy = load_policy(policy_dir(tmp_path, remediation=CUSTOM_RULES))
    (ours,) = normalise(forged(A, "b", "k"))
    assert decide(ours, policy).rule == "quarantine-our-scanner"
    (theirs,) = normalise(forged(MEMBERS[1], "b", "k"))
    assert decide(theirs, policy).rule == "any-custom"
    (genuine,) = normalise(load_json(EVENTS / "securityhub-macie-personal-copy.json"))
    assert decide(genuine, policy).rule == "aws-only"


def test_product_key_never_matches_a_custom_product_named_like_an_aws_one(
    tmp_path: Path,
) -> None:
    rules = (
        "version: 1\nrules:\n  - {id: macie, match: {product: [Macie, 'mac*']}, action: notify}\n"
    )
    policy = load_policy(policy_dir(tmp_path, remediation=rules))
    (finding,) = normalise(forged(A, "b", "k"))
    assert decide(finding, policy).rule == "builtin:no-match"


def test_custom_product_must_be_a_boolean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = "version: 1\nrules:\n  - {id: x, match: {custom_product: 'yes'}, action: notify}\n"
    folder = policy_dir(tmp_path, remediation=rules)
    assert main(["policy", "validate", str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"{folder / 'remediation.yaml'}:rules[0].match.custom_product: 'yes' is not of type "
        "'boolean'\n"
    )


@pytest.fixture
def shipped_handler(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """The findings function with the shipped policy, in a fresh container, and the
    AssumeRole calls it makes into member accounts."""
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(POLICIES))
    monkeypatch.setattr(findings, "runtime", Runtime(findings.metrics))
    calls: list[dict[str, Any]] = []
    sts = findings.runtime.pipeline.actions["s3-quarantine"].sessions.sts
    sts.meta.events.register("before-call.sts.AssumeRole", lambda params, **_: calls.append(params))
    yield calls


def _sqs(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:remedy-findings",
        "awsRegion": REGION,
    }


def test_forged_finding_through_the_findings_function_moves_nothing(
    world: World, shipped_handler: list[dict[str, Any]]
) -> None:
    bucket = world.bucket(A, "forged", versioned=True)
    stored = world.put(A, bucket, "prod/.env", b"DB_PASSWORD=hunter2")
    event = forged(A, bucket, stored.key)
    (finding,) = normalise(event)

    response = findings.handler({"Records": [_sqs(json.dumps(event))]}, LambdaContext())

    assert response == {"batchItemFailures": []}
    entry = world.store.get(finding.key)
    assert entry is not None and entry.state is State.NOTIFIED
    assert world.still_at_source(stored)
    listing = world.s3(A).list_object_versions(Bucket=world.quarantine_bucket(A))
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
    assert shipped_handler == []  # no member role was even assumed


PARTNER = f"arn:aws:securityhub:{REGION}::product/prowler/prowler"


def _partner(account: str, finding_id: str, severity: str = "HIGH") -> dict[str, Any]:
    """A partner product's finding that `account` imported itself (as partners that send
    findings from within a customer's account do): the importer chooses its Id."""
    event = forged(account, "unused-bucket", "unused", severity=severity)
    item = event["detail"]["findings"][0]
    item.update({"ProductArn": PARTNER, "ProductName": "Prowler", "Id": finding_id})
    item.pop("Compliance")
    return event


def test_an_importer_cannot_take_another_accounts_key(world: World) -> None:
    """Attack: B imports, under a partner's product ARN (no account in it), a finding with
    the Id that A's own finding of that product has. Security Hub keeps each account's
    findings apart; remedy's key must too, or A's real finding is B's "duplicate"."""
    b = MEMBERS[1]
    finding_id = f"prowler-s3_bucket_public_access-{A}-{REGION}-reports"
    (planted,) = normalise(_partner(b, finding_id))
    (real,) = normalise(_partner(A, finding_id))
    assert (planted.product, real.product) == ("custom: Prowler", "custom: Prowler")
    assert planted.key != real.key
    pipeline = world.pipeline(policy_dir=POLICIES)

    first, second = pipeline.handle(planted), pipeline.handle(real)

    assert (first.key, first.account, first.state) == (planted.key, b, State.NOTIFIED)
    assert (second.key, second.account, second.state) == (real.key, A, State.NOTIFIED)
    stored = world.store.get(real.key)
    assert stored is not None and stored.finding["account"] == A
