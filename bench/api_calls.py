"""AWS API calls per quarantined object on the warm path, ledger writes included.

A member account on moto with the member template deployed (as in the tests), the core's
ledger table, and the real pipeline (normalise, decide, ledger, s3-quarantine). One object
is quarantined first to warm the container (role assumed, clients built); then every
further object's calls are counted with botocore ``before-call`` hooks on the clients the
pipeline uses (core STS, the ledger's DynamoDB, the member S3 client), and cross-checked
against the number of requests moto received in the same window, so no call escapes the
count. Three kinds of object, each over ``--objects`` objects:

  unversioned:          an unversioned bucket, objects without tags (the common case)
  versioned:            a versioned bucket: the outcome also lists the versions left behind
  versioned + tagged:   as above, objects carrying tags (read so the copy keeps them)

Target: at most 5 calls per object for the common case.

Then the Security Hub control remediations (`remedy.actions.controls`): for each one,
on two member accounts of the tests' moto core with the role already assumed, the AWS
calls its fix makes and the calls its release makes (each control's case from
`tests/control_cases.py`, its finding read from ASFF by the real normaliser).

    .venv/bin/python bench/api_calls.py [--objects 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixtures_aws as aws  # noqa: E402  (the tests' moto organisation)
from conftest import fake_aws_credentials  # noqa: E402
from control_calls import watching  # noqa: E402
from control_cases import CASES  # noqa: E402
from control_events import control_finding  # noqa: E402
from fixtures_guard import MEMBERS, running_core  # noqa: E402
from remedy.ledger.base import State  # noqa: E402

TARGET = 5
ACCOUNT = aws.MEMBERS[0]


@contextmanager
def moto_requests() -> Iterator[list[int]]:
    """Counts every request moto answers while active (the cross-check)."""
    seen = [0]
    lock = threading.Lock()
    process = BotocoreStubber.process_request

    def counting(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            seen[0] += 1
        return process(self, request)

    BotocoreStubber.process_request = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        BotocoreStubber.process_request = process  # type: ignore[method-assign]


def measure(world: aws.World, *, objects: int, versioned: bool, tagged: bool) -> dict[str, Any]:
    pipeline = world.pipeline()
    bucket = world.bucket(ACCOUNT, "bench", versioned=versioned)
    tagging = {"Tagging": "team=data&env=prod"} if tagged else {}

    def quarantine(stored: aws.Stored) -> None:
        event = aws.macie_event(
            ACCOUNT, bucket, stored.key, version_id=stored.version_id, etag=stored.etag
        )
        (entry,) = pipeline.process(event)
        if entry.state is not State.QUARANTINED:
            raise SystemExit(f"{stored.key} ended {entry.state}: {entry.history[-1].note}")

    # Warm the container: role assumed, clients built, policy loaded.
    quarantine(world.put(ACCOUNT, bucket, "warm-up.csv", b"4111111111111111", **tagging))
    objects_ = [
        world.put(ACCOUNT, bucket, f"exports/{index:04d}.csv", b"4111111111111111", **tagging)
        for index in range(objects)
    ]
    calls: Counter[str] = Counter()
    clients = [world.sts, world.store.client, world.member_s3(ACCOUNT)]

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", count, unique_id="bench")
    try:
        with moto_requests() as seen:
            for stored in objects_:
                quarantine(stored)
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", unique_id="bench")
    total = sum(calls.values())
    if total != seen[0]:
        raise SystemExit(f"hooks counted {total} calls but moto answered {seen[0]} requests")
    return {
        "per_object": total / objects,
        "breakdown": {name: n / objects for name, n in sorted(calls.items())},
    }


def control_calls() -> list[tuple[str, str, int, int]]:
    """(remediation case, control, calls per fix, calls per release), each on a fresh moto."""
    out = []
    for case in CASES:
        with pytest.MonkeyPatch.context() as monkeypatch:
            core_run = running_core(monkeypatch)
            core = next(core_run)
            for account in MEMBERS:
                case.setup(account)
            core.prime(*MEMBERS)
            action = case.action(core.sessions, core.settings)
            asff, ocsf = case.resources(MEMBERS[0])
            found = control_finding("asff", MEMBERS[0], case.control, asff=asff, ocsf=ocsf)
            with watching(core, action, MEMBERS[0]) as calls:
                outcome = action.run(found, case.options, resume=False)
                fix = len(calls.made)
                action.release(found, outcome.attrs)
            if outcome.state is not State.QUARANTINED:
                raise SystemExit(f"{case.name} ended {outcome.state}: {outcome.reason}")
            out.append((case.name, case.control, fix, len(calls.made) - fix))
            next(core_run, None)  # the core's own checks (owners pinned, ExternalId)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=50)
    args = parser.parse_args()
    results = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_credentials(monkeypatch, aws.REGION)
        with mock_aws():
            aws.deploy_member(ACCOUNT)
            core = aws._core_identity()
            aws.create_ledger_table(core.client("dynamodb"))
            # The shipped policy: Macie credentials findings are quarantined at once.
            org = aws.Org(core, {}, aws.ROOT / "policies")
            for name, versioned, tagged in (
                ("unversioned", False, False),
                ("versioned", True, False),
                ("versioned + tagged", True, True),
            ):
                world = aws.make_world(org)
                results[name] = measure(
                    world, objects=args.objects, versioned=versioned, tagged=tagged
                )
    print(f"AWS API calls per quarantined object, warm path, {args.objects} objects each:")
    for name, result in results.items():
        print(f"\n  {name}: {result['per_object']:.2f} calls per object")
        for call, n in result["breakdown"].items():
            print(f"    {n:5.2f}  {call}")
    print("\nAWS API calls per control fix and per release (warm role, one resource):")
    print(f"  {'remediation':40} {'control':13} {'fix':>4} {'release':>8}")
    controls = control_calls()
    for name, control, fix, release in controls:
        print(f"  {name:40} {control:13} {fix:4d} {release:8d}")
    common = results["unversioned"]["per_object"]
    verdict = "meets" if common <= TARGET else "misses"
    print(f"\ncommon case {common:.2f} per object: {verdict} the target of at most {TARGET}")
    print(
        json.dumps(
            {
                **{k: v["per_object"] for k, v in results.items()},
                "controls": {name: {"fix": f, "release": r} for name, _, f, r in controls},
            }
        )
    )
    return 0 if common <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
