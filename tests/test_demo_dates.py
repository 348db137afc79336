"""The demo's findings are dated by the demo's run, so its report measures the demo.

Every sample the demo builds from (events/) is moved to a moment, normalised as remedy
reads it, and its finding's times checked: as new as that moment, with the sample's own
spacing kept. The report of such a finding, quarantined a minute after that moment, says
a minute, not the samples' age (issue 18: "795 days").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notify_support import Ledger, aws, create_at, ledger, store_at
from remedy.demo.scenario import dated
from remedy.ledger.base import State
from remedy.normalise import normalise
from remedy.policy import load_policy
from remedy.views.report import Period, compute

__all__ = ["aws", "ledger"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "events").glob("*.json"))
NOW = datetime(2026, 12, 7, 3, 0, 0, 250_000, tzinfo=UTC)


def _load(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_every_sample_is_as_new_as_the_demo(sample: Path) -> None:
    event = dated(_load(sample), NOW)

    for finding in normalise(event):
        for moment in (finding.created_at, finding.updated_at):
            if moment is not None:
                when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
                assert NOW - timedelta(days=1) <= when <= NOW, (sample.name, moment)


def test_the_samples_spacing_and_format_are_kept() -> None:
    event = dated(_load(ROOT / "events" / "macie-classification-credentials.json"), NOW)
    detail = event["detail"]
    assert isinstance(detail, dict)
    # Latest: the finding (createdAt, .123 in the sample); the object a day before it.
    assert detail["createdAt"] == "2026-12-07T03:00:00.250Z"
    assert event["time"] == "2026-12-07T03:00:00Z"
    obj = detail["resourcesAffected"]["s3Object"]
    assert obj["lastModified"] == "2026-12-06T01:14:30.127Z"


def test_the_demo_report_measures_the_demo(ledger: Ledger) -> None:
    event = dated(_load(ROOT / "events" / "macie-classification-credentials.json"), NOW)
    (finding,) = normalise(event)
    create_at(ledger, NOW, finding, "demo", State.QUARANTINING, "quarantine")
    store_at(ledger, NOW + timedelta(minutes=1)).transition(
        "demo", [State.QUARANTINING], State.QUARANTINED, by="remedy"
    )
    accounts = load_policy(ROOT / "policies").accounts
    period = Period(NOW - timedelta(hours=1), NOW + timedelta(hours=1))

    report = compute([ledger.store.get("demo")], accounts, period)  # type: ignore[list-item]

    assert report.remediate.seconds == (60.0,)
