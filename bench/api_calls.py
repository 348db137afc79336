"""AWS API calls per quarantined object on the warm path, ledger writes included.

A member account on moto with the member template deployed (as in the tests), the core's
ledger table, and the real pipeline (normalise, decide, ledger, s3-quarantine). One object
is quarantined first to warm the container (role assumed, clients built); then every
further object's calls are counted with botocore ``before-call`` hooks on the clients the
pipeline uses (core STS, the ledger's DynamoDB, the member S3 client), and cross-checked
against the number of requests moto received in the same window, so no call escapes the
count. The pipeline runs with its safety rails on, as deployed (`remedy.rails`): the
circuit breaker counts every automatic remediation with one conditional write. Three
kinds of object, each over ``--objects`` objects:

  unversioned:          an unversioned bucket, objects without tags (the common case)
  versioned:            a versioned bucket: the outcome also lists the versions left behind
  versioned + tagged:   as above, objects carrying tags (read so the copy keeps them)

and public buckets made private by s3-block-public-access, whose rule changes
configuration, so the managed-as-code rail reads the bucket's tags first:

  public bucket:        a bucket nothing manages: one tag read, then the fix
  managed bucket:       a bucket a CloudFormation stack manages: one tag read, then an
                        approval instead of the fix

Target: at most 5 calls per object for the common case, besides the breaker's one write
(`RAILS_CALLS`); the tag read at most once per bucket, and never for an object.

Then the containments (isolate-instance, contain-principal) and their releases, called as
the pipeline calls them, on a member with the remediation role (as in their tests): after
one warm-up (role assumed, the VPC's isolation groups made), each further instance (two
interfaces, two volumes, an instance profile, in an Auto Scaling group) or user's access
key is contained, then released, and every call the role makes is counted, cross-checked
against moto's requests the same way.

Then the Security Hub control remediations (`remedy.actions.controls`): for each one,
on two member accounts of the tests' moto core with the role already assumed, the AWS
calls its fix makes and the calls its release makes (each control's case from
`tests/control_cases.py`, its finding read from ASFF by the real normaliser).

    .venv/bin/python bench/api_calls.py [--objects 50] [--containments 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.s3.models import s3_backends

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixtures_aws as aws  # noqa: E402  (the tests' moto organisation)
from conftest import CONFORMANCE, fake_aws_credentials  # noqa: E402
from control_calls import watching  # noqa: E402
from control_cases import CASES  # noqa: E402
from control_events import control_finding  # noqa: E402
from fixtures_guard import MEMBERS, running_core  # noqa: E402
from remedy.ledger.base import State  # noqa: E402
from remedy.pipeline import Pipeline  # noqa: E402
from remedy.policy.rails import BreakerLimits  # noqa: E402
from remedy.rails import Rails  # noqa: E402

TARGET = 5
#: What the rails add to an automatic object quarantine: the breaker's conditional write
#: (a process's first in each sub-window of the breaker's window makes one more; a run
#: that crosses a sub-window's start, every 10 minutes of the clock, counts it).
RAILS_CALLS = 1
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


def with_rails(world: aws.World) -> Pipeline:
    """The pipeline as deployed: with the breaker counting in the ledger table and the
    member clients to read tags with."""
    pipeline = world.pipeline()
    # Limits no run reaches: the bench measures what counting costs, not what holding does.
    unbounded = BreakerLimits(per_rule=10**9, per_account=10**9, overall=10**9)
    policy = dataclasses.replace(
        pipeline.policy, rails=dataclasses.replace(pipeline.policy.rails, breaker=unbounded)
    )
    # The rails' clock stands still: the breaker starts a sub-window once per process every
    # 10 minutes (one more write, in the warm-up here), and a run that crossed an edge would
    # count that write against one object and miss the target by chance.
    start = datetime.now(UTC)
    return dataclasses.replace(
        pipeline,
        policy=policy,
        rails=Rails(
            world.store.client,
            aws.LEDGER_TABLE,
            lambda service, account, region, key: world.sessions.client(
                service, account, region, finding_key=key
            ),
            clock=lambda: start,
        ),
    )


def counted(world: aws.World, run: Callable[[], None]) -> Counter[str]:
    """The calls `run` makes through the pipeline's clients, cross-checked with moto."""
    calls: Counter[str] = Counter()
    clients = [world.sts, world.store.client, world.member_s3(ACCOUNT)]

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", count, unique_id="bench")
    try:
        with moto_requests() as seen:
            run()
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", unique_id="bench")
    total = sum(calls.values())
    if total != seen[0]:
        raise SystemExit(f"hooks counted {total} calls but moto answered {seen[0]} requests")
    return calls


def per(calls: Counter[str], n: int) -> dict[str, Any]:
    return {
        "per_object": sum(calls.values()) / n,
        "breakdown": {name: k / n for name, k in sorted(calls.items())},
    }


def measure(world: aws.World, *, objects: int, versioned: bool, tagged: bool) -> dict[str, Any]:
    pipeline = with_rails(world)
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

    def run() -> None:
        for stored in objects_:
            quarantine(stored)

    return per(counted(world, run), objects)


def public_call(bucket: str) -> dict[str, Any]:
    """CloudTrail's public PutBucketPolicy event (the conformance sample) for `bucket`."""
    event: dict[str, Any] = json.loads(
        (CONFORMANCE / "cloudtrail-s3-putbucketpolicy-public.json").read_text(encoding="utf-8")
    )
    event["account"] = event["detail"]["recipientAccountId"] = ACCOUNT
    event["region"] = event["detail"]["awsRegion"] = aws.REGION
    event["detail"]["requestParameters"]["bucketName"] = bucket
    # Each call its own: the finding's key is the call's event id.
    event["id"] = event["detail"]["eventID"] = str(uuid.uuid4())
    return event


def measure_buckets(world: aws.World, *, buckets: int, managed: bool) -> dict[str, Any]:
    """Public buckets fixed (or, managed by a stack, held for approval) with the rails on."""
    pipeline = with_rails(world)
    expected = State.PENDING_APPROVAL if managed else State.QUARANTINED

    def bucket() -> str:
        name = world.bucket(ACCOUNT, "bench-public")
        if managed:
            # moto's CloudFormation adds no aws:cloudformation:* tags and its S3 API
            # refuses aws: tags: set them as AWS would on a stack's bucket.
            s3_backends[ACCOUNT]["global"].put_bucket_tagging(
                name,
                {
                    "aws:cloudformation:stack-id": (
                        f"arn:aws:cloudformation:{aws.REGION}:{ACCOUNT}:stack/bench/0"
                    )
                },
            )
        return name

    def fix(name: str) -> None:
        (entry,) = pipeline.process(public_call(name))
        if entry.state is not expected:
            raise SystemExit(f"{name} ended {entry.state}: {entry.history[-1].note}")

    fix(bucket())  # warm
    names = [bucket() for _ in range(buckets)]

    def run() -> None:
        for name in names:
            fix(name)

    return per(counted(world, run), buckets)


def containments(count: int) -> dict[str, dict[str, Any]]:
    """Calls per containment and per release, for both containment actions."""
    import fixtures_containment as fc
    import fixtures_guard as fg
    from remedy.actions.contain_principal import ContainPrincipal
    from remedy.actions.isolate_instance import IsolateInstance

    account = fg.MEMBERS[0]
    with pytest.MonkeyPatch.context() as monkeypatch:
        world = fg.running_core(monkeypatch)
        core = next(world)
        fg.install_role(account, IsolateInstance.permissions | ContainPrincipal.permissions)
        net = fc.network(account)
        fc.scaling_group(account, net)
        profile = fc.profile(account)
        core.prime(account)
        isolate = IsolateInstance(core.sessions, core.settings)
        contain = ContainPrincipal(core.sessions, core.settings)

        def instance(index: int) -> Any:
            return fc.instance_finding(
                account, fc.instance(account, net, profile), key=f"bench-{index}"
            )

        def key(index: int) -> Any:
            user = f"bench-{index}"
            return fc.key_finding(
                account, _access_key(account, user), user, key=f"bench-key-{index}"
            )

        out = {
            "isolate-instance": _contain_and_release(core, account, isolate, instance, count),
            "contain-principal": _contain_and_release(core, account, contain, key, count),
        }
        next(world, None)  # the fixture's checks: every AssumeRole carried the ExternalId
    return out


def _access_key(account: str, user: str) -> str:
    import fixtures_guard as fg

    iam = fg.admin(account, "iam")
    iam.create_user(UserName=user)
    created: str = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return created


def _contain_and_release(
    core: Any, account: str, action: Any, target: Any, count: int
) -> dict[str, Any]:
    from fixtures_containment import recorded

    def once(index: int, tally: dict[str, Counter[str]]) -> None:
        found = target(index)
        with moto_requests() as seen, recorded(core, account) as calls:
            outcome = action.run(found, {}, resume=False)
        if outcome.state is not State.QUARANTINED or len(calls.names) != seen[0]:
            raise SystemExit(f"{action.name}: {outcome.state} {outcome.reason}; {seen[0]}")
        tally["contain"].update(calls.names)
        with moto_requests() as seen, recorded(core, account) as calls:
            action.release(found, outcome.attrs)
        if len(calls.names) != seen[0]:
            raise SystemExit(f"{action.name} release: {len(calls.names)} != {seen[0]}")
        tally["release"].update(calls.names)

    once(-1, {"contain": Counter(), "release": Counter()})  # warm-up
    tally: dict[str, Counter[str]] = {"contain": Counter(), "release": Counter()}
    for index in range(count):
        once(index, tally)
    return {
        step: {
            "per_action": sum(calls.values()) / count,
            "breakdown": {name: n / count for name, n in sorted(calls.items())},
        }
        for step, calls in tally.items()
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
    parser.add_argument("--containments", type=int, default=10)
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
            for name, managed in (("public bucket", False), ("managed bucket", True)):
                results[name] = measure_buckets(
                    aws.make_world(org), buckets=args.objects, managed=managed
                )
    print(f"AWS API calls per finding, warm path, rails on, {args.objects} of each:")
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
    ok = common <= TARGET + RAILS_CALLS
    verdict = "meets" if ok else "misses"
    print(
        f"\ncommon case {common:.2f} per object: {verdict} the target of at most {TARGET} "
        f"plus the breaker's {RAILS_CALLS}"
    )
    objects_read = max(
        results[k]["breakdown"].get("s3:GetBucketTagging", 0.0)
        for k in ("unversioned", "versioned", "versioned + tagged")
    )
    buckets_read = max(
        results[k]["breakdown"].get("s3:GetBucketTagging", 0.0)
        for k in ("public bucket", "managed bucket")
    )
    print(f"tag reads: {buckets_read:.2f} per bucket fix, {objects_read:.2f} per object")
    ok = ok and buckets_read <= 1 and objects_read == 0
    print(
        json.dumps(
            {
                **{k: v["per_object"] for k, v in results.items()},
                "controls": {name: {"fix": f, "release": r} for name, _, f, r in controls},
            }
        )
    )
    contained = containments(args.containments)
    print(f"\nAWS API calls per containment and per release, {args.containments} each:")
    for name, steps in contained.items():
        for step, result in steps.items():
            print(f"\n  {name}, {step}: {result['per_action']:.2f} calls")
            for call, n in result["breakdown"].items():
                print(f"    {n:5.2f}  {call}")
    print(
        json.dumps(
            {f"{n} {step}": r["per_action"] for n, s in contained.items() for step, r in s.items()}
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
