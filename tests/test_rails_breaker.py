"""The circuit breaker on moto: counted by one conditional write, shared by concurrent
invocations, opened once, closed by a person or by its cool-down."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify_support import Ledger, atomic_dynamodb, aws, ledger
from remedy.policy.rails import BreakerLimits
from remedy.rails.breaker import Breaker, NotOpen

__all__ = ["atomic_dynamodb", "aws", "ledger"]

A, B = "111111111111", "222222222222"
RULE = "quarantine-credentials"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def breaker(ledger: Ledger, clock: Clock, **limits: object) -> Breaker:
    settings: dict[str, object] = {"per_rule": 3, "per_account": 5, "overall": 8, **limits}
    return Breaker(ledger.client, ledger.table, BreakerLimits(**settings), clock=clock)  # type: ignore[arg-type]


def test_eight_threads_never_admit_more_than_the_limit(
    ledger: Ledger, atomic_dynamodb: None
) -> None:
    clock = Clock()
    limit = 5
    verdicts: list[tuple[str, object]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def invocation(n: int) -> None:
        mine = breaker(ledger, clock, per_rule=limit, per_account=100, overall=100)
        start.wait()
        for i in range(4):
            verdict = mine.admit(RULE, A, f"key-{n}-{i}")
            with lock:
                verdicts.append((f"key-{n}-{i}", verdict))

    threads = [threading.Thread(target=invocation, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    admitted = [k for k, v in verdicts if v.refused is None]  # type: ignore[attr-defined]
    opened = [v for _, v in verdicts if v.opened is not None]  # type: ignore[attr-defined]
    assert len(verdicts) == 32
    assert len(admitted) == limit
    assert len(opened) == 1
    status = breaker(ledger, clock).status()
    assert status.counts[f"rule:{RULE}:{A}"] == limit
    assert [o.scope for o in status.opened] == [f"rule:{RULE}:{A}"]


def test_the_reason_says_how_many_where_and_how_to_close_it(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock)
    assert [b.admit(RULE, A, f"k{i}").refused for i in range(3)] == [None, None, None]

    verdict = b.admit(RULE, A, "k3")

    assert verdict.refused == (
        f"the breaker is open: 3 automatic remediations in the last hour by rule {RULE} in "
        f"{A} (limit 3); it stays open until a person closes it "
        f"(remedy breaker close {RULE} --reason ...)"
    )
    assert verdict.opened is not None
    # Further findings are held with the same reason; the breaker is not opened again.
    again = b.admit(RULE, A, "k4")
    assert again.refused == verdict.refused and again.opened is None


def test_a_redelivered_key_is_admitted_without_counting_twice(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock)
    for _ in range(5):
        assert b.admit(RULE, A, "same-key").refused is None
    assert b.status().counts == {f"rule:{RULE}:{A}": 1, f"account:{A}": 1, "all": 1}


def test_account_and_overall_limits_count_across_rules_and_accounts(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock)
    rules = ["r1", "r2", "r3"]
    admitted = [b.admit(rules[i % 3], A, f"a{i}").refused is None for i in range(6)]
    assert admitted == [True] * 5 + [False]
    assert [o.scope for o in b.status().opened] == [f"account:{A}"]
    # B still has room, until the overall limit of 8 (5 counted in A).
    assert [b.admit(f"r{i}", B, f"b{i}").refused is None for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert sorted(o.scope for o in b.status().opened) == ["account:" + A, "all"]


def test_a_person_closes_it_and_the_limit_counts_again(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock, per_account=100, overall=100)
    for i in range(4):
        b.admit(RULE, A, f"k{i}")
    assert b.admit(RULE, A, "k5").refused is not None

    closed = b.close(RULE, by="alice", reason="expected bulk upload")

    assert closed == [f"rule:{RULE}:{A}"]
    status = b.status()
    assert status.opened == ()
    assert status.closed[f"rule:{RULE}:{A}"] == {
        "at": "1800000000.000",
        "by": "alice",
        "reason": "expected bulk upload",
    }
    # A full limit again in the same window, then it trips again.
    assert [b.admit(RULE, A, f"after{i}").refused is None for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_closing_an_account_closes_its_rules_there(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock, per_rule=1)
    b.admit(RULE, A, "x")
    b.admit(RULE, A, "y")
    b.admit(RULE, B, "z")
    b.admit(RULE, B, "w")
    assert b.close(A, by="bob", reason="checked") == [f"rule:{RULE}:{A}"]
    assert [o.scope for o in b.status().opened] == [f"rule:{RULE}:{B}"]


def test_closing_what_is_not_open_names_what_is(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock, per_rule=1)
    b.admit(RULE, A, "x")
    b.admit(RULE, A, "y")
    with pytest.raises(NotOpen) as error:
        b.close("other-rule", by="bob", reason="x")
    assert str(error.value) == (
        f"no open breaker matches 'other-rule' (open: rule:{RULE}:{A}); name a rule id, a "
        "12-digit account id or 'all' (remedy breaker status lists them)"
    )
    # Nothing was closed.
    assert [o.scope for o in b.status().opened] == [f"rule:{RULE}:{A}"]


def test_the_cooldown_closes_it_by_itself(ledger: Ledger) -> None:
    clock = Clock()
    b = breaker(ledger, clock, per_account=100, overall=100, cooldown=timedelta(minutes=30))
    for i in range(3):
        b.admit(RULE, A, f"k{i}")
    held = b.admit(RULE, A, "k3")
    assert held.refused is not None and "closes by itself after 30 minutes" in held.refused

    clock.now += 29 * 60
    assert b.admit(RULE, A, "k4").refused == held.refused
    clock.now += 2 * 60  # 31 minutes after it opened: same hour window, cool-down over

    assert b.status().opened == ()
    assert [b.admit(RULE, A, f"late{i}").refused is None for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_counts_leave_the_span_between_one_window_and_a_sixth_more_later(
    ledger: Ledger,
) -> None:
    start = 1_800_000_000.0 - 1_800_000_000.0 % 3600
    clock = Clock(now=start)
    b = breaker(ledger, clock, per_account=100, overall=100)
    for i in range(3):
        assert b.admit(RULE, A, f"k{i}").refused is None
    scope = f"rule:{RULE}:{A}"
    # Counted for at least the window (60 minutes) and at most a sub-window more (70).
    for later in (3599, 3600, 4199):
        clock.now = start + later
        assert b.status().counts[scope] == 3
    clock.now = start + 4200
    assert scope not in b.status().counts
    assert [b.admit(RULE, A, f"n{i}").refused is None for i in range(4)] == [True] * 3 + [False]


def test_what_one_process_remembers_never_lets_it_pass_another_s_decision(
    ledger: Ledger,
) -> None:
    clock = Clock()
    first, second = (
        breaker(ledger, clock, per_account=100, overall=100),
        breaker(ledger, clock, per_account=100, overall=100),
    )
    calls: list[str] = []
    ledger.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    assert first.admit(RULE, A, "a").refused is None  # reads the breaker item once
    calls.clear()
    assert first.admit(RULE, A, "b").refused is None
    assert calls == ["UpdateItem"]  # then one write per admission
    # The second process trips it; the first still remembers it closed, and is refused.
    assert second.admit(RULE, A, "c").refused is None
    assert second.admit(RULE, A, "d").opened is not None
    assert first.admit(RULE, A, "e").refused is not None
    # A person closes it through the second; the first remembers it open, reads it again.
    second.close(RULE, by="alice", reason="ok")
    assert first.admit(RULE, A, "f").refused is None


HOUR = 3600.0
EDGE = 1_800_000_000.0 - 1_800_000_000.0 % HOUR + HOUR  # a clock-aligned window's edge


def test_a_burst_across_a_window_edge_never_passes_the_limit_in_one_window_length(
    ledger: Ledger,
) -> None:
    clock = Clock()
    b = breaker(ledger, clock, per_rule=20, per_account=1000, overall=1000)
    # 20 findings in the last 20 s of one window (none refused: the limit is reached, not
    # passed), then 20 more in the first 20 s of the next.
    moments = [EDGE - 20 + i for i in range(20)] + [EDGE + i for i in range(20)]
    admitted = []
    for i, moment in enumerate(moments):
        clock.now = moment
        if b.admit(RULE, A, f"k{i}").refused is None:
            admitted.append(moment)

    assert admitted == moments[:20]
    assert [o.scope for o in b.status().opened] == [f"rule:{RULE}:{A}"]


_examples = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(gaps=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=30))
def test_no_span_of_one_window_holds_more_than_the_limit_and_it_opens_at_most_a_sixth_early(
    ledger: Ledger, gaps: list[int]
) -> None:
    # Each example its own rule and day, in the one table the fixture made.
    n = next(_examples)
    clock = Clock(now=1_800_000_000.0 + n * 86_400.0)
    rule, limit = f"rule-{n}", 4
    b = breaker(ledger, clock, per_rule=limit, per_account=10**9, overall=10**9)
    admitted: list[float] = []
    for i, gap in enumerate(gaps):
        clock.now += gap
        verdict = b.admit(rule, A, f"{n}-{i}")
        if verdict.refused is None:
            admitted.append(clock.now)
        elif verdict.opened is not None:
            # It opened only with the limit reached within one window and one sub-window.
            assert sum(clock.now - 4200 <= t for t in admitted) >= limit
        else:
            assert verdict.scope == f"rule:{rule}:{A}"

    for t in admitted:  # any closed span [t, t + window]: its first admission starts it
        assert sum(t <= u <= t + HOUR for u in admitted) <= limit


def test_an_open_breaker_holds_after_its_counts_leave_the_span_even_for_a_stale_process(
    ledger: Ledger,
) -> None:
    clock = Clock()
    stale, other = (
        breaker(ledger, clock, per_account=100, overall=100),
        breaker(ledger, clock, per_account=100, overall=100),
    )
    assert stale.admit(RULE, A, "a").refused is None  # remembers the breaker closed
    assert [other.admit(RULE, A, k).refused is None for k in "bcd"] == [True, True, False]
    clock.now += 2 * HOUR  # nothing counted in the span any more; a person has not looked

    held = stale.admit(RULE, A, "e")

    assert held.refused is not None and held.opened is None
    assert held.refused.startswith("the breaker is open: 3 automatic remediations")
    assert [o.scope for o in stale.status().opened] == [f"rule:{RULE}:{A}"]


def test_a_closing_forgives_what_was_counted_before_it_not_what_comes_after(
    ledger: Ledger,
) -> None:
    clock = Clock(now=EDGE - 100)
    b = breaker(ledger, clock, per_account=100, overall=100)
    assert [b.admit(RULE, A, f"k{i}").refused is None for i in range(4)] == [True] * 3 + [False]
    b.close(RULE, by="alice", reason="checked")
    # Two more in this sub-window, one in the next: the limit, counted from the closing.
    assert [b.admit(RULE, A, f"m{i}").refused is None for i in range(2)] == [True, True]
    clock.now = EDGE + 100
    assert b.admit(RULE, A, "n0").refused is None
    assert b.status().counts[f"rule:{RULE}:{A}"] == 3
    assert b.admit(RULE, A, "n1").refused is not None


def test_a_process_whose_clock_is_behind_counts_in_the_newest_sub_window(
    ledger: Ledger,
) -> None:
    ahead, behind = Clock(now=EDGE + 1), Clock(now=EDGE - 1)
    first = breaker(ledger, ahead, per_account=100, overall=100)
    late = breaker(ledger, behind, per_account=100, overall=100)
    assert [first.admit(RULE, A, k).refused is None for k in "ab"] == [True, True]
    calls: list[str] = []
    ledger.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    # Its write for the sub-window before fails, and it counts in the newest instead.
    assert late.admit(RULE, A, "c").refused is None
    assert calls == ["UpdateItem", "UpdateItem"]
    assert first.status().counts[f"rule:{RULE}:{A}"] == 3
    assert late.admit(RULE, A, "d").opened is not None


def test_the_breaker_item_keeps_only_the_span_whoever_counted_before(ledger: Ledger) -> None:
    clock = Clock()
    first, second = breaker(ledger, clock), breaker(ledger, clock)
    assert first.admit(RULE, A, "a").refused is None
    assert second.admit("other-rule", B, "b").refused is None  # first never learns of it
    clock.now += 2 * HOUR

    assert first.admit(RULE, A, "c").refused is None

    item = ledger.client.get_item(
        TableName=ledger.table, Key={"pk": {"S": "breaker#state"}}, ConsistentRead=True
    )["Item"]
    now = int(clock.now * 6 // HOUR)
    assert sorted(n for n in item if n.startswith(("n#", "k#"))) == [
        f"k#{now}",
        f"n#{now}#account:{A}",
        f"n#{now}#all",
        f"n#{now}#rule:{RULE}:{A}",
    ]


def test_eight_threads_across_a_sub_window_edge_admit_the_limit_and_open_it_once(
    ledger: Ledger, atomic_dynamodb: None
) -> None:
    limit = 12
    verdicts: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def invocation(n: int) -> None:
        clock = Clock(now=EDGE - 2)
        mine = breaker(ledger, clock, per_rule=limit, per_account=100, overall=100)
        start.wait()
        for i in range(4):  # half the threads' clocks a second behind the others
            clock.now = EDGE - 2 + i + (n % 2)
            verdict = mine.admit(RULE, A, f"key-{n}-{i}")
            with lock:
                verdicts.append(verdict)

    threads = [threading.Thread(target=invocation, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refused = [v.refused for v in verdicts if v.refused is not None]  # type: ignore[attr-defined]
    opened = [v for v in verdicts if v.opened is not None]  # type: ignore[attr-defined]
    assert len(verdicts) - len(refused) == limit
    assert len(opened) == 1
    assert set(refused) == {opened[0].opened.reason}  # type: ignore[attr-defined]
