"""The ledger on DynamoDB (moto): one item per key, every change one conditional write."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from conftest import fake_aws_credentials
from fixtures_aws import LEDGER_TABLE, REGION, Clock, create_ledger_table
from remedy.ledger.base import (
    TRANSITIONS,
    Conflict,
    Entry,
    HistoryItem,
    IllegalTransition,
    State,
    Taken,
    is_terminal,
)
from remedy.ledger.dynamodb import DynamoDBLedgerStore


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_credentials(monkeypatch, REGION)
        with mock_aws():
            client = boto3.client("dynamodb")
            create_ledger_table(client)
            yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(dynamodb: Any, clock: Clock) -> DynamoDBLedgerStore:
    return DynamoDBLedgerStore(LEDGER_TABLE, dynamodb, ttl_days=30, clock=clock)


def entry(state: State = State.PENDING_APPROVAL, **attrs: Any) -> Entry:
    key = "m-" + uuid.uuid4().hex
    return Entry(
        key=key,
        state=state,
        account="111111111111",
        region="eu-west-1",
        finding={"key": key, "severity": "HIGH", "score": 7.4, "nested": {"a": [1, 2.5]}},
        decision={"action": "approve", "rule": "r", "reason": "why"},
        created_at="",
        updated_at="",
        attrs=dict(attrs),
        history=(HistoryItem("2026-01-01T00:00:00Z", "remedy", "RECEIVED", state.value, "why"),),
    )


def raw(dynamodb: Any, key: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=LEDGER_TABLE, Key={"pk": {"S": key}})["Item"]
    return item


def test_create_then_read_back(store: DynamoDBLedgerStore) -> None:
    new = entry(score=0.25)
    created, stored = store.create(new)
    assert created
    assert stored.version == 1 and stored.created_at and stored.updated_at
    read = store.get(new.key)
    assert read == stored
    assert read is not None and read.finding["score"] == 7.4
    assert read.attrs == {"score": 0.25}


def test_create_twice_keeps_the_first_and_returns_it(store: DynamoDBLedgerStore) -> None:
    first = entry()
    store.create(first)
    store.transition(first.key, [State.PENDING_APPROVAL], State.APPROVED, by="slack:U1")
    created, existing = store.create(_with_key(entry(), first.key))
    assert not created
    assert existing.state is State.APPROVED
    assert existing.decision == first.decision


def _with_key(e: Entry, key: str) -> Entry:
    return Entry(
        key=key,
        state=e.state,
        account=e.account,
        region=e.region,
        finding=e.finding,
        decision={"action": "notify", "rule": "other", "reason": "second"},
        created_at="",
        updated_at="",
        attrs=e.attrs,
        history=e.history,
    )


def test_create_refuses_a_first_state_received_cannot_reach(
    store: DynamoDBLedgerStore,
) -> None:
    bad = entry(State.QUARANTINED)
    with pytest.raises(IllegalTransition, match="RECEIVED -> QUARANTINED"):
        store.create(bad)
    assert store.get(bad.key) is None


def test_transition_appends_history_bumps_version_merges_attrs(
    store: DynamoDBLedgerStore,
) -> None:
    new = entry(slack_ts="1.0")
    store.create(new)
    moved = store.transition(
        new.key,
        [State.PENDING_APPROVAL],
        State.APPROVED,
        by="slack:U123",
        note="approved in #sec",
        attrs={"decided_by": {"id": "U123", "name": "Ada"}},
    )
    assert moved.state is State.APPROVED
    assert moved.version == 2
    assert moved.attrs == {"slack_ts": "1.0", "decided_by": {"id": "U123", "name": "Ada"}}
    last = moved.history[-1]
    assert (last.by, last.source, last.target, last.note) == (
        "slack:U123",
        "PENDING_APPROVAL",
        "APPROVED",
        "approved in #sec",
    )
    assert len(moved.history) == 2


def test_transition_from_the_wrong_state_is_a_conflict_and_writes_nothing(
    store: DynamoDBLedgerStore, dynamodb: Any
) -> None:
    new = entry()
    store.create(new)
    before = raw(dynamodb, new.key)
    with pytest.raises(Conflict) as caught:
        store.transition(new.key, [State.APPROVED], State.QUARANTINING, by="remedy")
    assert caught.value.actual is State.PENDING_APPROVAL
    assert "found PENDING_APPROVAL" in str(caught.value)
    assert raw(dynamodb, new.key) == before


def test_transition_of_a_missing_entry_is_a_conflict(store: DynamoDBLedgerStore) -> None:
    with pytest.raises(Conflict) as caught:
        store.transition("m-missing", [State.PENDING_APPROVAL], State.APPROVED, by="x")
    assert caught.value.actual is None
    assert store.get("m-missing") is None


def test_illegal_transition_is_refused_before_any_write(
    store: DynamoDBLedgerStore, dynamodb: Any
) -> None:
    new = entry()
    store.create(new)
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    try:
        with pytest.raises(IllegalTransition, match="PENDING_APPROVAL -> QUARANTINED"):
            store.transition(new.key, [State.PENDING_APPROVAL], State.QUARANTINED, by="x")
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.*")
    assert calls == []


def test_a_stale_version_loses(store: DynamoDBLedgerStore) -> None:
    new = entry(State.QUARANTINING)
    _, stored = store.create(new)
    store.transition(new.key, [State.QUARANTINING], State.QUARANTINING, by="taker")
    with pytest.raises(Conflict):
        store.transition(
            new.key,
            [State.QUARANTINING],
            State.QUARANTINED,
            by="stale worker",
            expected_version=stored.version,
        )
    current = store.get(new.key)
    assert current is not None and current.state is State.QUARANTINING


def test_terminal_states_get_a_ttl_and_others_do_not(
    store: DynamoDBLedgerStore, dynamodb: Any, clock: Clock
) -> None:
    new = entry()
    store.create(new)
    assert "expires_at" not in raw(dynamodb, new.key)
    store.transition(new.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U9")
    expires = int(raw(dynamodb, new.key)["expires_at"]["N"])
    assert expires == int(clock().timestamp()) + 30 * 86400
    ignored = entry(State.IGNORED)
    store.create(ignored)
    assert "expires_at" in raw(dynamodb, ignored.key)


def test_update_attrs_keeps_the_state_and_the_version(store: DynamoDBLedgerStore) -> None:
    new = entry(State.QUARANTINING)
    _, stored = store.create(new)
    updated = store.update_attrs(new.key, {"slack": {"channel": "C1", "ts": "123.456"}})
    assert updated.state is State.QUARANTINING
    assert updated.attrs["slack"] == {"channel": "C1", "ts": "123.456"}
    # A notifier's bookkeeping does not void the worker's claim on the entry.
    assert updated.version == stored.version
    done = store.transition(
        new.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remedy",
        expected_version=stored.version,
    )
    assert done.attrs["slack"] == {"channel": "C1", "ts": "123.456"}
    with pytest.raises(Conflict):
        store.update_attrs("m-nothing-here", {"a": 1})


def _awaiting(store: DynamoDBLedgerStore) -> Entry:
    new = entry(State.QUARANTINING)
    store.create(new)
    return store.transition(
        new.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remedy",
        attrs={"awaiting_approval": True},
    )


def test_annotate_claims_once_keeping_the_state_and_the_version(
    store: DynamoDBLedgerStore,
) -> None:
    held = _awaiting(store)
    claimed = store.annotate(
        held.key,
        State.QUARANTINED,
        ("awaiting_approval", True),
        {"awaiting_approval": False, "pending_decision": "approved"},
        by="slack:U1",
        note="approved in Slack",
    )
    assert claimed.state is State.QUARANTINED
    assert claimed.version == held.version
    assert claimed.attrs == {"awaiting_approval": False, "pending_decision": "approved"}
    assert claimed.history[-1] == HistoryItem(
        claimed.updated_at, "slack:U1", "QUARANTINED", "QUARANTINED", "approved in Slack"
    )
    with pytest.raises(Taken) as lost:
        store.annotate(
            held.key,
            State.QUARANTINED,
            ("awaiting_approval", True),
            {"pending_decision": "dismissed"},
            by="slack:U2",
            note="dismissed",
        )
    assert lost.value.actual is State.QUARANTINED
    assert store.get(held.key) == claimed


def test_annotate_of_an_entry_in_another_state_or_missing_is_a_conflict(
    store: DynamoDBLedgerStore,
) -> None:
    pending = entry(State.PENDING_APPROVAL, awaiting_approval=True)
    store.create(pending)
    with pytest.raises(Conflict) as other:
        store.annotate(
            pending.key, State.QUARANTINED, ("awaiting_approval", True), {"x": 1}, by="b", note=""
        )
    assert other.value.actual is State.PENDING_APPROVAL and not isinstance(other.value, Taken)
    assert store.get(pending.key) is not None
    assert store.get(pending.key).attrs == {"awaiting_approval": True}  # type: ignore[union-attr]
    with pytest.raises(Conflict) as missing:
        store.annotate(
            "m-nothing-here", State.QUARANTINED, ("awaiting_approval", True), {}, by="b", note=""
        )
    assert missing.value.actual is None


def test_concurrent_claims_have_one_winner(
    store: DynamoDBLedgerStore, atomic_requests: None
) -> None:
    held = _awaiting(store)
    barrier = threading.Barrier(8)
    won: list[str] = []
    lost: list[Taken] = []

    def claim(who: str) -> None:
        barrier.wait()
        try:
            store.annotate(
                held.key,
                State.QUARANTINED,
                ("awaiting_approval", True),
                {"awaiting_approval": False, "by": who},
                by=who,
                note="",
            )
            won.append(who)
        except Taken as taken:
            lost.append(taken)

    threads = [threading.Thread(target=claim, args=(f"u{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 7
    final = store.get(held.key)
    assert final is not None and final.attrs["by"] == won[0]
    assert len(final.history) == len(held.history) + 1


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each conditional write atomically; moto checks the condition and
    writes in two Python steps, so two threads can both pass the check. This gives moto
    that one guarantee (each request handled whole), and nothing else."""
    lock = threading.Lock()
    process = BotocoreStubber.process_request

    def atomic(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", atomic)


def _race(store: DynamoDBLedgerStore, key: str, clock: Clock) -> list[Entry | Conflict]:
    """Two approvers, each with its own client, send the same approval at once."""
    barrier = threading.Barrier(2)
    results: list[Entry | Conflict] = []

    def approve(who: str) -> None:
        racer = DynamoDBLedgerStore(LEDGER_TABLE, boto3.client("dynamodb"), clock=clock)
        barrier.wait()
        try:
            results.append(racer.transition(key, [State.PENDING_APPROVAL], State.APPROVED, by=who))
        except Conflict as conflict:
            results.append(conflict)

    threads = [threading.Thread(target=approve, args=(f"slack:U{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.usefixtures("atomic_requests")
def test_two_approvers_racing_give_one_winner(dynamodb: Any, clock: Clock) -> None:
    store = DynamoDBLedgerStore(LEDGER_TABLE, dynamodb, clock=clock)
    for _ in range(10):
        new = entry()
        store.create(new)
        results = _race(store, new.key, clock)
        winners = [r for r in results if isinstance(r, Entry)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 1
        assert losers[0].actual is State.APPROVED
        final = store.get(new.key)
        assert final is not None
        assert [h.target for h in final.history].count("APPROVED") == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=st.sampled_from(sorted(TRANSITIONS[State.RECEIVED])),
    moves=st.lists(
        st.tuples(st.sets(st.sampled_from(list(State)), min_size=1), st.sampled_from(list(State))),
        max_size=6,
    ),
)
def test_the_store_follows_the_state_machine(
    store: DynamoDBLedgerStore,
    first: State,
    moves: list[tuple[set[State], State]],
) -> None:
    new = entry(first)
    store.create(new)
    state = first
    for expected, target in moves:
        legal = all(target in TRANSITIONS[s] for s in expected)
        try:
            store.transition(new.key, expected, target, by="prop")
        except IllegalTransition:
            assert not legal
            continue
        except Conflict as conflict:
            assert legal and state not in expected
            assert conflict.actual is state
            continue
        assert legal and state in expected
        state = target
    final = store.get(new.key)
    assert final is not None and final.state is state
    assert final.history[-1].target == state.value
    assert ("expires_at" in raw(store.client, new.key)) == is_terminal(state)


def test_claim_attr_lets_one_of_many_claim_a_slot(store: DynamoDBLedgerStore) -> None:
    first = entry()
    store.create(first)
    won = store.claim_attr(first.key, "ticket", {"status": "opening"})
    assert won is not None
    assert won.attrs["ticket"] == {"status": "opening"}
    assert won.version == store.get(first.key).version  # type: ignore[union-attr]
    # A second claim of the empty slot loses; one expecting what is there wins.
    assert store.claim_attr(first.key, "ticket", {"status": "opening", "n": 2}) is None
    moved = store.claim_attr(
        first.key, "ticket", {"status": "open"}, expected={"status": "opening"}
    )
    assert moved is not None
    assert moved.attrs["ticket"] == {"status": "open"}
    assert store.claim_attr(first.key, "ticket", {"x": 1}, expected={"status": "opening"}) is None


def test_claim_attr_of_a_missing_entry_is_a_conflict_and_creates_nothing(
    store: DynamoDBLedgerStore, dynamodb: Any
) -> None:
    with pytest.raises(Conflict) as caught:
        store.claim_attr("m-missing", "ticket", {"status": "opening"})
    assert str(caught.value) == "ledger entry m-missing: expected state in [], found no entry"
    assert "Item" not in dynamodb.get_item(TableName=LEDGER_TABLE, Key={"pk": {"S": "m-missing"}})
