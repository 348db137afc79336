"""The remediator Lambda entry point: ``{"key": ...}`` after an approval, built from the
environment as in Lambda, against moto."""

from __future__ import annotations

import pytest

from fixtures_aws import (
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    LambdaContext,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from remedy.handlers import remediator
from remedy.handlers.runtime import Runtime
from remedy.ledger.base import State

A, B, C = MEMBERS


@pytest.fixture(autouse=True)
def environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", EXTERNAL_ID)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(world.policy_dir))
    monkeypatch.setattr(remediator, "runtime", Runtime(remediator.metrics))


def test_an_approved_entry_is_quarantined(world: World) -> None:
    bucket = world.bucket(B, "approved", versioned=True)
    stored = world.put(B, bucket, "people.csv", b"birthdays")
    event = macie_event(
        B,
        bucket,
        stored.key,
        version_id=stored.version_id,
        etag=stored.etag,
        finding_type="SensitiveData:S3Object/Personal",
    )
    (entry,) = world.pipeline().process(event)
    assert entry.state is State.PENDING_APPROVAL
    world.store.transition(entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1")

    answer = remediator.handler({"key": entry.key}, LambdaContext(function_name="remediator"))

    assert answer == {"key": entry.key, "state": "QUARANTINED"}
    assert world.quarantined(stored) == [stored.body]
    # Lambda's own retry of the same invocation finds the work done.
    again = remediator.handler({"key": entry.key}, LambdaContext(function_name="remediator"))
    assert again == answer


@pytest.mark.parametrize("event", [{}, {"key": ""}, {"key": 7}, ["m-1"]])
def test_an_invocation_without_a_key_is_refused_not_retried(event: object) -> None:
    answer = remediator.handler(event, LambdaContext(function_name="remediator"))  # type: ignore[arg-type]
    assert answer == {"error": 'expected {"key": "<ledger key>"}'}


def test_an_unknown_key_is_refused_not_retried(world: World) -> None:
    answer = remediator.handler({"key": "m-unknown"}, LambdaContext(function_name="remediator"))
    assert answer == {
        "error": "no ledger entry 'm-unknown': check the key (remedy explain prints it)"
    }
