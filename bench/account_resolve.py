"""What resolving accounts through AWS Organizations costs: calls when cold, time when warm.

An organisation on moto (in-process) with ``--accounts`` member accounts (default 300)
spread over nested units (Root/Workloads/<team>/<Prod|Dev>, Root/Sandbox), each account
tagged with its owners, and an accounts.yaml that describes the units. Then:

  (a) cold: every account resolved once, counting the Organizations calls it makes;
  (b) warm: ``decide`` of ``--findings`` findings (default 10,000) spread over those
      accounts with the organization attached, against the same findings decided from
      accounts.yaml alone; both in the same run, several times, garbage collector off.

It prints the calls per account for (a), and for (b) the medians, microseconds per
finding and the ratio (organization / file alone), plus the calls (b) made (must be 0).

    .venv/bin/python bench/account_resolve.py [--accounts 300] [--findings 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from policy_support import DEFAULT_ONLY_ACCOUNTS, finding, policy_dir  # noqa: E402
from remedy.model import Finding  # noqa: E402
from remedy.policy import Policy, decide, load_policy  # noqa: E402
from remedy.policy.organizations import OrgDirectory  # noqa: E402

TEAMS = ("payments", "analytics", "identity", "platform", "search")

ACCOUNTS_YAML = (
    DEFAULT_ONLY_ACCOUNTS + "organizational_units:\n  Root/Sandbox: {environment: dev}\n"
)


def build_org(count: int) -> tuple[Any, list[str]]:
    """An organisation of `count` tagged accounts in nested units; the client and ids."""
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]

    def unit(parent: str, name: str) -> str:
        return str(
            client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"][
                "Id"
            ]
        )

    workloads = unit(root, "Workloads")
    leaves = [unit(root, "Sandbox")]
    for team in TEAMS:
        team_ou = unit(workloads, team)
        leaves += [unit(team_ou, "Prod"), unit(team_ou, "Dev")]
    accounts = []
    for i in range(count):
        account = client.create_account(Email=f"a{i}@example.com", AccountName=f"member-{i}")[
            "CreateAccountStatus"
        ]["AccountId"]
        client.move_account(
            AccountId=account, SourceParentId=root, DestinationParentId=leaves[i % len(leaves)]
        )
        client.tag_resource(
            ResourceId=account,
            Tags=[{"Key": "remedy:owners", "Value": f"team-{i % 7}@example.com"}],
        )
        accounts.append(account)
    return client, accounts


def timed(policy: Policy, findings: list[Finding]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for item in findings:
            decide(item, policy)
        return time.perf_counter() - start
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        client, accounts = build_org(args.accounts)
        calls: list[str] = []
        client.meta.events.register(
            "before-call.organizations.*", lambda model, **_: calls.append(model.name)
        )
        file_only = load_policy(policy_dir(Path(tmp), accounts=ACCOUNTS_YAML))
        directory = OrgDirectory(lambda: client, max_age=15 * 60)
        attached = replace(file_only, accounts=file_only.accounts.attached(directory))

        start = time.perf_counter()
        for account in accounts:
            attached.accounts.get(account)
        cold_seconds = time.perf_counter() - start
        cold_calls = len(calls)
        calls.clear()

        findings = [
            finding(key=f"m-{i}", account=accounts[i % len(accounts)]) for i in range(args.findings)
        ]
        alone, org = [], []
        for _ in range(args.repeat):
            alone.append(timed(file_only, findings))
            org.append(timed(attached, findings))
        warm_calls = len(calls)

    median_alone, median_org = statistics.median(alone), statistics.median(org)
    units = 2 + 3 * len(TEAMS)  # Workloads, Sandbox, and each team with its Prod and Dev
    print(f"python {platform.python_version()}, {args.accounts} accounts, {units} units")
    print(
        f"(a) cold: {cold_calls} Organizations calls for {args.accounts} accounts "
        f"({cold_calls / args.accounts:.2f} per account; moto answered in {cold_seconds:.1f} s)"
    )
    print(
        f"(b) warm decide of {args.findings} findings, median of {args.repeat}: "
        f"file alone {median_alone * 1e6 / args.findings:.2f} us/finding, "
        f"organization {median_org * 1e6 / args.findings:.2f} us/finding, "
        f"ratio {median_org / median_alone:.2f}; Organizations calls while warm: {warm_calls}"
    )
    if warm_calls:
        sys.exit("a warm cache called Organizations")


if __name__ == "__main__":
    main()
