"""What remedy costs per month: N member accounts x R regions x F findings a day each.

Usage per finding event is what bench/burst.py measured (``--usage``, default
bench/usage-burst.json: AWS calls by service, handler CPU, Lambda invocations, share of
findings quarantined); prices are AWS's public list prices in one dated file (``--prices``,
default bench/prices-2026-12.json, us-east-1). What a measurement on moto cannot give is an
assumption, named below and printed with the result: how long an AWS or Slack call waits on
the network (Lambda bills the wait), and how usage splits where one call can cost two ways.

Fixed costs: the quarantine bucket's customer-managed KMS key, $1 a month in every member
account and region that has one (``--key-regions``: regions that keep the quarantine
bucket, see the member template's QuarantineInRegion; default all R), and the core
account's key, secrets and alarms.

    .venv/bin/python bench/cost.py [--accounts 10 300 1000] [--regions 3] [--findings 5]
        [--key-regions R] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
DAYS = 30.42  # a month
# Assumptions (not measurable on moto), per call the findings function waits for:
AWS_CALL_SECONDS = 0.015  # an in-region AWS API call
SLACK_CALL_SECONDS = 0.15  # a Slack Web API call from AWS
FINDINGS_MEMORY_GB = 0.5  # template.yaml FindingsFunction MemorySize
LOG_BYTES_PER_EVENT = 2000  # structured log lines per finding (CloudWatch Logs ingestion)
TEMPLATE = BENCH.parent / "template.yaml"


def core_resources(kind: str) -> int:
    """How many resources of `kind` the core template always makes (a ticket system's
    conditional secret and alarm are not counted): read from the template, so an alarm
    added there is billed here."""

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        return None  # CloudFormation's !Ref, !Sub, …: only the types are read

    Loader.add_multi_constructor("!", tagged)
    resources = yaml.load(TEMPLATE.read_text(), Loader)["Resources"]  # noqa: S506 - SafeLoader
    return sum(1 for r in resources.values() if r["Type"] == kind and "Condition" not in r)


@dataclass(frozen=True)
class Estimate:
    accounts: int
    regions: int
    key_regions: int
    findings_per_day: float
    per_event: dict[str, float]
    fixed: dict[str, float]

    @property
    def events_per_month(self) -> float:
        return self.accounts * self.regions * self.findings_per_day * DAYS

    @property
    def variable(self) -> float:
        return sum(self.per_event.values()) * self.events_per_month

    @property
    def total(self) -> float:
        return self.variable + sum(self.fixed.values())


def per_event_cost(usage: dict[str, Any], prices: dict[str, float]) -> dict[str, float]:
    """Dollars per finding event, by service."""
    calls = usage["aws_calls_per_event"]
    aws_calls = sum(calls.values())
    seconds = (
        usage["handler_cpu_ms_per_event"] / 1000
        + aws_calls * AWS_CALL_SECONDS
        + usage["slack_calls_per_event"] * SLACK_CALL_SECONDS
        # Sleeping for a channel's Slack pace (`remedy.notify.pace`), as the burst measured.
        + usage.get("pace_wait_seconds_per_event", 0.0)
    )
    invocations = usage["invocations_per_event"]
    sns = calls.get("sns", 0.0)
    return {
        "Lambda": seconds * FINDINGS_MEMORY_GB * prices["lambda_arm_gb_second"]
        + invocations * prices["lambda_request"],
        # Every ledger call priced as a write (the dearer kind): most are conditional writes.
        "DynamoDB": calls.get("dynamodb", 0.0) * prices["dynamodb_on_demand_write_request"],
        # EventBridge's SendMessage, and the poller's receive and delete per batch.
        "SQS": (1 + 2 * invocations) * prices["sqs_standard_request"],
        "EventBridge": prices["eventbridge_cross_account_event"],
        # One GenerateDataKey per quarantined object (S3 Bucket Keys make it fewer).
        "KMS": usage["quarantined_per_event"] * prices["kms_request"],
        # Every S3 call priced as a PUT/COPY/LIST (HEAD and GET are cheaper, DELETE free).
        "S3": calls.get("s3", 0.0) * prices["s3_put_copy_list_request"],
        "SNS": sns * (prices["sns_publish"] + prices["sns_email_delivery"]),
        "CloudWatch Logs": LOG_BYTES_PER_EVENT / 1e9 * prices["cloudwatch_logs_ingested_gb"],
    }


def estimate(
    accounts: int,
    regions: int,
    findings_per_day: float,
    usage: dict[str, Any],
    prices: dict[str, float],
    key_regions: int | None = None,
) -> Estimate:
    keyed = regions if key_regions is None else min(key_regions, regions)
    return Estimate(
        accounts=accounts,
        regions=regions,
        key_regions=keyed,
        findings_per_day=findings_per_day,
        per_event=per_event_cost(usage, prices),
        fixed={
            "member quarantine keys": accounts * keyed * prices["kms_key_month"],
            "core key, secrets, alarms": core_resources("AWS::KMS::Key") * prices["kms_key_month"]
            + core_resources("AWS::SecretsManager::Secret") * prices["secretsmanager_secret_month"]
            + core_resources("AWS::CloudWatch::Alarm") * prices["cloudwatch_alarm_month"],
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10, 300, 1000])
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument(
        "--findings", type=float, default=5.0, help="finding events a day per account and region"
    )
    parser.add_argument(
        "--key-regions", type=int, help="regions per account that keep the quarantine bucket"
    )
    parser.add_argument("--usage", type=Path, default=BENCH / "usage-burst.json")
    parser.add_argument("--prices", type=Path, default=BENCH / "prices-2026-12.json")
    parser.add_argument("--markdown", action="store_true", help="print a README table")
    args = parser.parse_args()
    usage = json.loads(args.usage.read_text(encoding="utf-8"))
    prices = json.loads(args.prices.read_text(encoding="utf-8"))
    rows = [
        estimate(n, args.regions, args.findings, usage, prices, args.key_regions)
        for n in args.accounts
    ]
    print(
        f"prices: {args.prices.name} ({prices['region']}, {prices['date']}); usage: "
        f"{args.usage.name} ({usage['events']} events); assumed per call: AWS "
        f"{AWS_CALL_SECONDS * 1000:.0f} ms, Slack {SLACK_CALL_SECONDS * 1000:.0f} ms"
    )
    print(f"per finding event: ${sum(rows[0].per_event.values()) * 1e6:.2f} per million:")
    for name, dollars in rows[0].per_event.items():
        print(f"    {name:16} ${dollars * 1e6:8.2f} per million")
    if args.markdown:
        print(
            "| accounts | regions (with quarantine key) | findings/month | per findings "
            "| fixed: member keys | fixed: core | total per month |"
        )
        print("|---|---|---|---|---|---|---|")
    for row in rows:
        keys, core = row.fixed.values()
        if args.markdown:
            print(
                f"| {row.accounts:,} | {row.regions} ({row.key_regions}) | "
                f"{row.events_per_month:,.0f} | ${row.variable:,.2f} | ${keys:,.2f} | "
                f"${core:,.2f} | **${row.total:,.2f}** |"
            )
        else:
            print(
                f"{row.accounts:>6} accounts x {row.regions} regions ({row.key_regions} with a "
                f"quarantine key), {row.findings_per_day:g} findings/day each = "
                f"{row.events_per_month:,.0f}/month: findings ${row.variable:,.2f} + member "
                f"keys ${keys:,.2f} + core ${core:,.2f} = ${row.total:,.2f} a month"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
