"""ServiceNow incidents that follow a ledger entry: the real backend over HTTP to the
local Table API, the ledger and the API key's secret on moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notify_support import atomic_dynamodb
from remedy.devtools.servicenow_server import ServiceNowServer
from remedy.ledger.base import State
from remedy.tickets.lifecycle import OWED, SLOT
from tickets_support import World, assert_gone, eight_workers_follow, servicenow_world

__all__ = ["atomic_dynamodb"]

CREATE = ("POST", "/api/now/table/incident")


@pytest.fixture
def world() -> Iterator[World]:
    with servicenow_world() as made:
        yield made


def server(world: World) -> ServiceNowServer:
    assert isinstance(world.server, ServiceNowServer)
    return world.server


def test_an_incident_follows_the_entry_to_resolved(world: World) -> None:
    tickets = world.tickets()
    entry = tickets.follow(world.entry(ticket="servicenow"))

    incident = server(world).by_number("INC0010001")
    assert entry.attrs[SLOT]["id"] == "INC0010001"
    assert entry.attrs[SLOT]["ref"] == incident.sys_id
    assert entry.attrs[SLOT]["url"] == (
        f"{world.server.url}/nav_to.do?uri=incident.do%3Fsys_id%3D{incident.sys_id}"
    )
    assert incident.fields["assignment_group"] == "Cloud Security"
    assert incident.fields["correlation_id"] == entry.attrs[SLOT]["token"]
    assert (incident.fields["impact"], incident.fields["urgency"]) == ("1", "1")
    assert incident.state == "1"

    entry = world.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1", note="test"
    )
    final = tickets.follow(entry)
    assert [n.split(": ", 1)[1] for n in incident.work_notes] == [
        "PENDING_APPROVAL -> DISMISSED by slack:U0PAYLEAD1: test"
    ]
    assert incident.state == "6"
    assert incident.fields["close_code"] == "Solved (Permanently)"
    assert incident.fields["close_notes"] == "remedy: the entry ended DISMISSED; resolved"
    assert final.attrs[SLOT]["status"] == "resolved"


def test_a_lost_answer_is_repaired_by_the_correlation_id(world: World) -> None:
    tickets = world.tickets()
    entry = world.entry(ticket="servicenow")
    server(world).fail("POST /api/now/table/incident", 0)
    owed = tickets.follow(entry)
    assert owed.attrs[OWED] == "ServiceNow POST /api/now/table/incident: ProtocolError"

    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    assert [(r.method, r.path.split("?")[0]) for r in world.server.requests].count(CREATE) == 1
    assert len(server(world).incidents) == 1
    repaired = world.store.get(entry.key)
    assert repaired is not None
    assert repaired.attrs[SLOT]["id"] == "INC0010001"


def test_a_bad_api_key_is_owed_with_servicenows_answer(world: World) -> None:
    world.aws["secretsmanager"].put_secret_value(
        SecretId=world.secret_arn, SecretString='{"api_key": "stale-key-value"}'
    )
    owed = world.tickets().follow(world.entry(ticket="servicenow"))
    assert owed.attrs[OWED] == (
        "ServiceNow POST /api/now/table/incident: HTTP 401 User Not Authenticated"
    )
    assert "stale-key-value" not in repr(owed)
    assert server(world).incidents == {}


def test_an_instance_not_on_service_now_is_refused_before_any_call(world: World) -> None:
    owed = world.tickets(servicenow_instance="https://sn.example.org").follow(
        world.entry(ticket="servicenow")
    )
    assert owed.attrs[OWED] == (
        "ServiceNow site 'https://sn.example.org' is not https://<name>.service-now.com: set "
        "it to your site's address, nothing after the host"
    )
    assert world.server.requests == []


def test_a_recurrence_names_the_previous_incident(world: World) -> None:
    tickets = world.tickets()
    first = tickets.follow(world.entry(ticket="servicenow"))
    second = tickets.follow(world.entry(ticket="servicenow", previous_occurrence=first.key))
    incident = server(world).by_number(second.attrs[SLOT]["id"])
    assert incident.fields["parent_incident"] == first.attrs[SLOT]["ref"]


def test_a_recurrence_reopens_the_previous_incident_when_the_rule_says_so(world: World) -> None:
    tickets = world.tickets()
    reopen = {"backend": "servicenow", "on_recurrence": "reopen"}
    first = tickets.follow(world.entry(ticket=reopen))
    dismissed = world.store.transition(
        first.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    tickets.follow(dismissed)
    incident = server(world).by_number("INC0010001")
    assert incident.state == "6"

    second = tickets.follow(world.entry(ticket=reopen, previous_occurrence=first.key))

    assert len(server(world).incidents) == 1
    assert incident.state == "2"
    assert incident.work_notes[-1] == (
        f"remedy: reopened: a new occurrence at {second.created_at}\n"
        f"remedy ledger entry {second.key}: PENDING_APPROVAL\n"
        "HIGH Macie SensitiveData:S3Object/Credentials\n"
        "decision: why\n"
        "2026-01-01T00:00:00Z: RECEIVED -> PENDING_APPROVAL by remedy: why"
    )
    assert (second.attrs[SLOT]["id"], second.attrs[SLOT]["ref"]) == (
        "INC0010001",
        incident.sys_id,
    )
    assert second.attrs[SLOT]["status"] == "open"

    # The new occurrence's end resolves the same incident again.
    ended = world.store.transition(
        second.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    assert tickets.follow(ended).attrs[SLOT]["status"] == "resolved"
    assert incident.state == "6"


def test_a_closed_incident_is_not_reopened_a_new_one_names_it_as_parent(world: World) -> None:
    """ServiceNow closes a Resolved incident itself after a week by default, and a Closed
    incident is read-only: a later recurrence opens a new incident instead of staying owed."""
    tickets = world.tickets()
    reopen = {"backend": "servicenow", "on_recurrence": "reopen"}
    first = tickets.follow(world.entry(ticket=reopen))
    closed = server(world).by_number("INC0010001")
    closed.fields["state"] = "7"
    notes_before = list(closed.work_notes)

    second = tickets.follow(world.entry(ticket=reopen, previous_occurrence=first.key))

    assert OWED not in second.attrs
    slot = second.attrs[SLOT]
    assert (slot["id"], slot["status"]) == ("INC0010002", "open")
    assert "reopen" not in slot
    assert slot["reopen_refused"] == (
        f"ServiceNow PATCH /api/now/table/incident/{closed.sys_id}: HTTP 403 Operation "
        "Failed: INC0010001 is Closed (7), read-only in ServiceNow"
    )
    made = server(world).by_number("INC0010002")
    assert made.fields["parent_incident"] == closed.sys_id
    assert made.fields["correlation_id"] == slot["token"]
    assert (closed.state, closed.work_notes) == ("7", notes_before)


def test_an_incident_closed_by_hand_is_no_longer_told_and_nothing_is_owed(world: World) -> None:
    tickets = world.tickets()
    entry = tickets.follow(world.entry(ticket="servicenow"))
    incident = server(world).by_number("INC0010001")
    incident.fields["state"] = "7"
    patches = len([r for r in world.server.requests if r.method == "PATCH"])

    stopped = world.dismiss(tickets, entry)

    assert_gone(
        stopped,
        f"ServiceNow PATCH /api/now/table/incident/{incident.sys_id}: HTTP 403 Operation "
        "Failed: INC0010001 is Closed (7), read-only in ServiceNow",
    )
    assert tickets.owed() == 0
    # One refused comment and the read of its state; a later change calls nothing.
    assert len([r for r in world.server.requests if r.method == "PATCH"]) == patches + 1
    requests = len(world.server.requests)
    assert tickets.follow(stopped) == stopped
    assert len(world.server.requests) == requests


@pytest.mark.usefixtures("atomic_dynamodb")
def test_eight_concurrent_workers_reopen_the_incident_exactly_once(world: World) -> None:
    tickets = world.tickets()
    reopen = {"backend": "servicenow", "on_recurrence": "reopen"}
    first = tickets.follow(world.entry(ticket=reopen))
    tickets.follow(
        world.store.transition(
            first.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
        )
    )
    second = world.entry(ticket=reopen, previous_occurrence=first.key)

    eight_workers_follow(world, second)

    incident = server(world).by_number("INC0010001")
    reopened = [
        r for r in world.server.requests if r.method == "PATCH" and r.body.get("state") == "2"
    ]
    assert len(reopened) == 1
    assert incident.state == "2"
    assert [n for n in incident.work_notes if n.startswith("remedy: reopened")] == [
        reopened[0].body["work_notes"]
    ]
    assert len(server(world).incidents) == 1
