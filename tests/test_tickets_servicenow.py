"""ServiceNow incidents that follow a ledger entry: the real backend over HTTP to the
local Table API, the ledger and the API key's secret on moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remedy.devtools.servicenow_server import ServiceNowServer
from remedy.ledger.base import State
from remedy.tickets.lifecycle import OWED, SLOT
from tickets_support import World, servicenow_world

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
