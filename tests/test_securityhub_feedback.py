"""Security Hub workflow feedback (BatchUpdateFindings through botocore's Stubber: moto
has no Security Hub batch_update_findings; the Stubber checks every call against the real
service model)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from notify_support import entry_for, finding_from
from remedy.ledger.base import HistoryItem, State
from remedy.model import Finding
from remedy.notify.securityhub import MAX_NOTE, FeedbackError, SecurityHubFeedback

SH_COPY = "securityhub-macie-personal-copy.json"  # Macie's copy, in 111111111111, eu-west-1
QUARANTINE = "remedy-quarantine-111111111111-eu-west-1"


@pytest.fixture
def securityhub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("securityhub", region_name="eu-west-1")
    regions: list[str] = []
    with Stubber(client) as stub:
        yield client, stub, regions
        stub.assert_no_pending_responses()


def feedback(securityhub: tuple[Any, Stubber, list[str]]) -> SecurityHubFeedback:
    client, _, regions = securityhub

    def client_for(region: str) -> Any:
        regions.append(region)
        return client

    return SecurityHubFeedback(client_for)


entry = functools.partial(entry_for, rule="approve-personal-data")


def expect(stub: Stubber, finding: Finding, status: str, note: str) -> None:
    stub.add_response(
        "batch_update_findings",
        {
            "ProcessedFindings": [{"Id": finding.id, "ProductArn": finding.product_arn}],
            "UnprocessedFindings": [],
        },
        {
            "FindingIdentifiers": [{"Id": finding.id, "ProductArn": finding.product_arn}],
            "Workflow": {"Status": status},
            "Note": {"Text": note, "UpdatedBy": "remedy"},
        },
    )


def test_each_state_sets_its_workflow_status_with_a_note(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    _, stub, regions = securityhub
    finding = finding_from(SH_COPY)
    assert finding.product_arn and finding.id
    where = {
        "bucket": QUARANTINE,
        "key": f"{finding.s3_objects[0].bucket}/{finding.s3_objects[0].key}",
        "version_id": "v-7",
    }
    decided = {"id": "U0PAYLEAD1", "name": "pat", "action": "dismissed"}
    cases = [
        (
            entry(finding, State.PENDING_APPROVAL),
            "NOTIFIED",
            "remedy: quarantine awaits approval in Slack (rule approve-personal-data)",
        ),
        (
            entry(finding, State.NOTIFIED, action="notify"),
            "NOTIFIED",
            "remedy: account owners notified (rule approve-personal-data)",
        ),
        (
            entry(
                finding,
                State.QUARANTINED,
                attrs={"destination": where},
                history=(
                    HistoryItem("t", "remedy", "QUARANTINING", "QUARANTINED", "copy verified"),
                ),
            ),
            "RESOLVED",
            f"remedy: object moved to s3://{QUARANTINE}/{where['key']} (version v-7) "
            "(rule approve-personal-data); copy verified",
        ),
        (
            entry(finding, State.GONE),
            "RESOLVED",
            "remedy: the object was already deleted; nothing to quarantine",
        ),
        (
            entry(finding, State.DISMISSED, attrs={"decided_by": decided}),
            "SUPPRESSED",
            "remedy: dismissed by pat (Slack U0PAYLEAD1)",
        ),
        (
            entry(
                finding,
                State.RELEASED,
                history=(HistoryItem("t", "alice@example.com", "QUARANTINED", "RELEASED"),),
            ),
            "SUPPRESSED",
            "remedy: released as a false positive by alice@example.com; object put back",
        ),
    ]
    notifier = feedback(securityhub)
    for item, status, note in cases:
        expect(stub, finding, status, note)
        notifier.on_change(item)
    assert regions == ["eu-west-1"]  # one client per region, reused


@pytest.mark.parametrize(
    "state",
    [
        State.RECEIVED,
        State.APPROVED,
        State.QUARANTINING,
        State.FAILED,
        State.DENIED,
        State.LOCKED,
        State.ARCHIVED,
        State.CHANGED,
        State.IGNORED,
        State.REJECTED,
    ],
)
def test_states_that_would_loop_or_mean_nothing_leave_security_hub_alone(
    securityhub: tuple[Any, Stubber, list[str]], state: State
) -> None:
    # No response is queued: any call would fail the test.
    feedback(securityhub).on_change(entry(finding_from(SH_COPY), state))


def test_findings_not_from_security_hub_are_left_alone(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    notifier = feedback(securityhub)
    for event in ("macie-classification-personal.json", "cloudtrail-iam-createpolicy.json"):
        notifier.on_change(entry(finding_from(event), State.PENDING_APPROVAL))
    assert securityhub[2] == []


def test_a_refused_update_is_an_error_naming_the_finding(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    _, stub, _ = securityhub
    finding = finding_from(SH_COPY)
    stub.add_response(
        "batch_update_findings",
        {
            "ProcessedFindings": [],
            "UnprocessedFindings": [
                {
                    "FindingIdentifier": {"Id": finding.id, "ProductArn": finding.product_arn},
                    "ErrorCode": "FindingNotFound",
                    "ErrorMessage": "Finding Not Found",
                }
            ],
        },
    )
    with pytest.raises(
        FeedbackError, match=r"did not update finding .* to NOTIFIED: FindingNotFound"
    ):
        feedback(securityhub).on_change(entry(finding, State.PENDING_APPROVAL))


def test_long_notes_are_cut_to_the_api_limit(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    _, stub, _ = securityhub
    finding = finding_from(SH_COPY)
    long_key = "k" * 1000
    note = f"remedy: object moved to s3://{QUARANTINE}/{long_key} (rule approve-personal-data)"
    expect(stub, finding, "RESOLVED", note[: MAX_NOTE - 1] + "…")
    feedback(securityhub).on_change(
        entry(
            finding,
            State.QUARANTINED,
            attrs={"destination": {"bucket": QUARANTINE, "key": long_key}},
        )
    )


# ---------------------------------------------------------------- the new Security Hub (OCSF)

OCSF_COPY = "securityhub-v2-macie-personal-copy.json"  # in 111111111111, eu-west-1


def ocsf_identifier(finding: Finding) -> dict[str, Any]:
    return {
        "CloudAccountUid": finding.account,
        "FindingInfoUid": finding.id,
        "MetadataProductUid": finding.product_arn,
    }


def expect_v2(stub: Stubber, finding: Finding, status_id: int, comment: str) -> None:
    identifier = ocsf_identifier(finding)
    stub.add_response(
        "batch_update_findings_v2",
        {"ProcessedFindings": [{"FindingIdentifier": identifier}], "UnprocessedFindings": []},
        {"FindingIdentifiers": [identifier], "StatusId": status_id, "Comment": comment},
    )


def test_ocsf_findings_are_updated_with_batch_update_findings_v2(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    """RESOLVED (4) with where the object went, SUPPRESSED (3) on dismiss, In Progress (2)
    while waiting; never New (1), so the event Security Hub emits is not acted on again."""
    _, stub, _ = securityhub
    finding = finding_from(OCSF_COPY)
    where = {"bucket": QUARANTINE, "key": "example-corp-hr-uploads/x.txt", "version_id": "v-1"}
    decided = {"id": "U0PAYLEAD1", "name": "pat", "action": "dismissed"}
    cases = [
        (
            entry(finding, State.PENDING_APPROVAL),
            2,
            "remedy: quarantine awaits approval in Slack (rule approve-personal-data)",
        ),
        (
            entry(finding, State.QUARANTINED, attrs={"destination": where}),
            4,
            f"remedy: object moved to s3://{QUARANTINE}/{where['key']} (version v-1) "
            "(rule approve-personal-data)",
        ),
        (
            entry(finding, State.DISMISSED, attrs={"decided_by": decided}),
            3,
            "remedy: dismissed by pat (Slack U0PAYLEAD1)",
        ),
    ]
    notifier = feedback(securityhub)
    for item, status_id, comment in cases:
        expect_v2(stub, finding, status_id, comment)
        notifier.on_change(item)


def test_ocsf_update_refused_names_the_finding(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    _, stub, _ = securityhub
    finding = finding_from(OCSF_COPY)
    identifier = ocsf_identifier(finding)
    stub.add_response(
        "batch_update_findings_v2",
        {
            "ProcessedFindings": [],
            "UnprocessedFindings": [
                {
                    "FindingIdentifier": identifier,
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": "Finding not found",
                }
            ],
        },
    )
    with pytest.raises(FeedbackError) as caught:
        feedback(securityhub).on_change(entry(finding, State.GONE))
    assert str(caught.value) == (
        f"Security Hub did not update OCSF finding {finding.id} to RESOLVED: "
        "ResourceNotFoundException: Finding not found (is the core account the Security Hub "
        "delegated administrator in eu-west-1?)"
    )


def test_findings_that_did_not_come_through_security_hub_get_no_update(
    securityhub: tuple[Any, Stubber, list[str]],
) -> None:
    """A scan result and a native GuardDuty finding: nothing to update (the Stubber has no
    response queued, so any call would fail)."""
    notifier = feedback(securityhub)
    for name in (
        "guardduty-malware-scan-threats-found.json",
        "guardduty-finding-s3-maliciousfile.json",
    ):
        notifier.on_change(entry(finding_from(name), State.QUARANTINED))
