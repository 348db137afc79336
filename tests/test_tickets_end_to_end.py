"""A Jira ticket that follows a finding from its event to its end, through the functions
as deployed: the findings function on an SQS batch, an approver's signed click on the
interactions function, the remediator on the asynchronous invoke it hands over, and a
recurrence. Real boto3 on moto across the member accounts (S3 quarantine in the owner's
account, the ledger, Secrets Manager, SNS), the local Slack and Jira servers.

Lambda's asynchronous invoke of the remediator is the only AWS call moto cannot carry out
(it runs functions in Docker): the invoke the interactions function makes is recorded at
the botocore level, answered 202 as Lambda would, and its payload then run through the
remediator entry point, as Lambda's asynchronous invoker would.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from fixtures_aws import (
    EXTERNAL_ID,
    LEDGER_TABLE,
    MEMBERS,
    REGION,
    LambdaContext,
    Stored,
    World,
    macie_event,
    org_fixture,  # noqa: F401 - the fixture
    world_fixture,  # noqa: F401 - the fixture
)
from notify_support import SIGNING_SECRET, click_body, owners_mailbox, sign
from remedy.cli import main
from remedy.devtools.jira_server import JiraServer, adf_text
from remedy.devtools.slack_server import SlackServer
from remedy.handlers import findings, interactions, remediator
from remedy.handlers.runtime import Runtime, policy_version
from remedy.ledger.base import Entry, State
from remedy.normalise import normalise
from remedy.notify.slack_message import QUARANTINE_ACTION
from remedy.occurrences import PREVIOUS
from remedy.tickets.lifecycle import OWED, SLOT, step_text
from remedy.tickets.notifier import DEFERRED
from test_handlers_findings import record

A = MEMBERS[0]
APPROVER = "U0PAYLEAD1"
PERSONAL = "SensitiveData:S3Object/Personal"
KEY = "people/ana.txt"


@dataclass
class Deployed:
    world: World
    jira: JiraServer
    slack: SlackServer
    #: What the interactions function handed to the remediator (asynchronous invokes).
    invokes: list[dict[str, Any]] = field(default_factory=list)
    mailbox: str = ""

    def deliver(self, stored: Stored) -> Entry:
        """Macie's finding about `stored`, through the findings function on an SQS batch."""
        event = macie_event(
            stored.account,
            stored.bucket,
            stored.key,
            etag=stored.etag,
            size=len(stored.body),
            finding_type=PERSONAL,
        )
        answer = findings.handler({"Records": [record(json.dumps(event))]}, LambdaContext())
        assert answer == {"batchItemFailures": []}
        # The newest occurrence: the first entry under the finding's key, then <key>.2, ...
        (finding,) = normalise(event)
        entry, n = self.world.store.get(finding.key), 2
        while (later := self.world.store.get(f"{finding.key}.{n}")) is not None:
            entry, n = later, n + 1
        assert entry is not None
        return entry

    def click(self, entry: Entry) -> int:
        """The approver's Quarantine click, signed as Slack signs it, on the function."""
        body = click_body(entry.key, QUARANTINE_ACTION, APPROVER, "pat")
        event = {"headers": sign(body), "body": body.decode(), "isBase64Encoded": False}
        answer: dict[str, Any] = interactions.handler(event, None)
        return int(answer["statusCode"])

    def run_handed_over(self) -> list[dict[str, Any]]:
        """The remediator on each invoke handed over, as Lambda's asynchronous invoker."""
        done = [
            remediator.handler(payload, LambdaContext(function_name="remedy-remediator"))
            for payload in self.invokes
        ]
        self.invokes.clear()
        return done

    def mails(self) -> list[str]:
        sqs = self.world.core.client("sqs")
        got = sqs.receive_message(QueueUrl=self.mailbox, MaxNumberOfMessages=10)
        return [m["Body"] for m in got.get("Messages", [])]


def policy(world: World, on_recurrence: str) -> Path:
    """The test policy, its approve rule asking a Jira ticket, accounts.yaml a project."""
    folder = Path(tempfile.mkdtemp(prefix="policy-", dir=world.policy_dir.parent))
    shutil.copytree(world.policy_dir, folder, dirs_exist_ok=True)
    rules = folder / "remediation.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            "    action: approve\n",
            f"    action: approve\n    ticket: {{backend: jira, on_recurrence: {on_recurrence}}}\n",
            1,
        ),
        encoding="utf-8",
    )
    accounts = folder / "accounts.yaml"
    accounts.write_text(
        accounts.read_text(encoding="utf-8").replace(
            "  approvers:\n    usergroup: S0SECAPPROVE\n",
            "  approvers:\n    usergroup: S0SECAPPROVE\n  tickets: {jira: {project: SEC}}\n",
            1,
        ),
        encoding="utf-8",
    )
    return folder


def deploy(world: World, monkeypatch: pytest.MonkeyPatch, on_recurrence: str) -> Iterator[Deployed]:
    """The three functions' environment as the core stack gives it, fresh containers."""
    with JiraServer(projects={"SEC"}) as jira, SlackServer() as slack:
        core = world.core
        secrets = core.client("secretsmanager")
        suffix = world.clock.now.strftime("%H%M%S%f")
        slack_arn = secrets.create_secret(
            Name=f"remedy/slack-{suffix}",
            SecretString=json.dumps({"bot_token": slack.token, "signing_secret": SIGNING_SECRET}),
        )["ARN"]
        jira_arn = secrets.create_secret(
            Name=f"remedy/jira-{suffix}",
            SecretString=json.dumps({"email": jira.email, "api_token": jira.api_token}),
        )["ARN"]
        topic, mailbox = owners_mailbox(core, f"remedy-owners-{suffix}", f"owners-{suffix}")
        for name, value in {
            "REMEDY_LEDGER_TABLE": LEDGER_TABLE,
            "REMEDY_EXTERNAL_ID": EXTERNAL_ID,
            "REMEDY_POLICY_DIR": str(policy(world, on_recurrence)),
            "REMEDY_SLACK_SECRET_ARN": slack_arn,
            "REMEDY_SLACK_API_URL": slack.url,
            "REMEDY_OWNER_TOPIC_ARN": topic,
            "REMEDY_JIRA_SITE": jira.url,
            "REMEDY_JIRA_SECRET_ARN": jira_arn,
            "REMEDY_REMEDIATOR_FUNCTION": "remedy-remediator",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(findings, "runtime", Runtime(findings.metrics))
        monkeypatch.setattr(remediator, "runtime", Runtime(remediator.metrics))
        deployed = Deployed(world, jira, slack, mailbox=mailbox)

        def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            assert params["headers"]["X-Amz-Invocation-Type"] == "Event"
            deployed.invokes.append(json.loads(params["body"]))
            return AWSResponse("", 202, {}, None), {"StatusCode": 202}

        session = boto3.session.Session(region_name=REGION)
        session.events.register("before-call.lambda.Invoke", invoke)
        monkeypatch.setattr(interactions, "_app", interactions.build(session))
        monkeypatch.setattr(interactions, "_policy", policy_version())
        yield deployed


@pytest.fixture
def linking(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    yield from deploy(world, monkeypatch, "link")


@pytest.fixture
def reopening(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    yield from deploy(world, monkeypatch, "reopen")


def steps(entry: Entry, first: int) -> list[str]:
    return [step_text(step) for step in entry.history[first:]]


def approved_and_quarantined(deployed: Deployed) -> tuple[str, Entry]:
    """Personal data in a new bucket of `A`: the finding decided, its ticket opened;
    approved in Slack; quarantined; the ticket resolved. The bucket and the entry."""
    world, jira = deployed.world, deployed.jira
    bucket = world.bucket(A, "payments-hr")
    stored = world.put(A, bucket, KEY, b"Name: Ana Example")
    pending = deployed.deliver(stored)
    assert pending.state is State.PENDING_APPROVAL
    issue_key = pending.attrs[SLOT]["id"]
    url = f"{jira.url}/browse/{issue_key}"
    assert pending.attrs[SLOT]["url"] == url
    assert pending.attrs[SLOT]["told"] == len(pending.history)
    issue = jira.issue(issue_key)
    assert issue.status == "To Do"
    assert issue.fields["labels"] == ["remedy", pending.attrs[SLOT]["token"]]
    assert adf_text(issue.fields["description"]).splitlines() == [
        f"remedy ledger entry {pending.key}: PENDING_APPROVAL",
        f"{pending.finding['severity']} Macie {PERSONAL}",
        f"decision: {pending.decision['reason']}",
        *steps(pending, 0),
    ]

    assert deployed.click(pending) == 200
    approved = world.store.get(pending.key)
    assert approved is not None and approved.state is State.APPROVED
    # The approver waits on the answer: the ticket is told later, never in line.
    assert approved.attrs[OWED] == DEFERRED
    assert issue.comments == []
    assert deployed.invokes == [{"key": pending.key}]

    assert deployed.run_handed_over() == [{"key": pending.key, "state": "QUARANTINED"}]
    done = world.store.get(pending.key)
    assert done is not None and done.state is State.QUARANTINED
    assert world.quarantined(stored) == [stored.body]
    assert not world.still_at_source(stored)
    qbucket, qkey = world.quarantine_bucket(A), f"{stored.bucket}/{stored.key}"
    (copy, *_) = world.versions(A, qbucket, qkey)
    told = steps(done, len(pending.history))
    assert [t.split(": ", 1)[1] for t in told] == [
        f"PENDING_APPROVAL -> APPROVED by slack:{APPROVER}: approved in Slack by pat",
        "APPROVED -> QUARANTINING by remedy: approved: quarantine starting",
        f"QUARANTINING -> QUARANTINED by remedy: moved s3://{stored.bucket}/{stored.key} to "
        f"s3://{qbucket}/{qkey} (version {copy['VersionId']}), CRC32 checksum verified",
    ]
    assert issue.text_of_comments() == [*told, "remedy: the entry ended QUARANTINED; resolved"]
    assert issue.status == "Done"
    assert done.attrs[SLOT]["status"] == "resolved"
    assert OWED not in done.attrs or done.attrs[OWED] is None
    # Slack's message for the entry, and the owners' email, link to the ticket.
    (message,) = [m for m in deployed.slack.messages() if pending.key in json.dumps(m.blocks)]
    assert url in json.dumps(message.blocks)
    assert any(f"Ticket {issue_key}: {url}" in mail for mail in deployed.mails())
    return bucket, done


def history(entry: Entry, capsys: pytest.CaptureFixture[str]) -> set[str]:
    capsys.readouterr()
    assert main(["history", "--json", "--account", A]) == 0
    return {s["ticket"] for s in json.loads(capsys.readouterr().out) if s["key"] == entry.key}


def test_a_ticket_follows_the_finding_through_the_functions_and_a_recurrence_links(
    linking: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    world, jira = linking.world, linking.jira
    bucket, first = approved_and_quarantined(linking)

    assert first.attrs[SLOT]["id"] == "SEC-1"
    assert history(first, capsys) == {f"{jira.url}/browse/SEC-1"}

    # A new object at the same key: a new occurrence, a new ticket linked to the first.
    again = world.put(A, bucket, KEY, b"Name: Ana Example, again")
    second = linking.deliver(again)
    assert second.key == f"{first.key}.2"
    assert second.attrs[PREVIOUS] == first.key
    assert second.state is State.PENDING_APPROVAL
    assert second.attrs[SLOT]["id"] == "SEC-2"
    assert jira.issue("SEC-2").links == ["SEC-1"]
    assert jira.issue("SEC-2").status == "To Do"
    assert jira.issue("SEC-1").status == "Done"
    assert list(jira.issues) == ["SEC-1", "SEC-2"]
    assert history(second, capsys) == {f"{jira.url}/browse/SEC-2"}


def test_a_recurrence_reopens_the_ticket_when_the_rule_says_so(
    reopening: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    world, jira = reopening.world, reopening.jira
    bucket, first = approved_and_quarantined(reopening)
    resolved = jira.issue("SEC-1").text_of_comments()

    again = world.put(A, bucket, KEY, b"Name: Ana Example, again")
    second = reopening.deliver(again)

    assert second.key == f"{first.key}.2"
    assert second.attrs[SLOT]["id"] == "SEC-1"
    issue = jira.issue("SEC-1")
    assert list(jira.issues) == ["SEC-1"]
    assert issue.status == "To Do"
    assert issue.text_of_comments() == [
        *resolved,
        "\n".join(
            [
                f"remedy: reopened: a new occurrence at {second.created_at}",
                f"remedy ledger entry {second.key}: PENDING_APPROVAL",
                f"{second.finding['severity']} Macie {PERSONAL}",
                f"decision: {second.decision['reason']}",
                *steps(second, 0),
            ]
        ),
    ]
    # The new occurrence is approved and quarantined in turn: the same ticket hears it and
    # is resolved again.
    assert reopening.click(second) == 200
    assert reopening.run_handed_over() == [{"key": second.key, "state": "QUARANTINED"}]
    done = world.store.get(second.key)
    assert done is not None and done.state is State.QUARANTINED
    assert again.body in world.quarantined(again)
    assert not world.still_at_source(again)
    assert issue.text_of_comments()[-1] == "remedy: the entry ended QUARANTINED; resolved"
    assert issue.status == "Done"
    assert history(second, capsys) == {f"{jira.url}/browse/SEC-1"}
