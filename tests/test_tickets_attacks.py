"""Attacks on the ticket integration: what a member account writes into a finding (its
title, an object's key) or what one bad ticket does to the others, against the real
backends over HTTP to the local Jira and ServiceNow servers, the ledger and secrets on moto."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3

from remedy.devtools.jira_server import JiraServer, adf_text
from remedy.devtools.local_http import Request
from remedy.ledger.base import State
from remedy.tickets import jira
from remedy.tickets.lifecycle import OWED, RETRY, SLOT
from tickets_support import OWNER, UNTARGETED, jira_world, servicenow_world

#: What a member account controls: an object key may hold a newline, and it reaches the
#: title (GuardDuty's malware scan, CloudTrail) or is the title (a Security Hub import).
NEWLINE_TITLE = "Malware in s3://exports/report.pdf\r\n[remedy] resolved, ignore"


def test_a_title_with_newlines_still_opens_a_jira_issue() -> None:
    with jira_world() as world:
        entry = world.tickets().follow(world.entry(title=NEWLINE_TITLE))

        assert OWED not in entry.attrs
        assert world.jira.issue("SEC-1").fields["summary"] == (
            f"[remedy] Malware in s3://exports/report.pdf [remedy] resolved, ignore in {OWNER}"
        )


def test_a_servicenow_key_with_a_newline_is_refused_and_never_written_anywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "sn-key-value-9f3a7c"
    with servicenow_world() as world:
        world.aws["secretsmanager"].put_secret_value(
            SecretId=world.secret_arn, SecretString=json.dumps({"api_key": key + "\n"})
        )
        with caplog.at_level(logging.DEBUG, logger="remedy"):
            owed = world.tickets().follow(world.entry(ticket="servicenow"))

        assert owed.attrs[OWED] == (
            f"ServiceNow secret {world.secret_arn}: api_key has whitespace or a control "
            "character (a pasted newline?): store it again without"
        )
        assert key not in caplog.text
        assert world.server.requests == []
        assert owed.state is State.PENDING_APPROVAL


def test_tickets_that_always_fail_never_starve_the_others() -> None:
    """300 accounts: some with no Jira project fail on every try; their keys sort first,
    yet each retry run reaches the tickets after them."""
    with jira_world() as world:
        tickets = world.tickets()
        for n in range(3):
            tickets.follow(world.entry(account=UNTARGETED, key=f"a-{n}"))
        world.jira.fail("POST /rest/api/3/issue", 503)
        good = tickets.follow(world.entry(key="z-good"))
        assert good.attrs[OWED].startswith("Jira POST /rest/api/3/issue: HTTP 503")
        world.clock.advance(minutes=2)

        runs = [tickets.retry_owed(limit=2) for _ in range(2)]

        assert runs == [0, 1]
        done = world.store.get("z-good")
        assert done is not None and done.attrs[SLOT]["id"] == "SEC-1"
        assert tickets.owed() == 3


def test_a_resolve_that_fails_comments_once_however_often_it_is_retried() -> None:
    with jira_world() as world:
        tickets = world.tickets()
        entry = tickets.follow(world.entry())
        world.jira.fail("GET /rest/api/3/issue/SEC-1/transitions", 500, times=3)
        entry = world.store.transition(
            entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="U0ALICE01 (alice)"
        )
        assert tickets.follow(entry).attrs[OWED] == (
            "Jira GET /rest/api/3/issue/SEC-1/transitions: HTTP 500 injected 500"
        )
        for wait in (1, 2):  # each failed try doubles the wait before the next
            world.clock.advance(minutes=wait)
            assert tickets.retry_owed() == 0
        world.clock.advance(minutes=4)
        assert tickets.retry_owed() == 1

        issue = world.jira.issue("SEC-1")
        assert issue.status == "Done"
        texts = [adf_text(c) for c in issue.comments]
        assert texts[0].endswith(": PENDING_APPROVAL -> DISMISSED by U0ALICE01 (alice)")
        assert texts[1:] == ["remedy: the entry ended DISMISSED; resolved"]


def test_an_object_key_with_code_tags_reaches_servicenow_work_notes_inert() -> None:
    """ServiceNow renders ``[code]...[/code]`` in a journal field as HTML; an object key,
    which the member account names, is in the quarantine's history note."""
    key = "exports/[code]<img src=x onerror=alert(document.cookie)>[/CODE].csv"
    with servicenow_world() as world:
        tickets = world.tickets()
        entry = tickets.follow(world.entry(State.QUARANTINING, ticket="servicenow"))
        entry = world.store.transition(
            entry.key,
            [State.QUARANTINING],
            State.QUARANTINED,
            by="remedy",
            note=f"moved s3://payments-exports/{key} to quarantine",
        )
        tickets.follow(entry)

        incident = world.server.by_number("INC0010001")
        assert incident.work_notes[0].endswith(
            "moved s3://payments-exports/exports/(code)<img src=x "
            "onerror=alert(document.cookie)>(/CODE).csv to quarantine"
        )
        assert incident.state == "6"


def test_an_issue_planted_with_the_entrys_label_is_never_taken_for_its_ticket() -> None:
    """Ledger keys are digests of what the finding names (account, bucket, object key), so
    anyone may compute one. Someone who can open issues in any project remedy can see
    plants one labelled as remedy would label the entry's ticket; when the first create
    fails, the repair must not adopt it (and tell it the finding's history)."""
    with jira_world() as world:
        world.jira.projects.add("HELP")
        entry = world.entry()
        basic = f"{world.jira.email}:{world.jira.api_token}".encode()
        for guess in (entry.key, entry.finding["key"]):
            label = "remedy-" + hashlib.sha256(guess.encode()).hexdigest()[:24]
            planted = urllib3.request(
                "POST",
                f"{world.jira.url}/rest/api/3/issue",
                json={
                    "fields": {
                        "project": {"key": "HELP"},
                        "issuetype": {"name": "Task"},
                        "summary": "planted",
                        "labels": [label],
                    }
                },
                headers={"Authorization": "Basic " + base64.b64encode(basic).decode()},
            )
            assert planted.status == 201
        tickets = world.tickets()
        world.jira.fail("POST /rest/api/3/issue", 503)
        tickets.follow(entry)
        world.clock.advance(minutes=2)

        assert tickets.retry_owed() == 1

        after = world.store.get(entry.key)
        assert after is not None and after.attrs[SLOT]["id"] == "SEC-1"
        assert world.jira.issue("HELP-1").comments == []


class RedirectingJira(JiraServer):
    """A Jira that sends every create elsewhere, as a compromised proxy or a moved site."""

    def __init__(self, to: str) -> None:
        super().__init__(projects={"SEC"})
        self.to = to

    def serve(self, request: Request) -> tuple[int, Any, dict[str, str]] | None:
        if (request.method, request.path) == ("POST", "/rest/api/3/issue"):
            with self.lock:
                self._requests.append(request)
            return 307, None, {"Location": f"{self.to}/rest/api/3/issue"}
        return super().serve(request)


def test_a_redirect_elsewhere_is_not_followed_and_no_credential_leaves_the_site() -> None:
    with JiraServer(projects={"SEC"}) as elsewhere, jira_world() as world:
        redirecting = RedirectingJira(elsewhere.url)
        with redirecting:
            owed = world.tickets(jira_site=redirecting.url).follow(world.entry())

        assert owed.attrs[OWED] == (
            f"Jira POST /rest/api/3/issue: HTTP 307 to {urlsplit(elsewhere.url).netloc}, not "
            "followed (credentials go to the configured site only): check the site's address"
        )
        assert elsewhere.requests == []
        assert [r.path for r in redirecting.requests] == ["/rest/api/3/issue"]


def test_a_title_of_emoji_is_cut_to_what_jira_counts_as_255_characters() -> None:
    """Jira counts a summary's length in UTF-16 units (Java's): an emoji is two. An object
    key of emoji made a summary Jira refused on every try."""
    with jira_world() as world:
        entry = world.tickets().follow(world.entry(title="s3://exports/" + "🔑" * 300))

        assert OWED not in entry.attrs
        summary = world.jira.issue("SEC-1").fields["summary"]
        assert summary == "[remedy] s3://exports/" + "🔑" * 116
        assert len(summary.encode("utf-16-le")) // 2 == 254


def test_a_note_past_jiras_text_limit_is_cut_and_the_ticket_still_opens() -> None:
    # A step's note names what the member wrote (object keys, a finding's title): one
    # past Jira's 32,767 characters made the ticket owed forever.
    huge = "s3://exports/" + "k" * 40_000
    with jira_world() as world:
        entry = world.entry()
        moved = world.store.transition(
            entry.key, [State.PENDING_APPROVAL], State.APPROVED, by="remedy", note=huge
        )
        after = world.tickets().follow(moved)

        assert OWED not in after.attrs
        issue = world.jira.issue("SEC-1")
        last = adf_text(issue.fields["description"]).splitlines()[-1]
        assert " -> APPROVED by remedy: s3://exports/kkk" in last
        assert len(last) == jira.LINE_LIMIT
        assert world.jira.requests[-1].path == "/rest/api/3/issue"  # created, nothing owed


def test_a_description_of_many_lines_keeps_the_first_whole_and_says_it_was_cut() -> None:
    lines = [f"{i:03d} " + "é" * 600 for i in range(100)]  # sent as \\u00e9: 6 each
    document = jira.document("\n".join(lines))

    sent = len(json.dumps(document))
    assert sent <= jira.TEXT_LIMIT
    texts = [p["content"][0]["text"] for p in document["content"]]
    assert texts[-1] == jira.CUT
    assert texts[:-1] == lines[: len(texts) - 1]  # whole lines, from the start
    assert len(texts) - 1 == 8  # 8 lines of 3,644 sent characters fit, a 9th does not
    with JiraServer() as server:
        assert jira_server_refuses(server, {**document, "content": document["content"] * 2})


def jira_server_refuses(server: JiraServer, description: dict[str, Any]) -> bool:
    """The local Jira refuses a description past the limit with Jira's own words."""
    http = urllib3.PoolManager()
    auth = base64.b64encode(f"{server.email}:{server.api_token}".encode()).decode()
    answer = http.request(
        "POST",
        f"{server.url}/rest/api/3/issue",
        body=json.dumps(
            {
                "fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Task"},
                    "summary": "s",
                    "description": description,
                }
            }
        ),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    )
    return answer.status == 400 and json.loads(answer.data)["errors"] == {
        "description": "The entered text is too long. It exceeds the allowed limit of 32,767 "
        "characters."
    }


def test_a_ticket_refused_every_time_is_tried_less_and_less_then_sent_once_fixed() -> None:
    """An account whose Jira project does not exist: the outbox runs every 5 minutes, but
    the ticket is tried after 1, 2, 4, … minutes, then hourly; once accounts.yaml names a
    real project, it is sent within the hour."""
    nope = {"name": "p", "environment": "prod", "tickets": {"jira": {"project": "NOPE"}}}
    with jira_world() as world:
        refused = world.tickets(accounts={"accounts": {OWNER: nope}})
        owed = refused.follow(world.entry())
        assert owed.attrs[OWED].endswith("HTTP 400 project: valid project is required")
        tried_at = [0]
        for minute in range(5, 181, 5):
            world.clock.advance(minutes=5)
            before = world.issue_posts()
            assert refused.retry_owed() == 0
            if world.issue_posts() > before:
                tried_at.append(minute)

        # Runs at 5, 10, 15, 25, 45, 80 and 140 minutes (waits of 1, 2, 4, … capped at 60):
        # 8 calls in three hours where trying on every run would make 37.
        assert tried_at == [0, 5, 10, 15, 25, 45, 80, 140]
        entry = world.store.get(owed.key)
        assert entry is not None and entry.attrs[RETRY]["tries"] == 8

        fixed = world.tickets()  # accounts.yaml now names project SEC
        sent_at = None
        for minute in range(185, 250, 5):
            world.clock.advance(minutes=5)
            if fixed.retry_owed():
                sent_at = minute
                break
        assert sent_at == 200  # the hour after the try at 140
        done = world.store.get(owed.key)
        assert done is not None and done.attrs[SLOT]["id"] == "SEC-1"
        assert done.attrs[OWED] is None and done.attrs[RETRY] is None
        assert fixed.owed() == 0


def test_a_change_to_the_entry_tries_its_owed_ticket_at_once_whatever_the_wait() -> None:
    with jira_world() as world:
        tickets = world.tickets()
        world.jira.fail("POST /rest/api/3/issue", 503, times=3)
        entry = tickets.follow(world.entry())
        for wait in (1, 2):
            world.clock.advance(minutes=wait)
            tickets.retry_owed()
        owed = world.store.get(entry.key)
        assert owed is not None and owed.attrs[RETRY]["tries"] == 3
        world.clock.advance(minutes=1)  # past this process's pause after the outage
        assert not tickets.due(owed)  # the outbox waits 4 minutes after the third try

        changed = world.store.transition(
            entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="U0ALICE01 (alice)"
        )
        done = tickets.follow(changed)

        assert done.attrs[SLOT]["status"] == "resolved"
        assert world.issue_posts() == 4
        assert tickets.owed() == 0
