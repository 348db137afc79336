"""The demo's Jira scene: a ticket that follows an approval from the finding to its end.

The security team turns tickets on for personal data: a copy of the live policy (``remedy
policy pull``) whose ``approve-personal-data`` rule asks ``ticket: jira`` and whose default
block names the Jira project, made live with ``remedy policy push``. Then, through the
deployed functions:

1. a new personal-data finding in a member is routed to the findings function, which
   asks for approval and opens a Jira issue on the local Jira server (the stack's Jira
   secret holds that server's account), linked from the Slack message;
2. the approver clicks Quarantine in Slack: the interactions function records who, and
   leaves the ticket owed (a person waits on its answer), and hands over to the
   remediator, which quarantines the object and tells the ticket every step;
3. the issue is read back from the local Jira server: one comment per step (approved by
   whom, quarantine started, quarantined where), resolved (Done) at the end; ``remedy
   history`` names it. ``remedy policy rollback`` then puts the policy back.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remedy.demo.approval import Approver
from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import Organisation
from remedy.demo.policy_change import SETTLE_SECONDS, run_cli
from remedy.demo.rails import macie_event, new_bucket, put_object
from remedy.demo.report import Claim
from remedy.demo.samples import Stored
from remedy.demo.scenario import Item
from remedy.devtools.jira_server import JiraServer
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, LedgerStore, State
from remedy.notify.slack_message import QUARANTINE_ACTION
from remedy.policy_live.bucket import KEY
from remedy.tickets.lifecycle import SLOT, step_text

PROJECT = "SEC"
RULE = "approve-personal-data"
SAMPLE = "macie-classification-personal.json"
#: The findings this scene sends: one new ledger entry.
FINDINGS = 1


def run(
    demo: Any,
    emit: Callable[[list[Item], dict[str, str]], list[str]],
    approver: Approver,
    store: LedgerStore,
) -> list[Claim]:
    """`demo` is the runner (`remedy.demo.run.Demo`); `emit` sends items through routing
    and the findings function, records each item's ledger key by its sample, and answers
    what routing got wrong."""
    aws: LocalAWS = demo.aws
    org: Organisation = demo.org
    progress: Callable[[str], None] = demo.progress
    env = {
        **aws.credentials(org.core),
        "REMEDY_POLICY_BUCKET": org.outputs["PolicyBucketName"],
        "REMEDY_LEDGER_TABLE": org.outputs["LedgerTableName"],
    }

    def cli(*args: str) -> tuple[int, str]:
        status, out, err = run_cli(env, list(args))
        progress(f"$ remedy {' '.join(args)}  -> exit {status}")
        return status, out + err

    live = _live_version(aws, org)
    folder = Path(tempfile.mkdtemp(prefix="remedy-demo-tickets-")) / "policy"
    cli("policy", "pull", str(folder))
    _ask_tickets(folder)
    status, said = cli(
        "policy", "push", str(folder), "--allow-example-accounts", "-m", "Jira for personal data"
    )
    if status != 0:
        return [Claim("the policy asking Jira tickets was pushed", False, said.strip())]
    try:
        time.sleep(SETTLE_SECONDS)
        claims = _scene(demo, emit, approver, store, cli)
    finally:
        status, said = cli("policy", "rollback", live, "--allow-example-accounts")
    claims.append(
        Claim(
            f"remedy policy rollback put back the policy live before the scene ({live})",
            status == 0,
            said.strip().splitlines()[-1] if said.strip() else "no output",
        )
    )
    return claims


def _scene(
    demo: Any,
    emit: Callable[[list[Item], dict[str, str]], list[str]],
    approver: Approver,
    store: LedgerStore,
    cli: Callable[..., tuple[int, str]],
) -> list[Claim]:
    aws: LocalAWS = demo.aws
    org: Organisation = demo.org
    jira: JiraServer = demo.jira
    account = org.members[1]
    stored = put_object(
        aws, account, new_bucket(aws, account, f"tickets-hr-{account}"), "hr/ana.csv", b"Ana,1984"
    )
    event = macie_event(org.root, SAMPLE, stored)
    item = Item("Jira scene: personal data", "tickets:" + SAMPLE, account, event, (stored,))
    keys: dict[str, str] = {}
    problems = emit([item], keys)
    key = keys.get(item.sample, "")
    opened = store.get(key) if key else None
    if opened is None or problems:
        return [Claim("the personal-data finding reached the ledger", False, "; ".join(problems))]
    issue_key = str((opened.attrs.get(SLOT) or {}).get("id", ""))
    demo.progress(f"jira: {key} is {opened.state.value}; issue {issue_key}")
    claims = [_opened(jira, demo.slack, opened, issue_key)]

    user = demo.policy.accounts.get(account).approvers.users[0]
    # The interactions function's invoke of the remediator is read from moto's recording.
    aws.start_recording()
    try:
        click = approver.click(key, QUARANTINE_ACTION, user)
    finally:
        aws.stop_recording()
    done = store.get(key)
    demo.progress(
        f"jira: {user} clicked Quarantine: HTTP {click.status}; "
        f"{done.state.value if done else 'no entry'}"
    )
    claims.append(_followed(jira, done, issue_key, user, org.quarantine_bucket(account), stored))
    _, shown = cli("history", "--json", "--account", account)
    claims.append(_in_history(shown, key, f"{jira.url}/browse/{issue_key}"))
    return claims


def _live_version(aws: LocalAWS, org: Organisation) -> str:
    s3 = aws.session(org.core).client("s3")
    head = s3.head_object(Bucket=org.outputs["PolicyBucketName"], Key=KEY)
    return str(head["VersionId"])


def _ask_tickets(folder: Path) -> None:
    """The personal-data rule asks a Jira ticket; the default block names the project."""
    rules = folder / "remediation.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(
        text.replace(f"  - id: {RULE}\n", f"  - id: {RULE}\n    ticket: jira\n", 1),
        encoding="utf-8",
    )
    accounts = folder / "accounts.yaml"
    text = accounts.read_text(encoding="utf-8")
    accounts.write_text(
        text.replace(
            "\ndefault:\n", f"\ndefault:\n  tickets: {{jira: {{project: {PROJECT}}}}}\n", 1
        ),
        encoding="utf-8",
    )


def _opened(jira: JiraServer, slack: SlackServer, entry: Entry, issue_key: str) -> Claim:
    url = f"{jira.url}/browse/{issue_key}"
    issue = jira.issues.get(issue_key)
    linked = any(
        entry.key in json.dumps(m.blocks) and url in json.dumps(m.blocks) for m in slack.messages()
    )
    ok = (
        entry.state is State.PENDING_APPROVAL
        and issue is not None
        and issue.fields["project"] == {"key": PROJECT}
        and entry.attrs[SLOT]["url"] == url
        and linked
    )
    return Claim(
        "a finding awaiting approval opened one Jira issue, recorded on its ledger entry and "
        "linked from its Slack message",
        ok,
        f"{issue_key} ({issue.status if issue else 'not on the Jira server'}): "
        f"{issue.fields['summary'] if issue else ''}; Slack links it: {linked}",
    )


def _followed(
    jira: JiraServer,
    entry: Entry | None,
    issue_key: str,
    user: str,
    quarantine: str,
    stored: Stored,
) -> Claim:
    issue = jira.issues.get(issue_key)
    comments = issue.text_of_comments() if issue else []
    # The steps after the issue was opened (it opened on the approval's request).
    asked = (
        [i for i, s in enumerate(entry.history) if s.source == "PENDING_APPROVAL"] if entry else []
    )
    told = [step_text(s) for s in entry.history[asked[0] :]] if entry and asked else []
    where = f"to s3://{quarantine}/{stored.bucket}/{stored.key} "
    ok = (
        entry is not None
        and entry.state is State.QUARANTINED
        and issue is not None
        and comments == [*told, "remedy: the entry ended QUARANTINED; resolved"]
        and [c.split(": ")[1] for c in told]
        == [
            f"PENDING_APPROVAL -> APPROVED by slack:{user}",
            "APPROVED -> QUARANTINING by remedy",
            "QUARANTINING -> QUARANTINED by remedy",
        ]
        and where in told[-1]
        and issue.status == "Done"
    )
    return Claim(
        "the Jira issue got a comment as the approval and the quarantine happened, and was "
        "resolved at the end (read back from the Jira server)",
        ok,
        f"{issue_key} {issue.status if issue else '?'}: " + " | ".join(comments),
    )


def _in_history(shown: str, key: str, url: str) -> Claim:
    try:
        steps = [s for s in json.loads(shown) if s["key"] == key]
    except ValueError:
        steps = []
    tickets = {s["ticket"] for s in steps}
    return Claim(
        "remedy history names the ticket on every step of the entry",
        bool(steps) and tickets == {url},
        f"{len(steps)} step(s), ticket {', '.join(sorted(tickets)) or 'none'}",
    )
