"""A policy folder's files as one bundle: what is pushed, stored, read back and checked.

A bundle holds every ``*.yaml`` file at the top of a policy folder (so a policy file added
later travels with the rest) as text, their SHA-256 (`content_hash`) and the push record:
who pushed it, when, on which version it was based, and why. It is one JSON document, so
one object version in the bucket is one atomic change. The schemas are not in it: a bundle
is always checked against the schemas of the code reading it.

Files are bounded (`MAX_FILE_BYTES`) so that a bundle stays small enough to read on a
cold start; a bundle whose hash does not match its files was not written by
``remedy policy push`` (changed or damaged in the bucket) and is refused.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remedy.errors import PolicyError

FORMAT = 1
#: One policy file at most: 300 accounts with owners and channels take ~100 KB.
MAX_FILE_BYTES = 512 * 1024
#: The whole bundle as stored (every file, JSON-escaped, and the record).
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
PATTERN = "*.yaml"


def content_hash(files: Mapping[str, str]) -> str:
    """SHA-256 of the files (names and text), independent of their order."""
    canonical = json.dumps(dict(sorted(files.items())), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Record:
    """Who pushed a bundle, when, on which live version it was based, and why."""

    pushed_by: str = ""
    pushed_at: str = ""
    base: str | None = None
    message: str = ""
    #: The version this push restored (``remedy policy rollback``), if it is one.
    rollback_of: str | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    files: Mapping[str, str]
    record: Record = field(default_factory=Record)

    @property
    def sha256(self) -> str:
        return content_hash(self.files)

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "sha256": self.sha256,
            "record": {k: v for k, v in _record_fields(self.record).items() if v is not None},
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")

    def write(self, folder: Path) -> Path:
        """The files into `folder` (created), for `remedy.policy.load_policy` to read."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder


def _record_fields(record: Record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in Record.__dataclass_fields__}


def from_folder(folder: Path, record: Record | None = None) -> Bundle:
    """The bundle of `folder`'s policy files; `PolicyError` names a file too large or
    unreadable."""
    if not folder.is_dir():
        raise PolicyError([f"{folder}: no such policy folder"])
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(folder.glob(PATTERN)):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                f"{path}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} a policy file may "
                "hold; move what is not policy out of the folder or shorten it"
            )
            continue
        try:
            files[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
    if problems:
        raise PolicyError(problems)
    if not files:
        raise PolicyError([f"{folder}: no {PATTERN} policy files in the folder"])
    bundle = Bundle(files, record or Record())
    size = len(bundle.to_bytes())
    if size > MAX_BUNDLE_BYTES:
        raise PolicyError(
            [
                f"{folder}: its {len(files)} policy files make a {size:,}-byte bundle, more "
                f"than the {MAX_BUNDLE_BYTES:,} a function reads; move what is not policy "
                "out of the folder"
            ]
        )
    return bundle


def from_bytes(data: bytes, where: str) -> Bundle:
    """A stored bundle read back; `PolicyError` (one line, naming `where`) if it is not one
    remedy wrote: not JSON, not this format, over the bounds, or its hash does not match."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise PolicyError([f"{where}: {len(data):,} bytes, more than {MAX_BUNDLE_BYTES:,}"])
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PolicyError([f"{where}: not a policy bundle (not JSON: {exc})"]) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PolicyError([f"{where}: not a policy bundle of format {FORMAT}"])
    files = document.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise PolicyError([f"{where}: files: expected an object of file names to text"])
    for name in files:
        if not _is_file_name(name):
            raise PolicyError(
                [
                    f'{where}: files: expected the top-level "{PATTERN}" names remedy policy '
                    f"push reads from a folder, got {json.dumps(name)[:80]}"
                ]
            )
    for name, text in files.items():
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            raise PolicyError([f"{where}: {name}: more than {MAX_FILE_BYTES:,} bytes"])
    stated = document.get("sha256")
    actual = content_hash(files)
    if stated != actual:
        raise PolicyError(
            [
                f"{where}: content hash {actual[:12]} does not match the {str(stated)[:12]} "
                "it was pushed with: changed in the bucket, not by remedy policy push"
            ]
        )
    raw = document.get("record") or {}
    if not isinstance(raw, dict) or not all(
        isinstance(v, str | None) for k, v in raw.items() if k in Record.__dataclass_fields__
    ):
        raise PolicyError([f"{where}: record: expected an object of strings"])
    record = Record(**{k: v for k, v in raw.items() if k in Record.__dataclass_fields__})
    return Bundle(files, record)


#: Longest file name Linux (ext4, tmpfs) takes, in bytes.
_MAX_NAME_BYTES = 255


def _is_file_name(name: str) -> bool:
    """Whether `name` is one `from_folder` could have read: a plain ``*.yaml`` file at the
    top of a folder, one a function can write back into its own (no separator, no NUL,
    not hidden, not too long)."""
    return (
        fnmatch.fnmatchcase(name, PATTERN)
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0")
        and len(name.encode("utf-8")) <= _MAX_NAME_BYTES
    )


def validate(bundle: Bundle, folder: Path, where: str) -> Any:
    """The bundle's `remedy.policy.Policy`, written into `folder` and checked there as a
    cold start checks a folder (`load_policy`); problems name ``<where>/<file>``."""
    from remedy.policy import load_policy

    bundle.write(folder)
    try:
        return load_policy(folder)
    except PolicyError as exc:
        raise PolicyError([p.replace(str(folder), where) for p in exc.problems]) from None
