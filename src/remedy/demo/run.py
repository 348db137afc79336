"""``remedy demo`` from start to end: set up, emit, process, approve, report, verify."""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import remedy
from remedy.demo import containment, policy_change, rails, samples, scenario, tickets, verify, wire
from remedy.demo import controls as demo_controls
from remedy.demo.approval import Approver, Click
from remedy.demo.lambda_runtime import (
    AsyncRun,
    LocalFunction,
    LocalLambda,
    scheduled_event,
    sqs_event,
)
from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import PREFIX, Organisation
from remedy.demo.report import Claim, LogTally, Progress, Report, Row
from remedy.demo.routing import Delivery, Router
from remedy.devtools.jira_server import JiraServer
from remedy.devtools.slack_server import SlackServer
from remedy.errors import RemedyError
from remedy.ledger.base import Entry, State
from remedy.ledger.dynamodb import DynamoDBLedgerStore, utc_now
from remedy.ledger.queries import LedgerQueries
from remedy.normalise import normalise
from remedy.notify.outbox import SlackOutbox
from remedy.notify.slack_message import DISMISS_ACTION, QUARANTINE_ACTION
from remedy.policy import load_policy
from remedy.views.report import DEFAULT_PERIOD, Period
from remedy.views.report import read as report_data
from remedy.views.report_html import page as report_page
from remedy.views.status import DEAD_LETTER_QUEUES, render, status
from remedy.views.table import table as text_table

REGION = "eu-west-1"
FINDINGS = "remedy.handlers.findings.handler"
INTERACTIONS = "remedy.handlers.interactions.handler"
REMEDIATOR = "remedy.handlers.remediator.handler"
SLACK_OUTBOX = "remedy.handlers.slack_outbox.handler"
NEEDED = ("template.yaml", "member-account-template.yaml", "events", "samplesdata", "policies")


class CheckoutMissing(RemedyError):
    pass


def checkout() -> Path:
    root = Path(remedy.__file__).resolve().parent.parent.parent
    missing = [name for name in NEEDED if not (root / name).exists()]
    if missing:
        raise CheckoutMissing(
            f"remedy demo runs from a checkout of the project: {', '.join(missing)} not found "
            f"in {root}"
        )
    return root


def run(out: TextIO, *, report_path: Path | None = None, keep_running: bool = False) -> int:
    root = checkout()
    workdir = Path(tempfile.mkdtemp(prefix="remedy-demo-"))
    progress = Progress(out)
    aws = LocalAWS(REGION, workdir)
    slack = SlackServer()
    jira = JiraServer(projects={tickets.PROJECT})
    log = (workdir / "lambda.log").open("w", encoding="utf-8")
    tally = LogTally()
    try:
        aws.start()
        slack.start()
        jira.start()
        progress(
            f"local AWS (moto server) on {aws.url}; local Slack Web API on {slack.url}; "
            f"local Jira on {jira.url}"
        )
        demo = Demo(root, aws, slack, log, progress, jira)
        report = demo.run(tally)
        report.log_file = str(workdir / "lambda.log")
        report.seconds = progress.elapsed
        log.flush()
        report.print(out)
        print("\n$ remedy status", file=out)
        print(demo.status(), file=out)
        if report_path is not None:
            report.write(report_path)
            print(f"report written to {report_path}", file=out)
            page = html_path(report_path)
            demo.write_html_report(page)
            print(f"HTML report written to {page}", file=out)
        if keep_running:
            demo.look_around(out)
        return 0 if report.ok else 1
    finally:
        _unhook(tally, log)
        log.close()
        jira.stop()
        slack.stop()
        aws.stop()


def html_path(report_path: Path) -> Path:
    """Where the HTML report goes: beside the JSON one, ``.html`` for its suffix."""
    page = report_path.with_suffix(".html")
    return page if page != report_path else report_path.with_name(report_path.name + ".html")


def _unhook(tally: LogTally, log: TextIO) -> None:
    for logger in (logging.getLogger("remedy"), logging.getLogger("py.warnings")):
        for handler in list(logger.handlers):
            if handler is tally or getattr(handler, "stream", None) is log:
                logger.removeHandler(handler)
    logging.captureWarnings(False)


class Demo:
    def __init__(
        self,
        root: Path,
        aws: LocalAWS,
        slack: SlackServer,
        log: TextIO,
        progress: Progress,
        jira: JiraServer,
    ) -> None:
        self.root = root
        self.aws = aws
        self.slack = slack
        self.jira = jira
        self.log = log
        self.progress = progress
        self.org = Organisation(aws, root, progress)
        self.policy = load_policy(None)
        self.samples = samples.Samples([], [], [])
        self.remediator_name = ""

    # -- the story -------------------------------------------------------------------------------
    def run(self, tally: LogTally) -> Report:
        org = self.org
        org.deploy_core(
            self.slack.token,
            json.dumps({"email": self.jira.email, "api_token": self.jira.api_token}),
        )
        org.deploy_members()
        stored = samples.upload(self.aws, self.root, org.members)
        self.samples = stored
        self.progress(
            f"uploaded samplesdata/ ({len(stored.objects)} objects) into "
            + ", ".join(sorted({s.bucket for s in stored.objects}))
            + f"; security group {stored.groups[0].group_id} open to the world on 3389"
        )
        self._hook_logs(tally)
        functions = {
            handler: LocalFunction(
                self.aws,
                org.core,
                org.function(handler),
                root=self.root,
                slack_api_url=self.slack.url,
                log=self.log,
                jira_site=self.jira.url,
            )
            for handler in (FINDINGS, INTERACTIONS, REMEDIATOR, SLACK_OUTBOX)
        }
        service = LocalLambda(self.aws, functions.values())
        findings = functions[FINDINGS]
        self.remediator_name = functions[REMEDIATOR].function.name
        router = Router(self.aws, f"{PREFIX}-forward-", org.core, findings.function.queue_arn)
        taps = router.install_taps((*org.members, org.core))
        self.progress(f"{taps} forwarding rules tapped")
        items = scenario.build(self.root, stored, org.core, org.members)
        # From here on remedy is at work: every request it makes is kept (`wire`).
        self.aws.start_recording()
        store = DynamoDBLedgerStore(
            org.outputs["LedgerTableName"], self.aws.session(org.core).client("dynamodb")
        )
        keys: dict[str, str] = {}
        problems = self._emit(
            service, findings, router, store, [i for i in items if not i.during_slack_outage], keys
        )
        clicks, before = self._approve(service, functions, store, items, keys)
        told = demo_controls.run(self, service, router, store, self._story(functions), keys)
        items += told.items
        outage, held_back = self._slack_outage(
            service, functions, router, store, [i for i in items if i.during_slack_outage], keys
        )
        problems += held_back
        entries = {key: entry for key in set(keys.values()) if (entry := store.get(key))}
        outcomes = [
            verify.Outcome(item, keys.get(item.sample, ""), entries.get(keys.get(item.sample, "")))
            for item in items
        ]
        report = Report(problems=problems)
        report.claims = containment.show(
            self, service, functions[FINDINGS], functions[INTERACTIONS], store
        )
        report.rows = [self._row(o) for o in outcomes]
        report.approvals = [_click_summary(c) for c in clicks]
        report.counts = self._counts(functions, tally)
        requests = self.aws.recorded()
        self.aws.stop_recording()
        report.claims += self._verify(outcomes, clicks, before, entries)
        report.claims.append(outage)
        report.claims += told.claims
        report.claims += policy_change.run(
            self, partial(self._emit, service, findings, router, store, keys=keys)
        )
        report.claims += tickets.run(
            self,
            partial(self._emit, service, findings, router, store),
            self.approver(service, functions[INTERACTIONS]),
            store,
        )
        report.claims += rails.show(self.aws, self.root, org, findings, self.slack, self.progress)
        principals = {
            f.environment["AWS_ACCESS_KEY_ID"]: f.function.role_arn for f in functions.values()
        }
        report.claims.append(
            verify.trust(
                self.aws,
                wire.assume_role_calls(requests),
                principals,
                f"{PREFIX}-remediation",
            )
        )
        return report

    @staticmethod
    def _story(functions: dict[str, LocalFunction]) -> dict[str, LocalFunction]:
        return {handler: functions[handler] for handler in (FINDINGS, INTERACTIONS, REMEDIATOR)}

    def _hook_logs(self, tally: LogTally) -> None:
        logger = logging.getLogger("remedy")
        handler = logging.StreamHandler(self.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.addHandler(tally)
        logger.setLevel(logging.INFO)
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").addHandler(handler)

    def _emit(
        self,
        service: LocalLambda,
        findings: LocalFunction,
        router: Router,
        store: DynamoDBLedgerStore,
        items: list[scenario.Item],
        keys: dict[str, str],
    ) -> list[str]:
        """Emit `items` on their senders' default buses, route them by the templates' rules
        and run the findings function on the queue's batches; what routing got wrong."""
        for item in items:
            router.emit(item)
            self.progress(f"emitted on {item.sender}'s default bus: {item.label}")
        batches, problems = router.deliveries(findings.function.batch_size)
        self.progress(
            f"routed by the templates' rules: {sum(len(b) for b in batches)} events in the "
            "findings queue"
        )
        for batch in batches:
            keys.update(self._deliver(service, findings, router, store, batch))
        return problems

    def _slack_outage(
        self,
        service: LocalLambda,
        functions: dict[str, LocalFunction],
        router: Router,
        store: DynamoDBLedgerStore,
        items: list[scenario.Item],
        keys: dict[str, str],
    ) -> tuple[Claim, list[str]]:
        """Slack goes down while `items` are processed; once it is back, the Slack outbox
        function runs as its schedule would and must send everything that was held back."""
        outbox = SlackOutbox(self.aws.session(self.org.core).client("dynamodb"), store.table)
        self.slack.stop()
        self.progress("Slack is down (the local Slack server stopped)")
        problems = self._emit(service, functions[FINDINGS], router, store, items, keys)
        owed = outbox.count()
        self.slack.start()
        scheduler = functions[SLACK_OUTBOX]
        answer, _ = service.invoke(
            scheduler,
            scheduled_event(
                f"arn:aws:events:{self.aws.region}:{self.org.core}:rule/"
                f"{scheduler.function.name}-every-5-minutes",
                account=self.org.core,
                region=self.aws.region,
            ),
        )
        self.progress(
            f"Slack is back: {owed} message(s) were owed; the Slack outbox function, run as "
            f"its 5-minute schedule runs it, answered {answer}"
        )
        return verify.slack_outage(owed, answer), problems

    def _deliver(
        self,
        service: LocalLambda,
        findings: LocalFunction,
        router: Router,
        store: DynamoDBLedgerStore,
        batch: list[Delivery],
    ) -> dict[str, str]:
        """One batch through the findings function, as the event source mapping does it:
        the SQS event, then the messages it did not report as failed are deleted."""
        event = sqs_event(
            [(d.message, json.dumps(d.event)) for d in batch],
            findings.function.queue_arn,
            self.aws.region,
        )
        response, runs = service.invoke(findings, event)
        response = response or {}
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        sqs = self.aws.session(self.org.core).client("sqs")
        done = [d for d in batch if d.message["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=router.queue_url(),
                Entries=[
                    {"Id": str(i), "ReceiptHandle": d.message["ReceiptHandle"]}
                    for i, d in enumerate(done)
                ],
            )
        self.progress(
            f"findings function: SQS batch of {len(batch)}, {len(failed)} reported failed"
        )
        self._tell_runs(runs)
        keys = {}
        for delivery in batch:
            (finding, *_) = normalise(delivery.event)
            keys[delivery.item.sample] = finding.key
            entry = store.get(finding.key)
            now = f"{entry.decision.get('action')} -> {entry.state.value}" if entry else "no entry"
            flag = " (failed; left on the queue)" if delivery.message["MessageId"] in failed else ""
            self.progress(
                f"  {delivery.item.label}: forwarded by {delivery.rule} from "
                f"{delivery.event['account']}; {finding.key}: {now}{flag}"
            )
        return keys

    def _tell_runs(self, runs: list[AsyncRun]) -> None:
        for run in runs:
            said = run.error or run.result
            self.progress(f"  asynchronous invoke of {run.function} {run.payload}: {said}")

    def _approve(
        self,
        service: LocalLambda,
        functions: dict[str, LocalFunction],
        store: DynamoDBLedgerStore,
        items: list[scenario.Item],
        keys: dict[str, str],
    ) -> tuple[list[Click], dict[str, State]]:
        approver = self.approver(service, functions[INTERACTIONS])
        clicks: list[Click] = []
        before: dict[str, State] = {}
        pending = [
            (item, entry)
            for item in items
            if item.sample in keys
            and (entry := store.get(keys[item.sample])) is not None
            and entry.state is State.PENDING_APPROVAL
            and item.same_as is None
        ]
        if not pending:
            self.progress("no finding waits for approval: nothing to click")
            return clicks, before
        item, entry = pending[0]
        approvers = self.policy.accounts.get(entry.account).approvers
        if not approvers.users:
            self.progress(f"account {entry.account} names no approver user: nothing to click")
            return clicks, before
        user = approvers.users[0]
        before[entry.key] = entry.state
        forged = approver.click(entry.key, DISMISS_ACTION, "U0MALLORY1", forged=True)
        clicks.append(forged)
        self.progress(f"forged Dismiss click on {item.label}: HTTP {forged.status}")
        genuine = approver.click(entry.key, QUARANTINE_ACTION, user)
        clicks.append(genuine)
        self.progress(
            f"{user} clicked Quarantine on {item.label}: HTTP {genuine.status}, "
            f"{len(genuine.handed_over)} asynchronous invoke(s)"
        )
        self._tell_runs(list(genuine.handed_over))
        return clicks, before

    def approver(self, service: LocalLambda, interactions: LocalFunction) -> Approver:
        """Who clicks the buttons Slack shows, through the interactions function."""
        return Approver(
            service,
            self.slack,
            interactions,
            signing_secret=self.org.signing_secret,
            route=interactions.function.route,
            api_id=interactions.function.api_id,
        )

    # -- telling -------------------------------------------------------------------------------
    def _row(self, outcome: verify.Outcome) -> Row:
        item, entry = outcome.item, outcome.entry
        if entry is None:
            return Row(item.label, item.sample, item.sender, "?", outcome.key, "?", "", "none", "")
        decision = entry.decision
        destination = entry.attrs.get("destination") or {}
        if entry.state is State.QUARANTINED and destination:
            where = f"s3://{destination['bucket']}/{destination.get('key', '')}"
        elif item.objects:
            where = ", ".join(f"{s.uri} (unchanged)" for s in item.objects)
        elif item.group is not None:
            open_now = samples.world_open(self.aws, item.group)
            where = f"{item.group.group_id} ({'still' if open_now else 'no longer'} open)"
        elif item.bucket is not None:
            blocked = samples.block_public_access(self.aws, item.bucket)
            state = "Block Public Access on" if blocked and all(blocked.values()) else "public"
            where = f"s3://{item.bucket.bucket} ({state})"
        else:
            where = ", ".join(
                f"s3://{r['bucket']}" if r.get("bucket") else str(r.get("id", ""))
                for r in entry.finding.get("resources", [])[:2]
            )
        note = ""
        if item.same_as is not None:
            note = "same entry as the native finding"
        return Row(
            label=item.label,
            sample=item.sample,
            sender=item.sender,
            account=entry.account,
            key=entry.key,
            decision=str(decision.get("action")),
            rule=str(decision.get("rule")),
            state=entry.state.value,
            where=where,
            note=note,
        )

    def _counts(self, functions: dict[str, LocalFunction], tally: LogTally) -> dict[str, Any]:
        methods = Counter(r.method for r in self.slack.requests)
        sqs = self.aws.session(self.org.core).client("sqs")
        by_account: Counter[str] = Counter()
        total = 0
        while messages := sqs.receive_message(
            QueueUrl=self.org.owner_mailbox_url, MaxNumberOfMessages=10
        ).get("Messages", []):
            for message in messages:
                body = json.loads(message["Body"])
                account = (body.get("MessageAttributes") or {}).get("account_id", {})
                by_account[str(account.get("Value", "?"))] += 1
                total += 1
            sqs.delete_message_batch(
                QueueUrl=self.org.owner_mailbox_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        return {
            "slack_posts": methods.get("chat.postMessage", 0),
            "slack_updates": methods.get("chat.update", 0),
            "slack_ephemeral": methods.get("chat.postEphemeral", 0),
            "slack_requests": dict(methods),
            "sns_notifications": total,
            "sns_by_account": dict(by_account),
            "lambda_invocations": {f.function.name: f.invocations for f in functions.values()},
            "log": tally.summary(),
        }

    def _verify(
        self,
        outcomes: list[verify.Outcome],
        clicks: list[Click],
        before: dict[str, State],
        entries: dict[str, Entry],
    ) -> list[Any]:
        org = self.org
        checker = verify.Verifier(
            self.aws,
            org.quarantine_bucket,
            (*org.members, org.core),
            f"alias/{PREFIX}-quarantine",
        )
        claims = checker.objects(outcomes)
        claims.append(checker.bystanders(self.samples.objects, outcomes))
        claims += verify.dedupe(outcomes)
        claims += verify.approvals(clicks, before, entries, self.remediator_name)
        claims += [c for o in outcomes if (c := verify.group(self.aws, o)) is not None]
        claims += [c for o in outcomes if (c := verify.bucket(self.aws, o)) is not None]
        claims.append(verify.slack_shows(self.slack, outcomes))
        return claims

    def status(self) -> str:
        """`remedy status` of the core account as the demo left it (read as the CLI reads
        it: the ledger's attention index, the outbox item, the DLQs)."""
        session = self.aws.session(self.org.core)
        dynamodb = session.client("dynamodb")
        table = self.org.outputs["LedgerTableName"]
        result = status(
            LedgerQueries(table, dynamodb),
            SlackOutbox(dynamodb, table),
            session.client("sqs"),
            self.policy.accounts,
            [f"{PREFIX}-{name}" for name in DEAD_LETTER_QUEUES],
            utc_now(),
        )
        return render(result, text_table)

    def write_html_report(self, path: Path) -> None:
        """`remedy report --html` of the last 30 days as the demo left the ledger (read as
        the CLI reads it: the ledger's activity index)."""
        dynamodb = self.aws.session(self.org.core).client("dynamodb")
        now = utc_now()
        queries = LedgerQueries(self.org.outputs["LedgerTableName"], dynamodb, clock=lambda: now)
        result = report_data(queries, self.policy.accounts, Period(now - DEFAULT_PERIOD, now))
        path.write_text(report_page(result, generated=now), encoding="utf-8")

    def look_around(self, out: TextIO) -> None:
        """Leave both servers up, with an ``aws`` command line per account to look around."""
        url, region = self.aws.url, self.aws.region
        print(f"\nThe local AWS stays up at {url} (moto's dashboard: {url}/moto-api/),", file=out)
        print(f"the local Slack Web API at {self.slack.url}. Ctrl-C stops both.", file=out)
        print(
            "\nOne alias per account (keys of a local user there; nothing leaves 127.0.0.1):",
            file=out,
        )
        for account in (*self.org.members, self.org.core):
            key = self._viewer_key(account)
            print(
                f"alias aws{account[:3]}='AWS_ACCESS_KEY_ID={key['AccessKeyId']} "
                f"AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']} AWS_SESSION_TOKEN= "
                f"aws --endpoint-url {url} --region {region}'",
                file=out,
            )
        print("\nthen, for example:", file=out)
        for account in self.org.members:
            print(
                f"aws{account[:3]} s3 ls --recursive s3://{self.org.quarantine_bucket(account)}",
                file=out,
            )
        for bucket in sorted({(s.account, s.bucket) for s in self.samples.objects}):
            print(f"aws{bucket[0][:3]} s3 ls --recursive s3://{bucket[1]}", file=out)
        core = self.org.core[:3]
        table = self.org.outputs["LedgerTableName"]
        print(f"aws{core} dynamodb scan --table-name {table}", file=out)
        print(f"aws{core} sqs list-queues", file=out)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=out)

    def _viewer_key(self, account: str) -> dict[str, str]:
        iam = self.aws.session(account).client("iam")
        iam.create_user(UserName="demo-viewer")
        key: dict[str, str] = iam.create_access_key(UserName="demo-viewer")["AccessKey"]
        return key


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _click_summary(click: Click) -> dict[str, Any]:
    who = "forged" if click.forged else click.user
    return {
        "key": click.key,
        "action": click.action_id,
        "user": click.user,
        "forged": click.forged,
        "status": click.status,
        "handed_over": [
            {"function": r.function, "payload": r.payload, "result": r.result, "error": r.error}
            for r in click.handed_over
        ],
        "summary": f"{who} {click.action_id} on {click.key}: HTTP {click.status}"
        + "".join(f", then {r.function}({r.payload})" for r in click.handed_over),
    }
