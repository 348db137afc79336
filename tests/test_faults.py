"""Principle 1 under fault injection: a failure at every AWS call of the quarantine path in
turn, then redelivery.

Failures are raised by botocore ``before-call`` hooks on the real clients the pipeline
uses (the ledger's DynamoDB client and the member account's S3 client), either as an AWS
error (a 500 ``InternalError``: the call fails, the code goes on) or as `Crash` (the Lambda
dies mid-call: nothing after it runs). After each failure the object is in the source or
the quarantine bucket or both, never neither; after the redelivery (past the lease, so a
dead worker's claim is taken over) there is exactly one quarantined copy, the source
version is gone and the ledger says QUARANTINED.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from fixtures_aws import (
    MEMBERS,
    Stored,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.actions.s3_quarantine import META_TOMBSTONE
from remedy.ledger.base import State
from remedy.pipeline import Pipeline

A, B, C = MEMBERS
MIB = 1024**2
LEASE_SECONDS = 901


class Crash(Exception):
    """The Lambda died during this call."""


class Faults:
    """Counts the AWS calls made on `clients` and fails call number `fail_at`."""

    def __init__(self, clients: list[Any], fail_at: int | None, kind: str) -> None:
        self.clients = clients
        self.fail_at = fail_at
        self.kind = kind
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            index = len(self.calls)
            self.calls.append(f"{model.service_model.service_name}:{model.name}")
        if index != self.fail_at:
            return
        if self.kind == "crash":
            raise Crash(f"crashed in {model.name}")
        raise ClientError(
            {
                "Error": {"Code": "InternalError", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            model.name,
        )

    @contextmanager
    def active(self) -> Iterator[Faults]:
        for client in self.clients:
            client.meta.events.register("before-call.*.*", self, unique_id="faults")
        try:
            yield self
        finally:
            for client in self.clients:
                client.meta.events.unregister("before-call.*.*", unique_id="faults")


@pytest.mark.parametrize("kind", ["error", "crash"])
def test_a_failure_at_every_call_then_redelivery(world: World, kind: str) -> None:
    scenario = Scenario(
        world, A, versioned=True, options={"tombstone": True, "purge_versions": True}
    )
    scenario.run_every_failure(kind)


@pytest.mark.parametrize("kind", ["error", "crash"])
def test_unversioned_bucket(world: World, kind: str) -> None:
    Scenario(world, B, versioned=False, options={"tombstone": True}).run_every_failure(kind)


def test_multipart_copy(world: World) -> None:
    small = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    body = b"x" * (10 * MIB + 17)
    Scenario(world, C, versioned=True, options={}, transfer=small, body=body).run_every_failure(
        "crash"
    )


def test_a_failure_at_every_call_of_the_resumed_attempt(world: World) -> None:
    """The first attempt dies right after the copy; the redelivery that resumes it fails at
    each of its own calls in turn; the one after that finishes."""
    scenario = Scenario(world, A, versioned=True, options={"tombstone": True})
    probe = scenario.fresh()
    first = scenario.faults(fail_at=scenario.index_of("s3:DeleteObject"), kind="crash")
    with first.active(), pytest.raises(Crash):
        scenario.pipeline.process(probe.event)
    world.clock.advance(seconds=LEASE_SECONDS)
    counter = scenario.faults(fail_at=None, kind="crash")
    with counter.active():
        scenario.pipeline.process(probe.event)
    resumed_calls = counter.calls
    assert "s3:ListObjectVersions" in resumed_calls and "s3:CopyObject" not in resumed_calls
    scenario.check_final(probe)

    for index in range(len(resumed_calls)):
        for kind in ("error", "crash"):
            case = scenario.fresh()
            dies = scenario.faults(fail_at=scenario.index_of("s3:DeleteObject"), kind="crash")
            with dies.active(), pytest.raises(Crash):
                scenario.pipeline.process(case.event)
            world.clock.advance(seconds=LEASE_SECONDS)
            scenario.attempt(case, scenario.faults(fail_at=index, kind=kind))
            scenario.redeliver(case)


class Case:
    def __init__(self, stored: Stored, event: dict[str, Any], key: str) -> None:
        self.stored = stored
        self.event = event
        self.key = key


class Scenario:
    def __init__(
        self,
        world: World,
        account: str,
        *,
        versioned: bool,
        options: dict[str, Any],
        transfer: TransferConfig | None = None,
        body: bytes = b"aws_secret_access_key=wJalrXUtnFEMI",
    ) -> None:
        self.world = world
        self.account = account
        self.versioned = versioned
        self.options = options
        self.body = body
        self.bucket = world.bucket(account, "faults", versioned=versioned)
        policy: Path = world.policy_with(options)
        action = world.action(transfer=transfer) if transfer else world.action()
        self.pipeline: Pipeline = world.pipeline(action=action, policy_dir=policy)
        self.clients = [world.store.client, world.member_s3(account)]
        self._count = 0
        self._clean_calls: list[str] | None = None

    def fresh(self) -> Case:
        """A new object (and, with purge_versions, an older version of the same bytes)."""
        self._count += 1
        key = f"case-{self._count}/secret.env"
        if self.options.get("purge_versions"):
            self.world.put(self.account, self.bucket, key, self.body)
        stored = self.world.put(self.account, self.bucket, key, self.body, Tagging="env=prod")
        event = macie_event(
            self.account,
            self.bucket,
            key,
            version_id=stored.version_id,
            etag=stored.etag,
            size=len(self.body),
        )
        return Case(stored, event, self.world.finding(stored).key)

    def faults(self, *, fail_at: int | None, kind: str) -> Faults:
        return Faults(self.clients, fail_at, kind)

    @property
    def clean_calls(self) -> list[str]:
        """The calls of an attempt nothing disturbs (measured once)."""
        if self._clean_calls is None:
            case = self.fresh()
            counter = self.faults(fail_at=None, kind="crash")
            with counter.active():
                (entry,) = self.pipeline.process(case.event)
            assert entry.state is State.QUARANTINED, entry.history[-1].note
            self.check_final(case)
            self._clean_calls = counter.calls
        return self._clean_calls

    def index_of(self, call: str) -> int:
        return self.clean_calls.index(call)

    def run_every_failure(self, kind: str) -> None:
        calls = self.clean_calls
        assert calls[0] == "dynamodb:PutItem" and calls[-1] == "dynamodb:UpdateItem"
        for index in range(len(calls)):
            case = self.fresh()
            self.attempt(case, self.faults(fail_at=index, kind=kind))
            self.redeliver(case)

    def attempt(self, case: Case, faults: Faults) -> None:
        with faults.active(), suppress(Crash, ClientError):
            self.pipeline.process(case.event)
        assert faults.fail_at is None or len(faults.calls) > faults.fail_at, faults.calls
        where = f"after a failure at {faults.calls[faults.fail_at or 0]}"
        stored = case.stored
        assert self.world.still_at_source(stored) or stored.body in self.world.quarantined(
            stored
        ), f"object lost {where}"

    def redeliver(self, case: Case) -> None:
        self.world.clock.advance(seconds=LEASE_SECONDS)
        entries = self.pipeline.process(case.event)
        assert [e.key for e in entries] == [case.key]
        self.check_final(case)

    def check_final(self, case: Case) -> None:
        stored = case.stored
        entry = self.world.store.get(case.key)
        assert entry is not None
        assert entry.state is State.QUARANTINED, entry.history[-1].note
        assert self.world.quarantined(stored) == [stored.body], "exactly one quarantined copy"
        assert (
            self.world.read(stored.account, stored.bucket, stored.key, stored.version_id)
            != (stored.body)
            or not self.versioned
        )
        if not self.versioned:
            current = self.world.read(stored.account, stored.bucket, stored.key)
            assert current != stored.body
        assert entry.attrs["destination"]["key"] == f"{stored.bucket}/{stored.key}"
        if self.options.get("tombstone"):
            note = entry.history[-1].note
            tombstones = [
                v
                for v in self.world.versions(stored.account, stored.bucket, stored.key)
                if self._is_tombstone(stored, v["VersionId"], case.key)
            ]
            assert len(tombstones) == 1 or "tombstone not written" in note, note

    def _is_tombstone(self, stored: Stored, version_id: str, key: str) -> bool:
        kwargs = {"VersionId": version_id} if version_id != "null" else {}
        head = self.world.s3(stored.account).head_object(
            Bucket=stored.bucket, Key=stored.key, **kwargs
        )
        return bool(head.get("Metadata", {}).get(META_TOMBSTONE) == key)
