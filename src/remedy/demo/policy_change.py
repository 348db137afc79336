"""The policy changed live: diff, push, the next finding routed by it, no rebuild.

One owner's Slack channel changes in a copy of the live policy (``remedy policy pull``);
``remedy policy diff`` shows the text and replays the demo's own findings from the
ledger through both policies; ``remedy policy push`` makes it live; the next finding
then goes to the new channel, through the same deployed functions. A folder that does
not load is refused at push, and nothing changes. A bundle then damaged in the bucket
directly (bypassing push) is refused by the functions, which keep the last good version:
the finding after it still goes to the new channel. ``remedy policy rollback`` ends it.

The commands run as ``remedy`` does, in this process, with the core account's
administrator credentials, as a person of the security team would.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remedy.cli import main as remedy
from remedy.demo.local_aws import LocalAWS
from remedy.demo.org import Organisation
from remedy.demo.report import Claim
from remedy.demo.scenario import Item, dated
from remedy.devtools.slack_server import SlackServer
from remedy.normalise import normalise
from remedy.policy import load_policy
from remedy.policy_live.bucket import KEY

SAMPLE = "securityhub-guardduty-ec2-command-and-control.json"
NEW_CHANNEL = "#analytics-security"
#: The findings this step sends, one new ledger entry each: after the push, after the damage.
FINDINGS = ("push", "damage")
#: How long the functions take a new version here (their check runs every second).
SETTLE_SECONDS = 1.1


class _Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run(demo: Any, emit: Callable[[list[Item]], list[str]]) -> list[Claim]:
    """`demo` is the runner (`remedy.demo.run.Demo`: its local AWS, organisation, Slack
    and progress); `emit` sends items through the routing and the findings function."""
    aws: LocalAWS = demo.aws
    org: Organisation = demo.org
    slack: SlackServer = demo.slack
    progress: Callable[[str], None] = demo.progress
    bucket = org.outputs["PolicyBucketName"]
    s3 = aws.session(org.core).client("s3")
    # moto's CloudFormation skips VersioningConfiguration: applied as the template states it.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    env = {
        **aws.credentials(org.core),
        "REMEDY_POLICY_BUCKET": bucket,
        "REMEDY_LEDGER_TABLE": org.outputs["LedgerTableName"],
    }
    work = Path(tempfile.mkdtemp(prefix="remedy-demo-policy-"))
    folder = work / "policy"
    claims: list[Claim] = []

    def cli(*args: str) -> tuple[int, str, str]:
        status, out, err = run_cli(env, list(args))
        progress(f"$ remedy {' '.join(args)}  -> exit {status}")
        for line in (out + err).splitlines():
            progress(f"    {line}")
        return status, out, err

    cli("policy", "pull", str(folder))
    event = _load(aws, org)
    (finding,) = normalise(event)
    old_channel = load_policy(folder).account(finding.account).channel_for(finding.severity)
    _set_channel(folder / "accounts.yaml", finding.account, NEW_CHANNEL)
    new_channel = load_policy(folder).account(finding.account).channel_for(finding.severity)

    status, out, _ = cli("policy", "diff", str(folder))
    changed_lines = [
        line
        for line in out.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    claims.append(
        Claim(
            "remedy policy diff shows the one changed line and replays the demo's own "
            "findings from the ledger: no decision changes",
            status == 0
            and len(changed_lines) == 2
            and NEW_CHANNEL in changed_lines[1]
            and ": 0 decisions change" in out,
            out.strip().splitlines()[-1] if out.strip() else "no output",
        )
    )
    status, out, _ = cli(
        "policy",
        "push",
        str(folder),
        "--allow-example-accounts",
        "-m",
        f"{finding.account}: Slack to {NEW_CHANNEL}",
    )
    good = out.strip()
    time.sleep(SETTLE_SECONDS)
    before = len(slack.messages(new_channel))
    emit([_item("after the push: a new GuardDuty finding", event, org.core, FINDINGS[0])])
    after_push = slack.messages(new_channel)[before:]
    claims.append(
        Claim(
            f"after remedy policy push, the next finding in {finding.account} went to "
            f"{new_channel} (was {old_channel}), with no build or deploy",
            status == 0 and bool(good) and old_channel != new_channel and len(after_push) == 1,
            f"version {good}; {len(after_push)} message(s) in {new_channel}",
        )
    )

    broken = work / "broken"
    shutil.copytree(folder, broken)
    (broken / "remediation.yaml").write_text("version: 1\nrules: [\n", encoding="utf-8")
    versions_before = _versions(s3, bucket)
    status, _, err = cli("policy", "push", str(broken), "--allow-example-accounts")
    claims.append(
        Claim(
            "a policy folder that is not valid YAML is refused at push, in one line naming "
            "the file, and the bucket keeps its versions",
            status == 2
            and len(err.splitlines()) == 1
            and err.startswith(f"{broken}/remediation.yaml:")
            and _versions(s3, bucket) == versions_before,
            err.strip(),
        )
    )

    s3.put_object(Bucket=bucket, Key=KEY, Body=b'{"format": 1, "files": {"remediation.yaml": ')
    corrupted = _versions(s3, bucket)[0]
    progress(f"s3://{bucket}/{KEY} overwritten directly with damaged JSON: version {corrupted}")
    time.sleep(SETTLE_SECONDS)
    refusals = _Refusals()
    logger = logging.getLogger("remedy.policy_live.loader")
    logger.addHandler(refusals)
    try:
        before = len(slack.messages(new_channel))
        emit([_item("after the damage: another GuardDuty finding", event, org.core, FINDINGS[1])])
    finally:
        logger.removeHandler(refusals)
    kept = slack.messages(new_channel)[before:]
    refused = [m for m in refusals.messages if f"policy version {corrupted} refused" in m]
    claims.append(
        Claim(
            "a bundle damaged in the bucket is refused by the functions (logged with its "
            "version and why, PolicyLoadFailed), which keep the last good version",
            bool(refused) and f"keeping version {good}" in refused[0] and len(kept) == 1,
            refused[0] if refused else "no refusal logged",
        )
    )

    status, out, _ = cli("policy", "rollback", good, "--allow-example-accounts")
    restored = _bundle_files(s3, bucket) == _bundle_files(s3, bucket, good)
    cli("policy", "history", "--limit", "4")
    claims.append(
        Claim(
            "remedy policy rollback pushes the last good version again (validated, recorded)",
            status == 0 and restored,
            f"version {good} live again as {out.strip()}",
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    return claims


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cli(env: dict[str, str], args: list[str]) -> tuple[int, str, str]:
    """``remedy ARGS`` in this process with `env` set: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = remedy(args)
    return status, out.getvalue(), err.getvalue()


def _load(aws: LocalAWS, org: Organisation) -> dict[str, Any]:
    import json

    event: dict[str, Any] = json.loads((org.root / "events" / SAMPLE).read_text(encoding="utf-8"))
    return dated(event, datetime.now(UTC))


def _item(label: str, event: dict[str, Any], sender: str, suffix: str) -> Item:
    """`event` as a new finding (its own id), sent by `sender`."""
    varied = copy.deepcopy(event)
    for finding in varied["detail"]["findings"]:
        finding["Id"] = f"{finding['Id']}/{suffix}"
    return Item(label, SAMPLE, sender, varied)


def _set_channel(accounts: Path, account: str, channel: str) -> None:
    """`account`'s Slack channel in accounts.yaml, its one ``channel:`` line changed."""
    lines = accounts.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f'"{account}":')
    at = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("channel:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = f'{indent}channel: "{channel}"\n'
    accounts.write_text("".join(lines), encoding="utf-8")


def _versions(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=KEY).get("Versions", [])
    return [v["VersionId"] for v in sorted(listed, key=lambda v: v["LastModified"], reverse=True)]


def _bundle_files(s3: Any, bucket: str, version: str | None = None) -> Any:
    import json

    extra = {"VersionId": version} if version else {}
    body = s3.get_object(Bucket=bucket, Key=KEY, **extra)["Body"].read()
    return json.loads(body)["files"]
