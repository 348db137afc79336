"""The demo checks its own claims by reading the world back, never by trusting the ledger.

For every finding the table shows, what it says about the objects is checked in S3 with
the owning account's admin credentials:

- moved (a remediation acting on objects, by the action registry, ended QUARANTINED):
  the named version is gone from the source; the copy is in the
  quarantine bucket of the SAME account, with the same bytes, encrypted SSE-KMS with that
  bucket's own key, exactly once; no other account's quarantine bucket has it;
- anything else (notified, rejected, ignored, waiting): the object is where it was, same
  version, same bytes, and no quarantine bucket has a copy.

Every object no finding remediated (the clean files among them) is untouched; the
Security Hub copy of a finding shares its ledger entry; the forged click was refused and
changed nothing; the genuine click was accepted and handed over once; the security group
and the public bucket are as open as the outcome says; every finding a person must see is
on a Slack message, and what a Slack outage held back reached Slack afterwards; and every
role remedy assumed in a member account trusts the principal that assumed it, with that
ExternalId (moto does not check trust policies: the demo reads them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from remedy.actions import registry
from remedy.demo.approval import Click
from remedy.demo.local_aws import LocalAWS
from remedy.demo.report import Claim
from remedy.demo.samples import Stored, block_public_access, world_open
from remedy.demo.scenario import Item
from remedy.demo.wire import AssumeRole
from remedy.devtools.slack_server import SlackServer
from remedy.ledger.base import Entry, State
from remedy.model import ResourceKind

#: States a person is told about in Slack.
SHOWN = frozenset(
    {State.PENDING_APPROVAL, State.NOTIFIED, State.REJECTED, State.QUARANTINED, State.APPROVED}
)


@dataclass(frozen=True, slots=True)
class Outcome:
    item: Item
    key: str
    entry: Entry | None

    def remediated(self, kind: ResourceKind) -> bool:
        """Whether the ledger says a remediation acting on `kind` (by the action registry)
        succeeded: then the world must show it, else it must be as it was."""
        entry = self.entry
        if entry is None or entry.state is not State.QUARANTINED:
            return False
        name = entry.decision.get("remediation")
        return bool(name) and kind.value in registry.get(str(name)).resource_kinds


class Verifier:
    def __init__(
        self, aws: LocalAWS, quarantine_bucket: Any, accounts: Iterable[str], key_alias: str
    ) -> None:
        self.aws = aws
        self.quarantine_bucket = quarantine_bucket
        self.accounts = tuple(accounts)
        self.key_alias = key_alias

    # -- S3 reads ------------------------------------------------------------------------------
    def _s3(self, account: str) -> Any:
        return self.aws.session(account).client("s3")

    def _read(self, account: str, bucket: str, key: str, version: str | None) -> bytes | None:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            kwargs["VersionId"] = version
        try:
            body: bytes = self._s3(account).get_object(**kwargs)["Body"].read()
        except ClientError:
            return None
        return body

    def at_source(self, stored: Stored) -> bool:
        return self._read(stored.account, stored.bucket, stored.key, stored.version_id) == (
            stored.body
        )

    def copies(self, stored: Stored) -> dict[str, list[dict[str, Any]]]:
        """Versions of ``<bucket>/<key>`` in every account's quarantine bucket."""
        found: dict[str, list[dict[str, Any]]] = {}
        qkey = f"{stored.bucket}/{stored.key}"
        for account in self.accounts:
            listing = self._s3(account).list_object_versions(
                Bucket=self.quarantine_bucket(account), Prefix=qkey
            )
            versions = [v for v in listing.get("Versions", []) if v["Key"] == qkey]
            if versions:
                found[account] = versions
        return found

    def _key_arn(self, account: str, key_id: str) -> str:
        kms = self.aws.session(account).client("kms")
        arn: str = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return arn

    # -- claims --------------------------------------------------------------------------------
    def quarantined(self, label: str, stored: Stored, entry: Entry) -> Claim:
        text = f"{label}: {stored.uri} moved to its own account's quarantine bucket"
        problems = []
        if self.at_source(stored):
            problems.append("still at the source")
        where = entry.attrs.get("destination") or {}
        qbucket = self.quarantine_bucket(stored.account)
        if where.get("bucket") != qbucket:
            problems.append(f"the ledger says it went to {where.get('bucket')}, not {qbucket}")
        copies = self.copies(stored)
        elsewhere = sorted(set(copies) - {stored.account})
        if elsewhere:
            problems.append(f"copies in other accounts: {', '.join(elsewhere)}")
        mine = copies.get(stored.account, [])
        if len(mine) != 1:
            problems.append(f"{len(mine)} copies in {qbucket}, not 1")
        else:
            version = mine[0]["VersionId"]
            qkey = f"{stored.bucket}/{stored.key}"
            if self._read(stored.account, qbucket, qkey, version) != stored.body:
                problems.append("the copy's bytes differ from the original's")
            head = self._s3(stored.account).head_object(Bucket=qbucket, Key=qkey, VersionId=version)
            expected = self._key_arn(stored.account, self.key_alias)
            used = head.get("SSEKMSKeyId")
            if head.get("ServerSideEncryption") != "aws:kms" or not used:
                problems.append(f"not SSE-KMS ({head.get('ServerSideEncryption')})")
            elif self._key_arn(stored.account, used) != expected:
                problems.append(f"encrypted with {used}, not the quarantine key {expected}")
            else:
                text += f" (s3://{qbucket}/{qkey}, SSE-KMS {self.key_alias})"
        return Claim(text, not problems, "; ".join(problems))

    def untouched(self, label: str, stored: Stored, state: str) -> Claim:
        problems = []
        if not self.at_source(stored):
            problems.append("the original version is no longer at the source")
        copies = self.copies(stored)
        if copies:
            problems.append(f"copies in the quarantine buckets of {', '.join(sorted(copies))}")
        return Claim(
            f"{label} ({state}): {stored.uri} untouched, in no quarantine bucket",
            not problems,
            "; ".join(problems),
        )

    def objects(self, outcomes: list[Outcome]) -> list[Claim]:
        claims = []
        for outcome in outcomes:
            state = outcome.entry.state if outcome.entry else None
            for stored in outcome.item.objects:
                if outcome.entry is not None and outcome.remediated(ResourceKind.S3_OBJECT):
                    claims.append(self.quarantined(outcome.item.label, stored, outcome.entry))
                else:
                    claims.append(
                        self.untouched(outcome.item.label, stored, state or "no ledger entry")
                    )
        return claims

    def bystanders(self, objects: Iterable[Stored], outcomes: list[Outcome]) -> Claim:
        named = {
            (s.account, s.bucket, s.key)
            for o in outcomes
            if o.remediated(ResourceKind.S3_OBJECT)
            for s in o.item.objects
        }
        rest = [s for s in objects if (s.account, s.bucket, s.key) not in named]
        changed = [s.uri for s in rest if not self.at_source(s) or self.copies(s)]
        clean = sum(1 for s in rest if s.key.startswith("clean/"))
        return Claim(
            f"{len(rest)} objects no finding remediated ({clean} clean files among them) "
            "are untouched and in no quarantine bucket",
            not changed,
            ", ".join(changed),
        )


def dedupe(outcomes: list[Outcome]) -> list[Claim]:
    claims = []
    by_sample = {o.item.sample: o for o in outcomes}
    for outcome in outcomes:
        if outcome.item.same_as is None:
            continue
        first = by_sample.get(outcome.item.same_as)
        same = first is not None and first.key == outcome.key
        claims.append(
            Claim(
                f"{outcome.item.label}: same ledger entry as the native finding "
                f"({outcome.key}), so one remediation",
                same,
                "" if same else f"keys differ: {first.key if first else None} / {outcome.key}",
            )
        )
    return claims


def approvals(
    clicks: list[Click], before: dict[str, State], entries: dict[str, Entry], remediator: str
) -> list[Claim]:
    claims = []
    for click in clicks:
        entry = entries.get(click.key)
        if click.forged:
            problems = []
            if click.status != 401:
                problems.append(f"answered {click.status}")
            if click.handed_over:
                problems.append("the remediator was started")
            if entry is None or (entry.attrs.get("decided_by") or {}).get("id") == click.user:
                problems.append("the ledger records the forger's decision")
            claims.append(
                Claim(
                    f"forged Slack click ({click.action_id} on {click.key}, wrong signing "
                    "secret) refused with 401, nothing changed",
                    not problems,
                    "; ".join(problems),
                )
            )
        else:
            problems = []
            if click.status != 200:
                problems.append(f"answered {click.status}: {click.body}")
            handed = [(r.function, r.payload.get("key")) for r in click.handed_over]
            if handed != [(remediator, click.key)]:
                problems.append(f"handed over {handed}")
            decided = (entry.attrs.get("decided_by") or {}) if entry else {}
            if decided.get("id") != click.user:
                problems.append(f"the ledger records {decided or 'no decision'}")
            claims.append(
                Claim(
                    f"signed Slack click by approver {click.user} accepted (was "
                    f"{before.get(click.key, '?')}), handed to the remediator once",
                    not problems,
                    "; ".join(problems),
                )
            )
    return claims


def group(aws: LocalAWS, outcome: Outcome) -> Claim | None:
    if outcome.item.group is None:
        return None
    remediated = outcome.remediated(ResourceKind.SECURITY_GROUP)
    still_open = world_open(aws, outcome.item.group)
    ok = still_open != remediated
    what = "closed to the world" if remediated else "left open (no remediation)"
    return Claim(
        f"{outcome.item.label}: security group {outcome.item.group.group_id} {what}",
        ok,
        "" if ok else f"world-open on 3389: {still_open}",
    )


def bucket(aws: LocalAWS, outcome: Outcome) -> Claim | None:
    public = outcome.item.bucket
    if public is None:
        return None
    remediated = outcome.remediated(ResourceKind.S3_BUCKET)
    settings = block_public_access(aws, public)
    if remediated:
        ok = settings is not None and all(settings.values()) and len(settings) == 4
        what = "has all four Block Public Access settings on"
    else:
        ok = settings is None
        what = "left as it was (no Block Public Access; no remediation)"
    return Claim(
        f"{outcome.item.label}: bucket {public.bucket} {what}",
        ok,
        "" if ok else f"Block Public Access is {settings}",
    )


def slack_shows(slack: SlackServer, outcomes: list[Outcome]) -> Claim:
    missing = []
    for outcome in outcomes:
        entry = outcome.entry
        if entry is None or entry.state not in SHOWN:
            continue
        where = entry.attrs.get("slack") or {}
        if where.get("digest"):
            continue
        try:
            slack.message(str(where.get("channel")), str(where.get("ts")))
        except KeyError:
            missing.append(f"{outcome.item.label} ({entry.state.value})")
    return Claim(
        "every finding a person must see is on a Slack message",
        not missing,
        ", ".join(missing),
    )


def slack_outage(owed: int, answer: Any) -> Claim:
    """What the findings function could not post while Slack was down was owed, and the
    scheduled Slack outbox run, once Slack was back, sent all of it."""
    ok = owed > 0 and isinstance(answer, dict) and answer.get("owed") == 0
    return Claim(
        f"a Slack outage delayed {owed} message(s) and lost none: the scheduled Slack "
        "outbox run sent them once Slack was back",
        ok,
        "" if ok else f"owed while Slack was down: {owed}; the outbox run answered {answer!r}",
    )


def trust(
    aws: LocalAWS, calls: list[AssumeRole], principals: dict[str, str], role_name: str
) -> Claim:
    """Every AssumeRole into a member's remediation role, checked against that role's
    trust policy as AWS would (moto does not): the caller is the trusted principal and the
    ExternalId is the one the condition requires."""
    problems = []
    checked = 0
    for call in calls:
        account = call.role_arn.split(":")[4] if call.role_arn.count(":") >= 5 else ""
        if not call.role_arn.endswith(f":role/{role_name}"):
            continue
        checked += 1
        caller = principals.get(call.caller_key, f"unknown credentials {call.caller_key}")
        role = aws.session(account).client("iam").get_role(RoleName=role_name)["Role"]
        if not _trusts(role["AssumeRolePolicyDocument"], caller, call.external_id):
            problems.append(
                f"{caller} assumed {call.role_arn} (ExternalId "
                f"{'given' if call.external_id else 'missing'}), which its trust policy does "
                "not allow: AWS would refuse (AccessDenied)"
            )
    trusted = sorted(set(principals.values()))
    return Claim(
        f"{checked} AssumeRole calls into member remediation roles, each by the principal "
        "the role's trust policy names, with its ExternalId",
        checked > 0 and not problems,
        "; ".join(dict.fromkeys(problems)) or ("" if checked else f"none made ({trusted})"),
    )


def _trusts(document: Any, caller: str, external_id: str | None) -> bool:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    caller_account = caller.split(":")[4] if caller.count(":") >= 5 else ""
    for statement in document.get("Statement", []):
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        if statement.get("Effect") != "Allow" or "sts:AssumeRole" not in actions:
            continue
        principal = (statement.get("Principal") or {}).get("AWS")
        principal = [principal] if isinstance(principal, str) else principal or []
        if caller not in principal:
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        wanted_id = equals.get("sts:ExternalId")
        wanted_account = equals.get("aws:PrincipalAccount")
        if wanted_id is not None and wanted_id != external_id:
            continue
        if wanted_account is not None and wanted_account != caller_account:
            continue
        return True
    return False
