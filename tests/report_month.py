"""A month of findings in a ledger on moto, for the report's browser test and the README's
screenshot of it (``make docs``).

The project's sample events, moved into the shipped accounts and decided by the shipped
policy; their entries written by the ledger store with its clock set, as the pipeline,
the approvers and the remediation would write them, at made-up but seeded (so
repeatable) times up to `now`.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from notify_support import ROOT, Ledger, create_at, finding_from, store_at
from remedy.ledger.base import State, stamp
from remedy.model import Finding
from remedy.pipeline import FIRST_STATE, SYSTEM
from remedy.policy import decide, load_policy

#: Account -> how often its findings come, relatively.
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


class Month:
    def __init__(self, ledger: Ledger, now: datetime, seed: int = 13) -> None:
        self.ledger = ledger
        self.now = now
        self.rng = random.Random(seed)
        self.policy = load_policy(ROOT / "policies")
        self.samples = [finding_from(name) for name in EVENTS]

    def fill(self) -> int:
        """Findings for each of the 30 days up to `now`: busier on weekdays, a burst 12
        days ago; how many."""
        number = 0
        for days_ago in range(29, -1, -1):
            day = (self.now - timedelta(days=days_ago)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            count = self.rng.randint(3, 9) if day.weekday() < 5 else self.rng.randint(0, 3)
            count += 14 if days_ago == 12 else 0
            for _ in range(count):
                created = day + timedelta(seconds=self.rng.randint(0, 86399))
                if created < self.now - timedelta(hours=3):
                    number += 1
                    self.write(self.finding(number, created))
        return number

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

    def write(self, finding: Finding) -> None:
        decision = decide(finding, self.policy)
        first = FIRST_STATE[decision.action]
        received = datetime.fromisoformat(str(finding.created_at).replace("Z", "+00:00"))
        received += timedelta(seconds=self.rng.randint(20, 240))
        create_at(self.ledger, received, finding, finding.key, first, decision.action.value)
        if first is State.PENDING_APPROVAL:
            self.approval(finding.key, received)
        elif first is State.QUARANTINING:
            self.quarantine(finding.key, received)

    def approval(self, key: str, asked: datetime) -> None:
        decided = asked + timedelta(seconds=self.rng.lognormvariate(8.0, 1.0))
        if decided > self.now:
            return  # still waiting
        verdict = State.APPROVED if self.rng.random() < 0.75 else State.DISMISSED
        store = store_at(self.ledger, decided)
        store.transition(key, [State.PENDING_APPROVAL], verdict, by=self.rng.choice(APPROVERS))
        if verdict is State.APPROVED:
            store.transition(key, [State.APPROVED], State.QUARANTINING, by=SYSTEM)
            self.quarantine(key, decided)

    def quarantine(self, key: str, started: datetime) -> None:
        done = started + timedelta(seconds=self.rng.lognormvariate(4.5, 0.8))
        roll = self.rng.random()
        outcome = State.LOCKED if roll < 0.04 else State.DENIED if roll < 0.08 else None
        store_at(self.ledger, done).transition(
            key, [State.QUARANTINING], outcome or State.QUARANTINED, by=SYSTEM
        )
