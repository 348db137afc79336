"""docs/report.png (``make docs``): ``remedy report --html`` of a month, in headless Chromium.

A ledger on moto (in-process) is filled with a month of findings in the shipped
accounts: the project's sample events, decided by the shipped policy, their entries
written by the ledger store as the pipeline and the approvers would write them, at made-up
but seeded (so repeatable) times. Then the report command reads it through the
``activity`` index as it reads AWS, and Chromium photographs the whole page.

    .venv/bin/python scripts/report_screenshot.py docs/report.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto import mock_aws

from remedy.cli import main as remedy
from remedy.devtools.browser import chromium
from remedy.ledger.base import Entry, HistoryItem, State, stamp
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.ledger.indexes import TABLE_SCHEMA
from remedy.model import Action, Finding
from remedy.normalise import normalise
from remedy.pipeline import SYSTEM
from remedy.policy import decide, load_policy

ROOT = Path(__file__).resolve().parent.parent
TABLE = "remedy-ledger"
REGION = "eu-west-1"
ACCOUNTS = {"111111111111": 5, "222222222222": 3, "333333333333": 2}
APPROVERS = ("slack:U0PAYLEAD1", "slack:U0ANALYTIC1", "email-link")
EVENTS = (
    "macie-classification-credentials.json",
    "macie-classification-financial.json",
    "macie-classification-multiple.json",
    "macie-classification-personal.json",
    "securityhub-control-ec2.19-open-security-group.json",
    "securityhub-control-s3.8-block-public-access.json",
    "cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json",
)
FIRST: dict[Action, State] = {
    Action.QUARANTINE: State.QUARANTINING,
    Action.APPROVE: State.PENDING_APPROVAL,
    Action.NOTIFY: State.NOTIFIED,
    Action.IGNORE: State.IGNORED,
    Action.REJECT: State.REJECTED,
}


class Month:
    """Writes a month of entries; `rng` decides what happens and when."""

    def __init__(self, client: object, rng: random.Random, now: datetime) -> None:
        self.client = client
        self.rng = rng
        self.now = now
        self.policy = load_policy(ROOT / "policies")
        self.samples = [
            normalise(json.loads((ROOT / "events" / name).read_text(encoding="utf-8")))[0]
            for name in EVENTS
        ]

    def at(self, moment: datetime) -> DynamoDBLedgerStore:
        return DynamoDBLedgerStore(TABLE, self.client, clock=lambda: moment)

    def finding(self, number: int, created: datetime) -> Finding:
        account = self.rng.choices(list(ACCOUNTS), weights=list(ACCOUNTS.values()))[0]
        sample = self.rng.choice(self.samples)
        return replace(
            sample,
            key=f"{sample.key[:2]}-{number:05d}",
            account=account,
            envelope_account=account,
            created_at=stamp(created),
        )

    def write(self, number: int, created: datetime) -> None:
        finding = self.finding(number, created)
        decision = decide(finding, self.policy)
        first = FIRST[decision.action]
        received = created + timedelta(seconds=self.rng.randint(20, 240))
        at = stamp(received)
        self.at(received).create(
            Entry(
                key=finding.key,
                state=first,
                account=finding.account,
                region=finding.region,
                finding=finding.to_dict(),
                decision=decision.to_dict(),
                created_at=at,
                updated_at=at,
                history=(HistoryItem(at, SYSTEM, State.RECEIVED.value, first.value),),
            )
        )
        if first is State.PENDING_APPROVAL:
            self.approval(finding.key, received)
        elif first is State.QUARANTINING:
            self.quarantine(finding.key, received)

    def approval(self, key: str, asked: datetime) -> None:
        decided = asked + timedelta(seconds=self.rng.lognormvariate(8.0, 1.0))
        if decided > self.now:
            return  # still waiting
        verdict = State.APPROVED if self.rng.random() < 0.75 else State.DISMISSED
        who = self.rng.choice(APPROVERS)
        self.at(decided).transition(key, [State.PENDING_APPROVAL], verdict, by=who)
        if verdict is State.APPROVED:
            self.at(decided).transition(key, [State.APPROVED], State.QUARANTINING, by=SYSTEM)
            self.quarantine(key, decided)

    def quarantine(self, key: str, started: datetime) -> None:
        done = started + timedelta(seconds=self.rng.lognormvariate(4.5, 0.8))
        roll = self.rng.random()
        outcome = State.LOCKED if roll < 0.04 else State.DENIED if roll < 0.08 else None
        self.at(done).transition(key, [State.QUARANTINING], outcome or State.QUARANTINED, by=SYSTEM)


def fill(client: object, now: datetime, seed: int = 13) -> int:
    """A month of findings up to `now`; how many."""
    rng = random.Random(seed)
    month = Month(client, rng, now)
    number = 0
    for days_ago in range(29, -1, -1):
        day = (now - timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Busier on weekdays; a burst mid-month.
        count = rng.randint(3, 9) if day.weekday() < 5 else rng.randint(0, 3)
        count += 14 if days_ago == 12 else 0
        for _ in range(count):
            created = day + timedelta(seconds=rng.randint(0, 86399))
            if created < now - timedelta(minutes=10):
                number += 1
                month.write(number, created)
    return number


def screenshot(page: Path, png: Path, width: int = 1100) -> None:
    with tempfile.TemporaryDirectory(prefix="remedy-chromium-") as profile:
        driver = chromium(Path(profile))
        try:
            driver.set_window_size(width, 900)
            driver.get(page.resolve().as_uri())
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, int(height) + 20)
            driver.save_screenshot(str(png))
        finally:
            driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    args = parser.parse_args()
    # mock_aws brings its own fake credentials; the report command reads these.
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        REMEDY_LEDGER_TABLE=TABLE,
        REMEDY_POLICY_DIR=str(ROOT / "policies"),
    )
    with mock_aws(), tempfile.TemporaryDirectory(prefix="remedy-report-") as work:
        client = boto3.client("dynamodb")
        client.create_table(TableName=TABLE, **TABLE_SCHEMA)
        fill(client, datetime.now(UTC))
        page = Path(work) / "report.html"
        status = remedy(["report", "--html", str(page)])
        if status:
            return status
        screenshot(page, args.png)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
