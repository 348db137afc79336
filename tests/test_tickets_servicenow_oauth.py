"""ServiceNow by OAuth: the client-credentials grant against the local instance's
``/oauth_token.do``, the bearer token cached until shortly before it ends and fetched
once more when refused; the secret's two shapes, and neither or both refused."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from remedy.devtools.servicenow_server import OAUTH_ENDPOINT, ServiceNowServer
from remedy.ledger.base import State
from remedy.tickets.lifecycle import OWED, SLOT
from tickets_support import World, servicenow_world

TOKEN = ("POST", OAUTH_ENDPOINT)
CREATE = ("POST", "/api/now/table/incident")


@pytest.fixture
def world() -> Iterator[World]:
    with servicenow_world(oauth=True) as made:
        yield made


@contextmanager
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Everything remedy and its HTTP client log (botocore's own debug log of the
    secret's read is not ours to keep clean)."""
    with (
        caplog.at_level(logging.DEBUG, logger="remedy"),
        caplog.at_level(logging.DEBUG, logger="urllib3"),
    ):
        yield


def server(world: World) -> ServiceNowServer:
    assert isinstance(world.server, ServiceNowServer)
    return world.server


def calls(world: World) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in world.server.requests]


def test_one_token_signs_every_call_until_it_ends(world: World) -> None:
    tickets = world.tickets()
    entry = tickets.follow(world.entry(ticket="servicenow"))
    entry = world.store.transition(
        entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1", note="no"
    )
    tickets.follow(entry)

    record = "/api/now/table/incident/" + entry.attrs[SLOT]["ref"]
    assert calls(world) == [TOKEN, CREATE, ("PATCH", record), ("PATCH", record)]
    (token_request,) = [r for r in world.server.requests if (r.method, r.path) == TOKEN]
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "client_secret=" not in token_request.path
    bearer = {r.headers.get("Authorization") for r in world.server.requests[1:]}
    assert len(bearer) == 1 and next(iter(bearer)).startswith("Bearer ")
    assert all("x-sn-apikey" not in r.headers for r in world.server.requests)
    assert server(world).incidents[entry.attrs[SLOT]["ref"]].state == "6"


def test_a_token_about_to_end_is_not_used() -> None:
    # expires_in inside the margin: a new token for each call rather than a dying one.
    with servicenow_world(oauth=True, token_lifetime=30) as world:
        tickets = world.tickets()
        entry = tickets.follow(world.entry(ticket="servicenow"))
        entry = world.store.transition(
            entry.key, [State.PENDING_APPROVAL], State.DISMISSED, by="slack:U0PAYLEAD1", note="n"
        )
        tickets.follow(entry)
        record = ("PATCH", "/api/now/table/incident/" + entry.attrs[SLOT]["ref"])
        assert calls(world) == [TOKEN, CREATE, TOKEN, record, TOKEN, record]
        assert len(server(world).tokens) == 3


def test_a_token_that_ended_early_is_fetched_again_once(world: World) -> None:
    tickets = world.tickets()
    first = tickets.follow(world.entry(ticket="servicenow"))
    server(world).expire_tokens()
    second = tickets.follow(world.entry(ticket="servicenow"))

    assert second.attrs[SLOT]["id"] == "INC0010002"
    assert OWED not in second.attrs
    assert calls(world) == [TOKEN, CREATE, CREATE, TOKEN, CREATE]
    assert len(server(world).incidents) == 2
    assert first.attrs[SLOT]["id"] == "INC0010001"


def test_a_bad_client_secret_is_owed_with_servicenows_answer_and_never_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.aws["secretsmanager"].put_secret_value(
        SecretId=world.secret_arn,
        SecretString=json.dumps(
            {"client_id": server(world).client_id, "client_secret": "wrong-client-secret"}
        ),
    )
    with logged(caplog):
        owed = world.tickets().follow(world.entry(ticket="servicenow"))
    assert owed.attrs[OWED] == "ServiceNow POST /oauth_token.do: HTTP 401 access_denied"
    assert calls(world) == [TOKEN]
    assert server(world).incidents == {}
    assert "wrong-client-secret" not in caplog.text + repr(owed)


def test_the_token_and_the_secret_are_never_logged_nor_in_the_environment(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with logged(caplog):
        entry = world.tickets().follow(world.entry(ticket="servicenow"))
    (token,) = server(world).tokens
    secret = server(world).client_secret
    assert entry.attrs[SLOT]["id"] == "INC0010001"
    for value in (token, secret):
        assert value not in caplog.text
        assert value not in repr(entry)
        assert all(value not in v for v in os.environ.values())


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (
            {"api_key": "k", "client_id": "c", "client_secret": "s"},
            "holds both api_key and client_id and client_secret: keep one, "
            '{"api_key": "..."} or {"client_id": "...", "client_secret": "..."}',
        ),
        (
            {"token": "t"},
            'holds none of its fields: store {"api_key": "..."} or '
            '{"client_id": "...", "client_secret": "..."}',
        ),
        ({"client_id": "c"}, "has no client_secret"),
        ({"client_id": "c", "client_secret": "  "}, "has no client_secret"),
    ],
    ids=["both", "neither", "no client secret", "blank client secret"],
)
def test_a_secret_with_neither_or_both_shapes_is_refused_before_any_call(
    world: World, secret: dict[str, str], expected: str
) -> None:
    world.aws["secretsmanager"].put_secret_value(
        SecretId=world.secret_arn, SecretString=json.dumps(secret)
    )
    owed = world.tickets().follow(world.entry(ticket="servicenow"))
    assert owed.attrs[OWED] == f"ServiceNow secret {world.secret_arn} {expected}"
    assert world.server.requests == []
