"""A rule's ``ticket`` and accounts.yaml's ``tickets``: loaded, decided, refused exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_support import DEFAULT_ONLY_ACCOUNTS, SHIPPED, finding, policy_dir, securityhub
from remedy.errors import PolicyError
from remedy.model import Severity, TicketWant
from remedy.policy import decide, load_policy
from remedy.tickets import backends

ACCOUNTS = DEFAULT_ONLY_ACCOUNTS.replace(
    "accounts: {}",
    """\
  tickets: {jira: {project: SEC}}
organizational_units:
  Root/Workloads: {tickets: {jira: {project: WORK, issue_type: Bug}}}
accounts:
  "111111111111": {name: payments, environment: prod, tickets: {jira: {project: PAY}}}
""",
)


def rule(**extra: object) -> dict[str, object]:
    return {"id": "secrets", "match": {"source": ["macie"]}, "action": "approve", **extra}


def problems(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(folder)
    return caught.value.problems


def test_a_rule_names_a_backend_and_the_decision_carries_it(tmp_path: Path) -> None:
    policy = load_policy(policy_dir(tmp_path, [rule(ticket="jira")], accounts=ACCOUNTS))
    assert decide(finding(), policy).ticket == TicketWant("jira")
    assert decide(finding(), policy).to_dict()["ticket"] == {
        "backend": "jira",
        "min_severity": "INFORMATIONAL",
        "only_when_a_person_must_act": False,
        "on_recurrence": "link",
    }


def test_a_rule_limits_its_tickets(tmp_path: Path) -> None:
    ticket = {"backend": "jira", "min_severity": "HIGH", "only_when_a_person_must_act": True}
    policy = load_policy(policy_dir(tmp_path, [rule(ticket=ticket)], accounts=ACCOUNTS))
    assert decide(finding(), policy).ticket == TicketWant("jira", Severity.HIGH, True)
    assert decide(finding(severity=Severity.LOW), policy).ticket == TicketWant(
        "jira", Severity.HIGH, True
    )


def test_a_rule_without_ticket_decides_none(tmp_path: Path) -> None:
    policy = load_policy(policy_dir(tmp_path, [rule()], accounts=ACCOUNTS))
    assert decide(finding(), policy).ticket is None
    assert "ticket" not in decide(finding(), policy).to_dict()


def test_the_account_its_unit_and_the_default_name_the_project(tmp_path: Path) -> None:
    accounts = load_policy(policy_dir(tmp_path, [rule()], accounts=ACCOUNTS)).accounts
    assert accounts.get("111111111111").tickets == {"jira": {"project": "PAY"}}
    assert accounts.get("999999999999").tickets == {"jira": {"project": "SEC"}}
    assert accounts.resolve("111111111111").to_dict()["tickets"] == {"jira": {"project": "PAY"}}


@pytest.mark.parametrize(
    ("ticket", "where", "error"),
    [
        ("trello", "ticket", "'trello' is not one of ['jira', 'servicenow', 'securityhub']"),
        (
            {"backend": "trello"},
            "ticket.backend",
            "'trello' is not one of ['jira', 'servicenow', 'securityhub']",
        ),
        ({"min_severity": "HIGH"}, "ticket", "'backend' is a required property"),
        (3, "ticket", "3 is not of type 'object'"),
    ],
)
def test_a_bad_ticket_is_refused_exactly(
    tmp_path: Path, ticket: object, where: str, error: str
) -> None:
    folder = policy_dir(tmp_path, [rule(ticket=ticket)], accounts=ACCOUNTS)
    assert problems(folder) == [f"{folder / 'remediation.yaml'}:rules[0].{where}: {error}"]


def test_a_bad_project_key_is_refused(tmp_path: Path) -> None:
    accounts = ACCOUNTS.replace("project: PAY", "project: pay me")
    folder = policy_dir(tmp_path, [rule()], accounts=accounts)
    assert problems(folder) == [
        f'{folder / "accounts.yaml"}:accounts["111111111111"].tickets.jira.project: '
        "'pay me' is not a Jira project key (SEC)"
    ]


def test_a_backend_no_account_targets_is_refused_where_the_rule_asks(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, [rule(ticket="servicenow")], accounts=ACCOUNTS)
    assert problems(folder) == [
        f"{folder / 'remediation.yaml'}:rules[0].ticket: accounts.yaml names no "
        "tickets.servicenow target (not in default, an account or a unit): add one where "
        "these findings' tickets go"
    ]


def test_the_schema_names_exactly_the_registered_backends() -> None:
    schema = json.loads((SHIPPED / "schema" / "remediation.schema.json").read_text())
    assert set(schema["$defs"]["ticket_backend"]["enum"]) == set(backends())


SECURITYHUB_ACCOUNTS = ACCOUNTS.replace(
    "tickets: {jira: {project: SEC}}",
    "tickets: {jira: {project: SEC}, "
    "securityhub: {connector: 2f1e0cd4-7f44-4a65-9d44-3f3c1d2e5a10}}",
)
OCSF_ONLY = (
    "ticket: securityhub is for OCSF findings only (CreateTicketV2 names the finding by its "
    "metadata.uid) and this rule's match takes others too: add ocsf: true to its match, or "
    "use jira or servicenow"
)


@pytest.mark.parametrize(
    ("match", "ticket"),
    [
        ({"source": ["macie"]}, "securityhub"),
        ({"source": ["securityhub"]}, "securityhub"),
        ({}, {"backend": "securityhub", "min_severity": "HIGH"}),
        ({"source": ["securityhub"], "ocsf": False}, "securityhub"),
    ],
    ids=["macie", "securityhub with ASFF", "any finding", "ocsf false"],
)
def test_a_securityhub_ticket_on_a_rule_that_takes_non_ocsf_findings_is_refused(
    tmp_path: Path, match: dict[str, object], ticket: object
) -> None:
    folder = policy_dir(
        tmp_path,
        [{"id": "hub", "match": match, "action": "notify", "ticket": ticket}],
        accounts=SECURITYHUB_ACCOUNTS,
    )
    assert problems(folder) == [f"{folder / 'remediation.yaml'}:rules[0].ticket: {OCSF_ONLY}"]


def test_a_securityhub_ticket_on_an_ocsf_rule_is_taken_and_matches_only_ocsf(
    tmp_path: Path,
) -> None:
    rules = [
        {
            "id": "hub",
            "match": {"source": ["securityhub"], "ocsf": True},
            "action": "notify",
            "ticket": "securityhub",
        }
    ]
    policy = load_policy(policy_dir(tmp_path, rules, accounts=SECURITYHUB_ACCOUNTS))
    ocsf = securityhub(parameters={"format": "ocsf", "metadata_uid": "u-1"})
    assert decide(ocsf, policy).rule == "hub"
    assert decide(ocsf, policy).ticket == TicketWant("securityhub")
    assert decide(securityhub(), policy).rule != "hub"
    assert decide(securityhub(), policy).ticket is None


def test_the_shipped_policies_still_validate() -> None:
    assert load_policy(SHIPPED).rules.rules


def test_a_rule_may_reopen_the_previous_ticket_on_recurrence(tmp_path: Path) -> None:
    ticket = {"backend": "jira", "on_recurrence": "reopen"}
    policy = load_policy(policy_dir(tmp_path, [rule(ticket=ticket)], accounts=ACCOUNTS))
    want = decide(finding(), policy).ticket
    assert want == TicketWant("jira", on_recurrence="reopen")
    assert TicketWant.from_dict(want.to_dict()) == want  # type: ignore[union-attr]


def test_reopen_is_refused_on_securityhub_which_cannot_reopen(tmp_path: Path) -> None:
    accounts = SECURITYHUB_ACCOUNTS
    ticket = {"backend": "securityhub", "on_recurrence": "reopen"}
    ocsf = {"match": {"source": ["securityhub"], "ocsf": True}}
    folder = policy_dir(tmp_path, [rule(ticket=ticket, **ocsf)], accounts=accounts)
    assert problems(folder) == [
        f"{folder / 'remediation.yaml'}:rules[0].ticket.on_recurrence: securityhub cannot "
        "reopen the tickets it creates: use on_recurrence: link, or backend jira or servicenow"
    ]
    linked = policy_dir(
        tmp_path / "linked",
        [rule(ticket={**ticket, "on_recurrence": "link"}, **ocsf)],
        accounts=accounts,
    )
    assert load_policy(linked).rules  # the same rule, linking, loads


def test_an_unknown_on_recurrence_is_refused_exactly(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path, [rule(ticket={"backend": "jira", "on_recurrence": "merge"})], accounts=ACCOUNTS
    )
    assert problems(folder) == [
        f"{folder / 'remediation.yaml'}:rules[0].ticket.on_recurrence: 'merge' is not one of "
        "['link', 'reopen']"
    ]


@pytest.mark.parametrize("group", ["Cloud Security^ORname!=x", "Cloud\nSecurity"])
def test_a_group_that_would_rewrite_the_servicenow_query_is_refused(
    tmp_path: Path, group: str
) -> None:
    accounts = ACCOUNTS.replace(
        "project: PAY}", f"project: PAY}}, servicenow: {{assignment_group: {json.dumps(group)}}}"
    )
    assert accounts != ACCOUNTS
    folder = policy_dir(tmp_path, [rule()], accounts=accounts)
    assert problems(folder) == [
        f'{folder / "accounts.yaml"}:accounts["111111111111"].tickets.servicenow.'
        f"assignment_group: {group!r} is not a ServiceNow group's name or sys_id, one line "
        "without ^ (which would join a second condition to the query that finds the group)"
    ]
