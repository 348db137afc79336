"""``remedy doctor``'s ticket checks, through the command: the core stack on moto names
the local Jira and ServiceNow servers, their secrets are in moto's Secrets Manager, and
accounts.yaml names the projects and groups. Healthy first, then each fault in turn, each
one exact line; the checks only read (no issue or incident is made)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from fixtures_aws import REGION
from policy_support import DEFAULT_ONLY_ACCOUNTS, policy_dir
from remedy.cli import main
from remedy.devtools.jira_server import JiraServer
from remedy.devtools.servicenow_server import ServiceNowServer
from test_doctor import CORE_TEMPLATE, MEMBERS
from test_doctor import deployed as deployed

pytestmark = pytest.mark.usefixtures("deployed")

ACCOUNTS = DEFAULT_ONLY_ACCOUNTS.replace(
    "accounts: {}",
    """\
  tickets: {jira: {project: SEC}, servicenow: {assignment_group: Cloud Security}}
accounts:
  "111111111111": {name: payments, environment: prod, tickets: {jira: {project: PAY}}}
""",
)
_STACKS = itertools.count(1)


class Systems:
    def __init__(self, jira: JiraServer, servicenow: ServiceNowServer, policy: Path) -> None:
        self.jira = jira
        self.servicenow = servicenow
        self.policy = policy
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.good = {
            "jira": {"email": jira.email, "api_token": jira.api_token},
            "servicenow": {
                "client_id": servicenow.client_id,
                "client_secret": servicenow.client_secret,
            },
        }
        for name, value in self.good.items():
            self.secrets.create_secret(Name=f"remedy/{name}", SecretString=json.dumps(value))

    def doctor(self, capsys: pytest.CaptureFixture[str], **sites: str) -> tuple[int, list[str]]:
        """The command's exit code and its ticket lines, against a core stack naming
        `sites` (by default the local servers)."""
        parameters = {"JiraSite": self.jira.url, "ServiceNowInstance": self.servicenow.url}
        parameters.update(sites)
        with core_stack(parameters) as stack:
            code = main(
                [
                    "doctor",
                    "--stack",
                    stack,
                    "--account",
                    MEMBERS[0],
                    "--region",
                    REGION,
                    "--policy",
                    str(self.policy),
                ]
            )
        out, err = capsys.readouterr()
        assert err == ""
        return code, [
            line for line in out.splitlines() if " Jira " in line or " ServiceNow " in line
        ]


@contextmanager
def core_stack(parameters: dict[str, str]) -> Iterator[str]:
    """A core stack like test_doctor's, with the ticket parameters template.yaml has."""
    name = f"remedy-core-{next(_STACKS)}"
    template: dict[str, Any] = json.loads(json.dumps(CORE_TEMPLATE))
    template["Resources"]["FindingsFunction"]["Properties"]["FunctionName"] = name
    cfn = boto3.client("cloudformation", region_name=REGION)
    base = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName="remedy-core")["Stacks"][0]["Parameters"]
    }
    for key in parameters:
        template["Parameters"][key] = {"Type": "String", "Default": ""}
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in {**base, **parameters}.items()
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    try:
        yield name
    finally:
        cfn.delete_stack(StackName=name)


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Systems]:
    rules = [{"id": "all", "match": {}, "action": "notify", "ticket": "jira"}]
    policy = policy_dir(tmp_path_factory.mktemp("doctor"), rules, accounts=ACCOUNTS)
    with JiraServer(projects={"SEC", "PAY"}) as jira, ServiceNowServer() as servicenow:
        yield Systems(jira, servicenow, policy)


def healthy(systems: Systems) -> list[str]:
    return [
        "PASS  Jira secret: remedy/jira holds email and api_token",
        f"PASS  Jira site: {systems.jira.url} reachable, signed in as remedy@example.com",
        "PASS  Jira project PAY: exists",
        "PASS  Jira project SEC: exists",
        "PASS  ServiceNow secret: remedy/servicenow holds client_id and client_secret",
        f"PASS  ServiceNow site: {systems.servicenow.url} reachable, signed in with an OAuth "
        "client, incidents readable",
        "PASS  ServiceNow assignment_group Cloud Security: exists",
    ]


def test_a_healthy_ticket_setup_passes_and_is_only_read(
    systems: Systems, capsys: pytest.CaptureFixture[str]
) -> None:
    assert systems.doctor(capsys) == (0, healthy(systems))
    assert systems.jira.issues == {} and systems.servicenow.incidents == {}
    sent = [r for s in (systems.jira, systems.servicenow) for r in s.requests]
    assert {(r.method, r.path.split("?")[0]) for r in sent} == {
        ("GET", "/rest/api/3/myself"),
        ("GET", "/rest/api/3/project/PAY"),
        ("GET", "/rest/api/3/project/SEC"),
        ("POST", "/oauth_token.do"),
        ("GET", "/api/now/table/incident"),
        ("GET", "/api/now/table/sys_user_group"),
    }


def test_no_ticket_system_no_ticket_lines(
    systems: Systems, capsys: pytest.CaptureFixture[str]
) -> None:
    assert systems.doctor(capsys, JiraSite="", ServiceNowInstance="") == (0, [])


@contextmanager
def secret(systems: Systems, name: str, value: str | None) -> Iterator[None]:
    """The secret `remedy/<name>` holding `value` (None: deleted, "": created empty, as
    the core stack leaves it), put back after."""
    arn = systems.secrets.describe_secret(SecretId=f"remedy/{name}")["ARN"]
    systems.secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    if value == "":
        systems.secrets.create_secret(Name=f"remedy/{name}")
    elif value is not None:
        systems.secrets.create_secret(Name=f"remedy/{name}", SecretString=value)
    try:
        yield
    finally:
        if value is not None:
            systems.secrets.delete_secret(
                SecretId=f"remedy/{name}", ForceDeleteWithoutRecovery=True
            )
        systems.secrets.create_secret(
            Name=f"remedy/{name}", SecretString=json.dumps(systems.good[name])
        )


JIRA_FILL = (
    "fill it: aws secretsmanager put-secret-value --secret-id remedy/jira --secret-string "
    '\'{"email": "...", "api_token": "..."}\' (docs/tickets.md)'
)
SERVICENOW_FILL = (
    "fill it: aws secretsmanager put-secret-value --secret-id remedy/servicenow "
    '--secret-string \'{"api_key": "..."}\' or \'{"client_id": "...", "client_secret": "..."}\' '
    "(docs/tickets.md)"
)
SERVICENOW_STORES = '{"api_key": "..."} or {"client_id": "...", "client_secret": "..."}'
CANNOT_READ = (
    "check the ARN, that it has a value, and that the function may call "
    "secretsmanager:GetSecretValue on it"
)


#: Each fault: what to break (given the systems) and the one FAIL line it gives, in place
#: of which healthy lines (the ones that depend on it are not run).
Fault = Callable[[Systems], tuple[AbstractContextManager[None], str, tuple[str, ...]]]
JIRA_LINES = ("Jira secret", "Jira site", "Jira project PAY", "Jira project SEC")
SN_LINES = ("ServiceNow secret", "ServiceNow site", "ServiceNow assignment_group")


@contextmanager
def stopped(server: JiraServer) -> Iterator[None]:
    server.stop()
    try:
        yield
    finally:
        server.start()


FAULTS: dict[str, Fault] = {
    "jira secret missing": lambda s: (
        secret(s, "jira", None),
        "FAIL  Jira secret: cannot read Jira secret remedy/jira (ResourceNotFoundException): "
        f"{CANNOT_READ}: {JIRA_FILL}",
        JIRA_LINES,
    ),
    "servicenow secret empty": lambda s: (
        secret(s, "servicenow", ""),
        "FAIL  ServiceNow secret: cannot read ServiceNow secret remedy/servicenow "
        f"(ResourceNotFoundException): {CANNOT_READ}: {SERVICENOW_FILL}",
        SN_LINES,
    ),
    "jira secret without its token": lambda s: (
        secret(s, "jira", json.dumps({"email": "remedy@example.com"})),
        f"FAIL  Jira secret: Jira secret remedy/jira has no api_token: {JIRA_FILL}",
        JIRA_LINES,
    ),
    "servicenow secret not json": lambda s: (
        secret(s, "servicenow", "client_id=x"),
        "FAIL  ServiceNow secret: ServiceNow secret remedy/servicenow is not a JSON object: "
        f"store {SERVICENOW_STORES}: {SERVICENOW_FILL}",
        SN_LINES,
    ),
    "servicenow api key with a pasted newline": lambda s: (
        secret(s, "servicenow", json.dumps({"api_key": s.servicenow.api_key + "\n"})),
        "FAIL  ServiceNow secret: ServiceNow secret remedy/servicenow: api_key has whitespace "
        f"or a control character (a pasted newline?): store it again without: {SERVICENOW_FILL}",
        SN_LINES,
    ),
    "jira token revoked": lambda s: (
        secret(s, "jira", json.dumps({"email": s.jira.email, "api_token": "revoked-token"})),
        "FAIL  Jira site: Jira GET /rest/api/3/myself: HTTP 401 Client must be authenticated "
        "to access this resource.: store valid credentials in remedy/jira (docs/tickets.md)",
        JIRA_LINES[1:],
    ),
    "servicenow client secret wrong": lambda s: (
        secret(
            s,
            "servicenow",
            json.dumps({"client_id": s.servicenow.client_id, "client_secret": "wrong"}),
        ),
        "FAIL  ServiceNow site: ServiceNow POST /oauth_token.do: HTTP 401 access_denied: store "
        "valid credentials in remedy/servicenow (docs/tickets.md)",
        SN_LINES[1:],
    ),
    "jira down": lambda s: (
        stopped(s.jira),
        f"FAIL  Jira site: Jira GET /rest/api/3/myself: NewConnectionError: check that "
        f"{s.jira.url} is up and is the core stack's JiraSite",
        JIRA_LINES[1:],
    ),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_each_ticket_fault_is_one_line_and_the_rest_still_pass(
    systems: Systems, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    breaking, expected, unrun = FAULTS[fault](systems)
    with breaking:
        code, found = systems.doctor(capsys)
    assert code == 1
    assert [line for line in found if line.startswith("FAIL")] == [expected]
    assert [line for line in found if line.startswith("PASS")] == [
        line for line in healthy(systems) if not line[6:].startswith(unrun)
    ]
    assert systems.jira.issues == {} and systems.servicenow.incidents == {}


def test_a_project_or_group_accounts_yaml_names_that_does_not_exist(
    systems: Systems, capsys: pytest.CaptureFixture[str]
) -> None:
    systems.jira.projects.discard("PAY")
    systems.servicenow.groups.clear()
    try:
        code, found = systems.doctor(capsys)
    finally:
        systems.jira.projects.add("PAY")
        systems.servicenow.groups.add("Cloud Security")
    assert code == 1
    assert [line for line in found if line.startswith("FAIL")] == [
        f"FAIL  Jira project PAY: not found on {systems.jira.url}: create it, or name another "
        "in accounts.yaml's tickets.jira.project",
        f"FAIL  ServiceNow assignment_group Cloud Security: not found on "
        f"{systems.servicenow.url}: create it, or name another in accounts.yaml's "
        "tickets.servicenow.assignment_group",
    ]


def test_a_site_not_on_the_vendors_domain_is_refused_before_any_call(
    systems: Systems, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(systems.jira.requests)
    code, found = systems.doctor(capsys, JiraSite="https://jira.example.org")
    assert code == 1
    assert found[0] == (
        "FAIL  Jira site: Jira site 'https://jira.example.org' is not "
        "https://<name>.atlassian.net: set it to your site's address, nothing after the host "
        "(the core stack's JiraSite parameter)"
    )
    assert [line for line in found if line.startswith("FAIL")] == [found[0]]
    assert len(systems.jira.requests) == before


def test_an_api_key_signs_in_too(systems: Systems, capsys: pytest.CaptureFixture[str]) -> None:
    key = json.dumps({"api_key": systems.servicenow.api_key})
    with secret(systems, "servicenow", key):
        code, found = systems.doctor(capsys)
    assert code == 0
    assert "PASS  ServiceNow secret: remedy/servicenow holds api_key" in found
    assert (
        f"PASS  ServiceNow site: {systems.servicenow.url} reachable, signed in with an API key, "
        "incidents readable"
    ) in found
