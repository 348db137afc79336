"""``remedy explain EVENT.json...``: what remedy would do with each event, without AWS
(unless ``--org-role`` names a role to read AWS Organizations through).

Prints one JSON document, ``{"events": [{"file", "findings", "error"}]}``, keys sorted and
indented so the output is stable to diff and script against. Each finding is the
normalised finding plus its ``decision`` ``{action, rule, reason}``. A file that cannot
be read as an event gets ``error`` (one line naming the file and the field) and a line
on stderr; the others are still explained, and the exit status is then 2. An event of
several findings of which only some cannot be read lists the others in ``findings`` and
each bad one in ``rejected`` (``index``, ``path``, ``error``), with ``error`` saying how
many, one stderr line per bad finding (``FILE: detail.findings[3].Resources[0].Id: ...``)
and exit status 2.
Each finding also has ``rails``: what the safety rails would do at ``--at TIME`` (default
now): the mode, the decision they turn it into, each change freeze on and why, the
breaker limits it counts against, and whether a managed-as-code tag would be read.
``--account-info ACCOUNT`` adds ``accounts``: what each account resolves to (owners,
Slack routing, approvers, environment, units) and which layer gave each field.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remedy import rails
from remedy.actions import registry
from remedy.cli import org_role
from remedy.cli.parser import account_id
from remedy.errors import InvalidEvent, PartlyInvalid
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.policy import Policy, decide
from remedy.policy.organizations import OrganizationsUnavailable
from remedy.views.terminal import one_line


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show how each event is read and what the policy decides (no AWS calls)",
        description=(
            "Normalise each EventBridge event file and show the policy's decision for every "
            "finding in it, as one JSON document on stdout. Exit status 2 if any file "
            "could not be read as an event (the others are still explained)."
        ),
    )
    parser.add_argument("events", nargs="*", metavar="EVENT.json", help="event files; - for stdin")
    parser.add_argument(
        "--aggregator",
        action="append",
        default=[],
        type=account_id,
        metavar="ACCOUNT",
        help="also trust this account to deliver other accounts' findings (repeatable)",
    )
    parser.add_argument(
        "--policy",
        metavar="DIR",
        help="policy folder (default: $REMEDY_POLICY_DIR, else the policies/ shipped with remedy)",
    )
    parser.add_argument(
        "--account-info",
        action="append",
        default=[],
        type=account_id,
        metavar="ACCOUNT",
        help="also show what this account resolves to and which layer gave each field (repeatable)",
    )
    parser.add_argument(
        "--at",
        type=_moment,
        metavar="TIME",
        help="judge the change freezes at this time (ISO 8601 with offset, e.g. "
        "2026-12-18T17:30+01:00; default now)",
    )
    org_role.add_argument(parser)
    parser.set_defaults(func=run)


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time (ISO 8601 with offset, e.g. 2026-12-18T17:30+01:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no offset: add one (Z or +01:00), times are compared in UTC"
        )
    return moment


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def explain_file(name: str, policy: Policy, at: datetime | None = None) -> dict[str, Any]:
    """The ``events[]`` entry for one file: its findings with decisions, or its error."""
    try:
        raw = _read(name)
    except OSError as exc:
        return _failed(name, f"cannot read: {exc.strerror or exc}")
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        return _failed(name, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except UnicodeDecodeError as exc:
        return _failed(name, f"not JSON: undecodable text ({exc.reason} at byte {exc.start})")
    try:
        findings = normalise(event)
    except PartlyInvalid as exc:
        return {
            **_explained(name, exc.findings, policy, at),
            "error": _one_line(f"{name}: {exc.summary()}"),
            "rejected": [
                {"index": bad.index, "path": bad.error.field, "error": bad.error.message}
                for bad in exc.bad
            ],
        }
    except InvalidEvent as exc:
        return _failed(name, str(exc))
    return _explained(name, findings, policy, at)


def _explained(
    name: str, findings: list[Finding], policy: Policy, at: datetime | None = None
) -> dict[str, Any]:
    when = at or datetime.now(UTC)
    out = []
    for finding in findings:
        decision = decide(finding, policy)
        out.append(
            {
                **finding.to_dict(),
                "decision": decision.to_dict(),
                "rails": rails.preview(finding, decision, policy, registry.actions(), when),
            }
        )
    return {"file": name, "findings": out, "error": None}


def _failed(name: str, message: str) -> dict[str, Any]:
    return {"file": name, "findings": [], "error": _one_line(f"{name}: {message}")}


def run(args: argparse.Namespace) -> int:
    if not args.events and not args.account_info:
        print(
            "remedy explain: nothing to explain: name event files or --account-info",
            file=sys.stderr,
        )
        return 2
    policy = org_role.load(args).with_aggregators(args.aggregator)
    entries = []
    status = 0
    try:
        accounts = [policy.accounts.resolve(a).to_dict() for a in args.account_info]
    except OrganizationsUnavailable as exc:
        print(f"remedy explain: {exc}", file=sys.stderr)
        return 2
    for name in args.events:
        entry = explain_file(name, policy, args.at)
        if entry["error"] is not None:
            # Each bad finding of a partly readable event on a line of its own.
            lines = [f"{name}: {bad['path']}: {bad['error']}" for bad in entry.get("rejected", ())]
            for line in lines or [entry["error"]]:
                print(f"remedy explain: {one_line(line)}", file=sys.stderr)
            status = 2
        entries.append(entry)
    document: dict[str, Any] = {"events": entries}
    if args.account_info:
        document["accounts"] = accounts
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return status
