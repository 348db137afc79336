"""Jira tickets that follow a ledger entry: real boto3 (moto) ledger and Secrets Manager,
the real Jira backend over HTTP to the local Jira server, which checks what it is sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from urllib3.util import Timeout

from notify_support import atomic_dynamodb
from remedy.devtools.jira_server import adf_text
from remedy.ledger.base import Entry, State
from remedy.tickets import http
from remedy.tickets.lifecycle import OWED, SLOT, Tickets, token
from tickets_support import (
    OWNER,
    UNTARGETED,
    World,
    assert_gone,
    eight_workers_follow,
    jira_world,
)

__all__ = ["atomic_dynamodb"]

ISSUE = "POST /rest/api/3/issue"
UNAUTHENTICATED = "Client must be authenticated to access this resource."


@pytest.fixture
def world() -> Iterator[World]:
    with jira_world() as made:
        yield made


def test_an_approval_opens_one_issue_recorded_on_the_entry(world: World) -> None:
    entry = world.entry()
    after = world.tickets().follow(entry)

    issue = world.jira.issue("SEC-1")
    assert after.attrs[SLOT] == {
        "backend": "jira",
        "token": after.attrs[SLOT]["token"],
        "status": "open",
        "claimed_at": after.attrs[SLOT]["claimed_at"],
        "id": "SEC-1",
        "url": f"{world.jira.url}/browse/SEC-1",
        "told": 1,
    }
    assert world.store.get(entry.key) == after
    assert issue.fields["project"] == {"key": "SEC"}
    assert issue.fields["labels"] == ["remedy", after.attrs[SLOT]["token"]]
    assert issue.fields["priority"] == {"name": "High"}
    assert issue.fields["summary"] == (
        f"[remedy] Credentials in s3://payments-exports/cards.csv in {OWNER}"
    )
    assert f"remedy ledger entry {entry.key}: PENDING_APPROVAL" in adf_text(
        issue.fields["description"]
    )
    assert issue.status == "To Do"
    assert issue.comments == []


def test_every_change_is_a_comment_and_the_end_resolves_it(world: World) -> None:
    tickets = world.tickets()
    entry = tickets.follow(world.entry())
    entry = world.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="U0ALICE01 (alice)", note="ok"
    )
    tickets.follow(entry)
    entry = world.store.transition(entry.key, [State.APPROVED], State.QUARANTINING, by="remedy")
    entry = world.store.transition(
        entry.key,
        [State.QUARANTINING],
        State.QUARANTINED,
        by="remedy",
        note="moved to s3://remedy-quarantine-111111111111-eu-west-1/q/cards.csv",
    )
    final = tickets.follow(entry)

    issue = world.jira.issue("SEC-1")
    comments = issue.text_of_comments()
    assert [c.split(": ", 1)[1] for c in comments[:3]] == [
        "PENDING_APPROVAL -> APPROVED by U0ALICE01 (alice): ok",
        "APPROVED -> QUARANTINING by remedy",
        "QUARANTINING -> QUARANTINED by remedy: moved to "
        "s3://remedy-quarantine-111111111111-eu-west-1/q/cards.csv",
    ]
    assert comments[3] == "remedy: the entry ended QUARANTINED; resolved"
    assert issue.status == "Done"
    assert final.attrs[SLOT]["status"] == "resolved"
    assert final.attrs[SLOT]["told"] == len(final.history) == 4

    # Told again (a redelivery): nothing new on the ticket.
    tickets.follow(world.store.get(entry.key))  # type: ignore[arg-type]
    assert len(world.jira.issue("SEC-1").comments) == 4
    # Released later: told on the resolved ticket.
    released = world.store.transition(
        entry.key, [State.QUARANTINED], State.RELEASED, by="U0BOB0001 (bob)", note="false positive"
    )
    tickets.follow(released)
    assert (
        world.jira.issue("SEC-1")
        .text_of_comments()[-1]
        .endswith("QUARANTINED -> RELEASED by U0BOB0001 (bob): false positive")
    )


def test_redelivery_opens_no_second_issue(world: World) -> None:
    entry = world.entry()
    first = world.tickets().follow(entry)
    second = world.tickets().follow(entry)  # the stale copy a redelivery holds
    assert world.issue_posts() == 1
    assert second.attrs[SLOT] == first.attrs[SLOT]
    assert list(world.jira.issues) == ["SEC-1"]


@pytest.mark.usefixtures("atomic_dynamodb")
def test_eight_concurrent_workers_open_exactly_one_issue(world: World) -> None:
    entry = world.entry()
    eight_workers_follow(world, entry)
    assert world.issue_posts() == 1
    assert list(world.jira.issues) == ["SEC-1"]
    assert world.store.get(entry.key).attrs[SLOT]["id"] == "SEC-1"  # type: ignore[union-attr]


def test_an_answer_lost_after_create_is_repaired_by_finding_the_issue(world: World) -> None:
    tickets = world.tickets()
    entry = world.entry()
    world.jira.fail(ISSUE, 0)  # Jira creates the issue, the connection drops before the answer

    owed = tickets.follow(entry)
    assert owed.state is State.PENDING_APPROVAL
    assert owed.attrs[OWED] == "Jira POST /rest/api/3/issue: ProtocolError"
    assert owed.attrs[SLOT]["status"] == "owed"
    assert tickets.owed() == 1
    assert list(world.jira.issues) == ["SEC-1"]

    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    after = world.store.get(entry.key)
    assert after is not None
    assert after.attrs[SLOT]["id"] == "SEC-1"
    assert after.attrs[OWED] is None
    assert world.issue_posts() == 2 - 1  # the lost one only: the repair found it
    assert list(world.jira.issues) == ["SEC-1"]
    assert tickets.owed() == 0


def test_a_worker_dead_between_create_and_record_is_repaired_after_the_lease(
    world: World,
) -> None:
    tickets = world.tickets()
    entry = world.entry()
    # The worker claims the slot and makes the issue, then its process dies.
    slot = {"backend": "jira", "token": token(), "status": "opening"}
    slot["claimed_at"] = entry.updated_at
    assert world.store.claim_attr(entry.key, SLOT, slot) is not None
    tickets.backends["jira"].create(tickets._draft(entry, slot))

    # Within the lease the claim holds: nobody opens a second issue.
    held = tickets.follow(world.store.get(entry.key))  # type: ignore[arg-type]
    assert held.attrs[SLOT]["status"] == "opening"
    world.clock.advance(minutes=6)
    repaired = tickets.follow(world.store.get(entry.key))  # type: ignore[arg-type]

    assert repaired.attrs[SLOT]["id"] == "SEC-1"
    assert world.issue_posts() == 1
    assert list(world.jira.issues) == ["SEC-1"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, "Jira POST /rest/api/3/issue: HTTP 500 injected 500"),
        ({"status": 429, "retry_after": 60}, "the ticket system asked to wait 60s (HTTP 429)"),
    ],
)
def test_a_failing_jira_owes_the_ticket_and_blocks_nothing(
    world: World, fault: dict[str, int], error: str
) -> None:
    tickets = world.tickets()
    entry = world.entry()
    world.jira.fail(ISSUE, **fault)

    owed = tickets.follow(entry)
    assert owed.state is State.PENDING_APPROVAL
    assert owed.version == entry.version
    assert owed.attrs[OWED].startswith(error)
    assert world.jira.issues == {}
    # The remediation goes on while the ticket is owed.
    approved = world.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="U0ALICE01 (alice)"
    )
    assert approved.state is State.APPROVED
    # Jira in an outage is not called again for a minute: the next ticket is owed at once.
    calls = len(world.jira.requests)
    other = tickets.follow(world.entry())
    assert other.attrs[OWED] == f"{owed.attrs[OWED]} (not tried again yet)"
    assert len(world.jira.requests) == calls

    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 2
    label = world.store.get(entry.key).attrs[SLOT]["token"]  # type: ignore[union-attr]
    issue = next(i for i in world.jira.issues.values() if label in i.fields["labels"])
    assert world.store.get(entry.key).attrs[SLOT]["told"] == 2  # type: ignore[union-attr]
    assert issue.comments == []  # the approval is in the description of the late ticket
    assert "by U0ALICE01 (alice)" in adf_text(issue.fields["description"])


def test_a_short_429_is_retried_in_line(world: World) -> None:
    world.jira.fail(ISSUE, 429, retry_after=1)
    after = world.tickets().follow(world.entry())
    assert after.attrs[SLOT]["id"] == "SEC-1"
    assert world.issue_posts() == 2


def test_a_slow_jira_times_out_and_is_owed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "TIMEOUT", Timeout(connect=1.0, read=0.3))
    world.jira.fail(ISSUE, 0, delay=1.0)
    owed = world.tickets().follow(world.entry())
    assert owed.attrs[OWED] == "Jira POST /rest/api/3/issue: ReadTimeoutError"


def test_a_slow_answer_pauses_jira_so_the_next_findings_do_not_wait(world: World) -> None:
    tickets = world.tickets(slow=0.05)
    world.jira.fail(ISSUE, 0, delay=0.2)
    first, second = world.entry(), world.entry()
    assert tickets.follow(first).attrs[SLOT]["id"] == "SEC-1"
    owed = tickets.follow(second)
    assert owed.attrs[OWED].startswith("jira answered in 0.")
    assert owed.attrs[OWED].endswith("s, over 0.05s (not tried again yet)")
    assert world.issue_posts() == 1  # the second finding made no call
    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    assert list(world.jira.issues) == ["SEC-1", "SEC-2"]


def test_jira_down_is_owed_then_sent_when_it_is_back(world: World) -> None:
    tickets = world.tickets()
    entry = world.entry()
    world.jira.stop()
    owed = tickets.follow(entry)
    assert owed.attrs[OWED] == "Jira POST /rest/api/3/issue: NewConnectionError"
    world.jira.start()
    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    assert list(world.jira.issues) == ["SEC-1"]


def test_a_wrong_project_is_owed_with_jiras_exact_error(world: World) -> None:
    tickets = world.tickets(
        accounts={
            "accounts": {
                OWNER: {
                    "name": "p",
                    "environment": "prod",
                    "tickets": {"jira": {"project": "NOPE"}},
                }
            }
        }
    )
    entry = world.entry()
    owed = tickets.follow(entry)
    assert owed.attrs[OWED] == (
        "Jira POST /rest/api/3/issue: HTTP 400 project: valid project is required"
    )
    assert world.jira.issues == {}
    assert owed.state is State.PENDING_APPROVAL


def test_a_bad_token_is_owed_and_never_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.aws["secretsmanager"].put_secret_value(
        SecretId=world.secret_arn,
        SecretString='{"email": "remedy@example.com", "api_token": "wrong-token-value"}',
    )
    with caplog.at_level(logging.DEBUG, logger="remedy"):
        owed = world.tickets().follow(world.entry())
    assert owed.attrs[OWED] == (
        "Jira POST /rest/api/3/issue: HTTP 401 "
        "Client must be authenticated to access this resource."
    )
    assert "wrong-token-value" not in caplog.text
    assert "wrong-token-value" not in repr(owed)
    assert world.jira.issues == {}


def test_a_rotated_token_is_read_again_after_jira_refused_the_old_one(world: World) -> None:
    secrets = world.aws["secretsmanager"]
    secrets.put_secret_value(
        SecretId=world.secret_arn,
        SecretString='{"email": "remedy@example.com", "api_token": "revoked"}',
    )
    tickets = world.tickets()
    entry = world.entry()
    assert tickets.follow(entry).attrs[OWED].endswith("HTTP 401 " + UNAUTHENTICATED)
    secrets.put_secret_value(
        SecretId=world.secret_arn,
        SecretString=f'{{"email": "{world.jira.email}", "api_token": "{world.jira.api_token}"}}',
    )
    world.clock.advance(minutes=1)  # the first try again is due a minute later
    assert tickets.retry_owed() == 1
    assert list(world.jira.issues) == ["SEC-1"]


def test_an_account_without_a_project_is_owed_saying_where_to_add_it(world: World) -> None:
    owed = world.tickets().follow(world.entry(account=UNTARGETED))
    assert owed.attrs[OWED] == (
        f"accounts.yaml names no tickets.jira.project for account {UNTARGETED}: add it to "
        "the account, its unit or default"
    )
    assert world.jira.requests == []


def test_a_site_that_is_not_atlassian_is_refused_before_any_call(world: World) -> None:
    owed = world.tickets(jira_site="https://jira.evil.example.com").follow(world.entry())
    assert owed.attrs[OWED] == (
        "Jira site 'https://jira.evil.example.com' is not https://<name>.atlassian.net: set it "
        "to your site's address, nothing after the host"
    )
    assert world.jira.requests == []


def test_the_rules_limits_decide_whether_a_ticket_is_opened(world: World) -> None:
    tickets: Tickets = world.tickets()
    low = world.entry(severity="MEDIUM", ticket={"backend": "jira", "min_severity": "HIGH"})
    quiet = world.entry(
        State.QUARANTINING, ticket={"backend": "jira", "only_when_a_person_must_act": True}
    )
    none = world.entry(ticket=None)
    for entry in (low, quiet, none):
        assert SLOT not in tickets.follow(entry).attrs
    assert world.jira.requests == []

    failed = world.store.transition(quiet.key, [State.QUARANTINING], State.FAILED, by="remedy")
    assert tickets.follow(failed).attrs[SLOT]["id"] == "SEC-1"


def test_a_recurrence_links_to_the_previous_ticket(world: World) -> None:
    tickets = world.tickets()
    first = tickets.follow(world.entry())
    second = tickets.follow(world.entry(previous_occurrence=first.key))
    assert second.attrs[SLOT]["id"] == "SEC-2"
    assert world.jira.issue("SEC-2").links == ["SEC-1"]


REOPEN = {"backend": "jira", "on_recurrence": "reopen"}


def resolved_first(world: World, tickets: Tickets) -> Entry:
    """An occurrence whose ticket SEC-1 was resolved (Done) when its entry was dismissed."""
    first = tickets.follow(world.entry(ticket=REOPEN))
    dismissed = world.store.transition(
        first.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    done = tickets.follow(dismissed)
    assert world.jira.issue("SEC-1").status == "Done"
    return done


def reopening_text(entry: Entry) -> str:
    return (
        f"remedy: reopened: a new occurrence at {entry.created_at}\n"
        f"remedy ledger entry {entry.key}: PENDING_APPROVAL\n"
        "HIGH Macie SensitiveData:S3Object/Credentials\n"
        "decision: why\n"
        "2026-01-01T00:00:00Z: RECEIVED -> PENDING_APPROVAL by remedy: why"
    )


def test_a_recurrence_reopens_the_previous_ticket_when_the_rule_says_so(world: World) -> None:
    tickets = world.tickets()
    first = resolved_first(world, tickets)
    comments_before = world.jira.issue("SEC-1").text_of_comments()

    second = tickets.follow(world.entry(ticket=REOPEN, previous_occurrence=first.key))

    issue = world.jira.issue("SEC-1")
    assert list(world.jira.issues) == ["SEC-1"]
    assert world.issue_posts() == 1
    assert issue.status == "To Do"
    assert issue.text_of_comments() == [*comments_before, reopening_text(second)]
    assert second.attrs[SLOT] == {
        "backend": "jira",
        "token": second.attrs[SLOT]["token"],
        "status": "open",
        "claimed_at": second.attrs[SLOT]["claimed_at"],
        "reopen": {"id": "SEC-1", "url": f"{world.jira.url}/browse/SEC-1", "ref": ""},
        "id": "SEC-1",
        "url": f"{world.jira.url}/browse/SEC-1",
        "told": 1,
    }
    # The first transition Jira offers out of Done: To Do (id 11).
    taken = [
        r.body
        for r in world.jira.requests
        if (r.method, r.path) == ("POST", "/rest/api/3/issue/SEC-1/transitions")
    ]
    assert taken == [{"transition": {"id": "31"}}, {"transition": {"id": "11"}}]

    # The new occurrence's steps go to the same ticket, and its end resolves it again.
    ended = world.store.transition(
        second.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    final = tickets.follow(ended)
    assert final.attrs[SLOT]["status"] == "resolved"
    assert issue.status == "Done"
    assert issue.text_of_comments()[-2:] == [
        f"{ended.history[-1].at}: PENDING_APPROVAL -> DISMISSED by slack:U0PAYLEAD1",
        "remedy: the entry ended DISMISSED; resolved",
    ]


def test_a_reopen_of_a_ticket_still_open_only_comments(world: World) -> None:
    tickets = world.tickets()
    first = tickets.follow(world.entry(ticket=REOPEN))
    second = tickets.follow(world.entry(ticket=REOPEN, previous_occurrence=first.key))

    issue = world.jira.issue("SEC-1")
    assert second.attrs[SLOT]["id"] == "SEC-1"
    assert issue.status == "To Do"
    assert issue.text_of_comments() == [reopening_text(second)]
    assert not [r for r in world.jira.requests if r.method == "POST" and "transitions" in r.path]


@pytest.mark.usefixtures("atomic_dynamodb")
def test_eight_concurrent_workers_reopen_the_ticket_exactly_once(world: World) -> None:
    first = resolved_first(world, world.tickets())
    second = world.entry(ticket=REOPEN, previous_occurrence=first.key)
    before = len(world.jira.issue("SEC-1").comments)
    eight_workers_follow(world, second)
    issue = world.jira.issue("SEC-1")
    assert issue.text_of_comments()[before:] == [reopening_text(second)]
    reopens = [
        r
        for r in world.jira.requests
        if r.method == "POST" and r.body == {"transition": {"id": "11"}}
    ]
    assert len(reopens) == 1
    assert list(world.jira.issues) == ["SEC-1"]
    assert world.store.get(second.key).attrs[SLOT]["id"] == "SEC-1"  # type: ignore[union-attr]


def test_a_failed_reopen_is_owed_and_retried_on_the_same_ticket(world: World) -> None:
    tickets = world.tickets()
    first = resolved_first(world, tickets)
    world.jira.fail("GET /rest/api/3/issue/SEC-1?", 500)
    second = tickets.follow(world.entry(ticket=REOPEN, previous_occurrence=first.key))

    assert second.attrs[SLOT]["status"] == "owed"
    assert second.attrs[OWED] == (
        "Jira GET /rest/api/3/issue/SEC-1?fields=status: HTTP 500 injected 500"
    )
    assert world.jira.issue("SEC-1").status == "Done"
    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    issue = world.jira.issue("SEC-1")
    assert issue.status == "To Do"
    assert issue.text_of_comments()[-1] == reopening_text(second)
    assert list(world.jira.issues) == ["SEC-1"]


def test_a_deleted_ticket_is_not_reopened_a_new_one_is_opened_unlinked(world: World) -> None:
    tickets = world.tickets()
    first = resolved_first(world, tickets)
    del world.jira.issues["SEC-1"]  # deleted by a Jira admin

    second = tickets.follow(world.entry(ticket=REOPEN, previous_occurrence=first.key))

    assert OWED not in second.attrs
    slot = second.attrs[SLOT]
    assert (slot["id"], slot["status"], "reopen" in slot) == ("SEC-2", "open", False)
    assert slot["reopen_refused"] == (
        "Jira GET /rest/api/3/issue/SEC-1?fields=status: HTTP 404 "
        "Issue does not exist or you do not have permission to see it."
    )
    assert list(world.jira.issues) == ["SEC-2"]
    # No link to an issue that is gone: Jira would refuse it and leave the ticket owed.
    assert not [r for r in world.jira.requests if r.path == "/rest/api/3/issueLink"]


def test_a_ticket_deleted_while_followed_is_no_longer_told(world: World) -> None:
    tickets = world.tickets()
    entry = tickets.follow(world.entry())
    del world.jira.issues["SEC-1"]

    stopped = world.dismiss(tickets, entry)

    assert_gone(
        stopped,
        "Jira POST /rest/api/3/issue/SEC-1/comment: HTTP 404 "
        "Issue does not exist or you do not have permission to see it.",
    )
    assert tickets.owed() == 0
    requests = len(world.jira.requests)
    world.clock.advance(hours=2)
    assert tickets.retry_owed() == 0
    assert tickets.follow(stopped) == stopped
    assert len(world.jira.requests) == requests


def test_a_ticket_reopened_while_open_is_resolved_by_the_newest_occurrence_only(
    world: World,
) -> None:
    tickets = world.tickets()
    first = tickets.follow(world.entry(ticket=REOPEN))
    second = tickets.follow(world.entry(ticket=REOPEN, previous_occurrence=first.key))
    passed = world.store.get(first.key)
    assert passed is not None
    assert passed.attrs[SLOT]["status"] == "passed"
    assert passed.attrs[SLOT]["to"] == second.key

    # The first occurrence ends: told on the ticket, which stays open for the second.
    dismissed = world.store.transition(
        first.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    tickets.follow(dismissed)
    issue = world.jira.issue("SEC-1")
    assert issue.text_of_comments()[-1] == (
        f"{dismissed.history[-1].at}: PENDING_APPROVAL -> DISMISSED by slack:U0PAYLEAD1"
    )
    assert issue.status == "To Do"

    ended = world.store.transition(
        second.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    assert tickets.follow(ended).attrs[SLOT]["status"] == "resolved"
    assert issue.status == "Done"
