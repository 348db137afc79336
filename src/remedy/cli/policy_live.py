"""``remedy policy push|pull|diff|history|rollback``: the live policy in the core stack's
bucket (`remedy.policy_live`; docs/policy-live.md).

They act with the AWS credentials of the environment on the bucket named by
``--bucket`` or ``REMEDY_POLICY_BUCKET`` (the core stack's output ``PolicyBucketName``);
``diff`` also reads the ledger (``REMEDY_LEDGER_TABLE``). Exit 0, or 2 with one line
saying what was wrong (a policy problem: one ``file:path: message`` line each) and
nothing changed.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remedy.errors import PolicyError, RemedyError

Runner = Callable[[argparse.Namespace], int]

if TYPE_CHECKING:
    from remedy.policy import Policy
    from remedy.policy_live.bucket import PolicyBucket
    from remedy.policy_live.bundle import Bundle

#: The live version a policy folder was pushed from or pulled at (not part of the bundle).
BASE_FILE = ".remedy-policy-version"
DEFAULT_SINCE = "7d"
#: What every command's help says after its own line: the docstring's second paragraph.
_ABOUT = " ".join(__doc__.split("\n\n")[1].replace("``", "").split())
_SPAN = re.compile(r"(\d+)([dh])\Z")


class Refused(RemedyError):
    """A push that would overwrite another's, or a bucket that is not named."""


def since(text: str) -> datetime:
    """``7d``, ``12h`` or an ISO 8601 date or time (UTC unless it says otherwise)."""
    from remedy.cli.history import moment

    span = _SPAN.match(text)
    if span is None:
        return moment(text)
    count, unit = int(span.group(1)), span.group(2)
    return datetime.now(UTC) - (timedelta(days=count) if unit == "d" else timedelta(hours=count))


def add_commands(commands: Any) -> None:
    def command(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help, description=f"{help}. {_ABOUT}"
        )
        parser.add_argument(
            "--bucket", help="the policy bucket (default: $REMEDY_POLICY_BUCKET)", default=None
        )
        parser.set_defaults(func=func)
        return parser

    push = command(
        "push",
        "validate a policy folder as 'validate --for-deploy' does and make it the live version",
        run_push,
    )
    push.add_argument("directory", metavar="DIR", help="the policy folder")
    push.add_argument("--message", "-m", default="", help="why (kept with the version)")
    push.add_argument(
        "--force",
        action="store_true",
        help=f"push even if the live version is not the one DIR is based on ({BASE_FILE})",
    )
    push.add_argument(
        "--allow-example-accounts",
        action="store_true",
        help="accept the example account ids remedy ships (the demo on a local AWS only)",
    )

    pull = command("pull", "write the live version's files into a folder to edit", run_pull)
    pull.add_argument("directory", metavar="DIR", help="the folder (created if need be)")
    pull.add_argument(
        "--force",
        action="store_true",
        help=f"overwrite files in DIR edited since the version it is based on ({BASE_FILE})",
    )

    diff = command(
        "diff",
        "the text that would change, then every stored finding whose decision would",
        run_diff,
    )
    diff.add_argument("directory", metavar="DIR", help="the policy folder to compare")
    diff.add_argument(
        "--since",
        type=since,
        default=DEFAULT_SINCE,
        help=f"replay findings received since: 30d, 12h or a date (default {DEFAULT_SINCE})",
    )

    history = command("history", "the pushed versions, newest first", run_history)
    history.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    rollback = command(
        "rollback", "push an earlier version again (validated again, recorded)", run_rollback
    )
    rollback.add_argument("version", metavar="VERSION", help="a version id from 'history'")
    rollback.add_argument("--message", "-m", default="", help="why (kept with the version)")
    rollback.add_argument("--allow-example-accounts", action="store_true", help=argparse.SUPPRESS)


def _store(args: argparse.Namespace) -> PolicyBucket:
    import os

    import boto3

    from remedy.policy_live.bucket import PolicyBucket

    name = args.bucket or os.environ.get("REMEDY_POLICY_BUCKET", "")
    if not name:
        raise Refused(
            "no policy bucket: pass --bucket or set REMEDY_POLICY_BUCKET to the core stack's "
            "output PolicyBucketName"
        )
    return PolicyBucket(boto3.client("s3"), name)


def _one_line(command: str) -> Callable[[Runner], Runner]:
    """`command` with AWS's errors and its refusals said in one line, exit status 2; a
    policy's problems go on to `remedy.cli.main`, which says each in its own line."""

    def wrap(run: Runner) -> Runner:
        @functools.wraps(run)
        def guarded(args: argparse.Namespace) -> int:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return run(args)
            except PolicyError:
                raise
            except (ClientError, BotoCoreError, RemedyError) as error:
                said = " ".join(str(error).split())
                print(f"remedy policy {command}: {said}", file=sys.stderr)
                return 2

        return guarded

    return wrap


def _deployable(folder: Path, allow_examples: bool) -> Bundle:
    """The folder's bundle if it passes ``validate --for-deploy``; else `PolicyError`."""
    from remedy.policy import load_policy
    from remedy.policy.examples import examples_in
    from remedy.policy_live.bundle import from_folder

    bundle = from_folder(folder)
    load_policy(folder)
    examples = examples_in(folder)
    if examples and not allow_examples:
        raise PolicyError(examples)
    return bundle


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _push(store: PolicyBucket, bundle: Bundle, expect: Any, **record: Any) -> str:
    import boto3

    from remedy.policy_live.bundle import Bundle, Record

    who = boto3.client("sts").get_caller_identity()["Arn"]
    stamped = Bundle(
        bundle.files, Record(pushed_by=who, pushed_at=_utc(datetime.now(UTC)), **record)
    )
    return store.put(stamped, expect)


@_one_line("push")
def run_push(args: argparse.Namespace) -> int:
    folder = Path(args.directory)
    # Where it would go first: no AWS or no bucket is one line before the folder's problems.
    store = _store(args)
    live = store.live()
    bundle = _deployable(folder, args.allow_example_accounts)
    marker = folder / BASE_FILE
    base = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
    if live is not None and base != live.version_id and not args.force:
        raise Refused(
            f"the live version is {live.version_id}, but {folder} is based on "
            f"{base or 'no version (no ' + BASE_FILE + ')'}: someone else pushed since; "
            f"see 'remedy policy diff {folder}', start again from 'remedy policy pull', "
            "or overwrite with --force"
        )
    base = live.version_id if live else None
    version = _push(store, bundle, live, base=base, message=args.message)
    marker.write_text(version + "\n", encoding="utf-8")
    print(version)
    print(
        f"pushed {folder} ({bundle.sha256[:12]}) as version {version} of {store.uri}; "
        "every function takes it within a minute",
        file=sys.stderr,
    )
    return 0


def _live_bundle(store: PolicyBucket) -> tuple[str, Bundle]:
    """The live version's id and bundle; the built-in folder's when nothing was pushed."""
    from remedy.policy_files import default_dir
    from remedy.policy_live.bundle import from_bytes, from_folder

    stored = store.fetch()
    if stored is None:
        return "built-in", from_folder(default_dir())
    return stored.version_id, from_bytes(stored.body, store.where(stored.version_id))


def _based_on(store: PolicyBucket, folder: Path) -> tuple[str | None, Mapping[str, str]]:
    """The version `folder` was pulled at or pushed as (`BASE_FILE`) and that version's
    files; no files when there is no marker or the bucket no longer gives that version."""
    from remedy.policy_files import default_dir
    from remedy.policy_live.bundle import from_bytes, from_folder

    marker = folder / BASE_FILE
    if not marker.is_file():
        return None, {}
    base = marker.read_text(encoding="utf-8").strip()
    if base == "built-in":
        return base, from_folder(default_dir()).files
    stored = store.fetch(base) if base else None
    if stored is None:
        return base, {}
    try:
        return base, from_bytes(stored.body, store.where(base)).files
    except PolicyError:
        return base, {}


def _edited(store: PolicyBucket, folder: Path, live: Mapping[str, str]) -> tuple[str, list[str]]:
    """The policy files in `folder` that a pull of `live` would overwrite and that hold
    changes of their own: as neither the version the folder is based on nor the live one
    has them (with no base to compare with, every file that differs from the live one);
    and what they were compared with, for the refusal to say."""
    from remedy.policy_live.bundle import PATTERN

    if not folder.is_dir():
        return "", []
    version, base = _based_on(store, folder)
    if version is None:
        compared = f"it has no {BASE_FILE}"
    elif not base:
        compared = f"it is based on version {version}, which {store.uri} does not give back"
    else:
        compared = f"edited since version {version}"
    edited = []
    for path in sorted(folder.glob(PATTERN)):
        # Undecodable text differs from every bundle's, so it counts as an edit.
        text = path.read_bytes().decode("utf-8", errors="replace")
        if path.name in live and text not in (live[path.name], base.get(path.name)):
            edited.append(path.name)
    return compared, edited


@_one_line("pull")
def run_pull(args: argparse.Namespace) -> int:
    folder = Path(args.directory)
    store = _store(args)
    version, bundle = _live_bundle(store)
    compared, edited = ("", []) if args.force else _edited(store, folder, bundle.files)
    if edited:
        raise Refused(
            f"{folder} has changes that pulling version {version} would overwrite, in "
            f"{', '.join(edited)} ({compared}); push them first ('remedy policy diff {folder}' "
            "shows them), pull into another folder, or overwrite with --force"
        )
    bundle.write(folder)
    (folder / BASE_FILE).write_text(version + "\n", encoding="utf-8")
    print(f"version {version} written to {folder}", file=sys.stderr)
    return 0


def text_diff(
    old: Mapping[str, str], new: Mapping[str, str], old_label: str, new_label: str
) -> str:
    """A unified diff of every file in either bundle."""
    out: list[str] = []
    for name in sorted(set(old) | set(new)):
        out += difflib.unified_diff(
            old.get(name, "").splitlines(keepends=True),
            new.get(name, "").splitlines(keepends=True),
            fromfile=f"{old_label}/{name}",
            tofile=f"{new_label}/{name}",
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _progress(total: int | None, what: str) -> Any:
    """A progress bar on a terminal (tqdm, when installed); nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=what, unit=" findings", file=sys.stderr, leave=False)


@_one_line("diff")
def run_diff(args: argparse.Namespace) -> int:
    import boto3

    from remedy.ledger.queries import LedgerQueries
    from remedy.policy import load_policy
    from remedy.policy.organizations import attach
    from remedy.policy_live.bundle import from_folder, validate
    from remedy.policy_live.replay import replay
    from remedy.settings import Settings

    folder = Path(args.directory)
    settings = Settings.from_env()
    version, live = _live_bundle(_store(args))
    candidate = from_folder(folder)
    sys.stdout.write(text_diff(live.files, candidate.files, f"live:{version}", str(folder)))
    new = attach(load_policy(folder), settings)
    with tempfile.TemporaryDirectory(prefix="remedy-live-") as tmp:
        old: Policy = attach(validate(live, Path(tmp), f"live:{version}"), settings)
    queries = LedgerQueries(settings.ledger_table, boto3.client("dynamodb"))
    bar = _progress(None, "replaying")
    result = replay(
        queries.snapshots(args.since), old, new, tick=bar.update if bar is not None else None
    )
    if bar is not None:
        bar.close()
    from remedy.views.table import table

    period = _utc(args.since)
    print(
        f"\nreplayed {result.replayed} findings received since {period} through version "
        f"{version} and {folder}: {len(result.changes)} decisions change"
        + (
            f" ({result.not_replayable} entries hold no finding to replay)"
            if result.not_replayable
            else ""
        )
    )
    if result.changes:
        rows = [
            (
                c.key,
                c.account,
                c.resource,
                f"{c.old.action.value} ({c.old.rule})",
                f"{c.new.action.value} ({c.new.rule})",
            )
            for c in result.changes
        ]
        print(table(("finding", "account", "resource", "now", "with DIR"), rows))
        print()
        for kind, count in result.by_kind.most_common():
            print(f"{count:6d}  {kind}")
    return 0


@_one_line("history")
def run_history(args: argparse.Namespace) -> int:
    from remedy.policy_live.bundle import from_bytes
    from remedy.views.table import table

    rows = []
    store = _store(args)
    for i, version in enumerate(store.versions()[: args.limit]):
        stored = store.fetch(version.version_id)
        when = _utc(version.last_modified) if version.last_modified else ""
        try:
            body = stored.body if stored is not None else b""
            found = from_bytes(body, store.where(version.version_id))
        except PolicyError as error:
            rows.append((version.version_id, when, "", "", f"refused: {error.problems[0]}"))
            continue
        record = found.record
        said = record.message
        if record.rollback_of and record.rollback_of not in said:
            said += f" (rollback of {record.rollback_of})"
        label = version.version_id + (" (live)" if i == 0 else "")
        rows.append((label, record.pushed_at or when, record.pushed_by, found.sha256[:12], said))
    print(table(("version", "pushed at", "by", "sha256", "message"), rows))
    return 0


@_one_line("rollback")
def run_rollback(args: argparse.Namespace) -> int:
    from remedy.policy_live.bundle import from_bytes

    store = _store(args)
    stored = store.fetch(args.version)
    if stored is None:
        raise Refused(f"{store.uri} has no version {args.version}; see remedy policy history")
    where = store.where(args.version)
    earlier = from_bytes(stored.body, where)
    live = store.live()
    with tempfile.TemporaryDirectory(prefix="remedy-rollback-") as tmp:
        # Validated again, against the schemas and remediations of today's remedy.
        try:
            bundle = _deployable(earlier.write(Path(tmp)), args.allow_example_accounts)
        except PolicyError as error:
            raise PolicyError([p.replace(tmp, where) for p in error.problems]) from None
    version = _push(
        store,
        bundle,
        live,
        base=live.version_id if live else None,
        message=args.message or f"rollback to {args.version}",
        rollback_of=args.version,
    )
    print(version)
    print(f"version {args.version} is live again as version {version}", file=sys.stderr)
    return 0
