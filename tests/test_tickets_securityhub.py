"""Security Hub's CreateTicketV2 through a connector: moto has no CreateTicketV2, so the
call is checked with botocore's Stubber (the exact parameters, the ClientToken)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from remedy.ledger.base import State
from remedy.tickets.lifecycle import OWED, SLOT
from tickets_support import CONNECTOR, World, jira_world

OCSF = {"format": "ocsf", "metadata_uid": "d1bc4b0123456789012345abefabcdefab"}
URL = "https://example.atlassian.net/browse/SEC-7"


class OneClient:
    """A boto3 session whose Security Hub client is the stubbed one."""

    def __init__(self, client: Any) -> None:
        self.securityhub = client

    def client(self, name: str, **kwargs: Any) -> Any:
        assert name == "securityhub"
        return self.securityhub


@pytest.fixture
def world() -> Iterator[World]:
    with jira_world() as made:
        yield made


@pytest.fixture
def hub(world: World) -> Iterator[Stubber]:
    client = boto3.client("securityhub")
    with Stubber(client) as stubber:
        yield stubber


def expect_create(hub: Stubber, client_token: Any) -> None:
    hub.add_response(
        "create_ticket_v2",
        {"TicketId": "SEC-7", "TicketSrcUrl": URL},
        {
            "ConnectorId": CONNECTOR,
            "FindingMetadataUid": OCSF["metadata_uid"],
            "ClientToken": client_token,
        },
    )


def test_an_ocsf_finding_gets_a_ticket_through_the_connector(world: World, hub: Stubber) -> None:
    tickets = world.tickets(session=OneClient(hub.client))
    entry = world.entry(ticket="securityhub", parameters=OCSF)
    # The token is drawn when the slot is claimed: a repair sends the same one (below).
    expect_create(hub, ANY)

    opened = tickets.follow(entry)
    hub.assert_no_pending_responses()
    assert opened.attrs[SLOT]["id"] == "SEC-7"
    assert opened.attrs[SLOT]["url"] == URL
    # Security Hub cannot comment or close: later changes call nothing (the Stubber would
    # refuse an unexpected call).
    done = world.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1"
    )
    assert tickets.follow(done).attrs[SLOT]["status"] == "open"


def test_a_repair_creates_again_with_the_same_client_token(world: World, hub: Stubber) -> None:
    tickets = world.tickets(session=OneClient(hub.client))
    entry = world.entry(ticket="securityhub", parameters=OCSF)
    hub.add_client_error("create_ticket_v2", "InternalServerException", "try again", 500)
    owed = tickets.follow(entry)
    assert owed.attrs[OWED] == "Security Hub CreateTicketV2: InternalServerException: try again"

    expect_create(hub, owed.attrs[SLOT]["token"])
    world.clock.advance(minutes=2)
    assert tickets.retry_owed() == 1
    hub.assert_no_pending_responses()


def test_a_finding_that_is_not_ocsf_is_owed_saying_what_to_use(world: World, hub: Stubber) -> None:
    owed = world.tickets(session=OneClient(hub.client)).follow(world.entry(ticket="securityhub"))
    assert owed.attrs[OWED] == (
        "Security Hub's CreateTicketV2 takes an OCSF finding with a metadata.uid; this one is "
        "from macie: use ticket: jira or servicenow"
    )


def test_the_scheduled_function_leaves_it_to_the_functions_granted_the_call(
    world: World, hub: Stubber
) -> None:
    entry = world.entry(ticket="securityhub", parameters=OCSF)
    hub.add_client_error("create_ticket_v2", "ThrottlingException", "Rate exceeded", 400)
    owed = world.tickets(session=OneClient(hub.client)).follow(entry)
    assert owed.attrs[OWED] == "Security Hub CreateTicketV2: ThrottlingException: Rate exceeded"

    # The scheduled outbox function has no securityhub:CreateTicketV2: it calls nothing.
    scheduled = world.tickets(session=OneClient(hub.client), aws=False)
    assert "securityhub" not in scheduled.backends
    assert scheduled.retry_owed() == 0
    assert world.store.get(entry.key) == owed
    assert scheduled.owed() == 1
