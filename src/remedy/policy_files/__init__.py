"""The policy folder and its files, read by both the policy and the remediation actions.

Where the folder is (`default_dir`), how a file in it is read (`read_checked`: against the
schema remedy ships), and the two guard lists actions consult at run time:
``restricted-actions.yaml`` (IAM actions a policy may not allow unapproved) and
``public-bucket-allowlist.yaml`` (buckets public on purpose). `remedy.policy.load_policy`
checks them with the rest, so a broken one fails at deploy and cold start, not at the first
finding that needs it. This module imports nothing of the policy's rules or of the actions,
so both sides can read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

import remedy
from remedy.errors import PolicyError
from remedy.policy_files import schema

REMEDIATION_FILE = "remediation.yaml"
ACCOUNTS_FILE = "accounts.yaml"
RESTRICTED_FILE = "restricted-actions.yaml"
RESTRICTED_SCHEMA = "restricted-actions.schema.json"
ALLOWLIST_FILE = "public-bucket-allowlist.yaml"
ALLOWLIST_SCHEMA = "public-bucket-allowlist.schema.json"
ENV_VAR = "REMEDY_POLICY_DIR"


def shipped_dir() -> Path:
    """The ``policies/`` folder that comes with this code (its schemas and example policy).

    Installed from the wheel (pip, pipx) it is the package data ``remedy/policies``, read
    through importlib.resources; in a checkout (an editable install) it is the repository's
    ``policies/`` beside ``src/``; in the Lambda artifact it is ``policies/`` beside the
    ``remedy`` package, i.e. ``<task root>/policies`` (template.yaml's REMEDY_POLICY_DIR).
    """
    packaged = resources.files("remedy") / "policies"
    if packaged.is_dir():
        return Path(str(packaged))
    package = Path(remedy.__file__).resolve().parent
    checkout = package.parent.parent / "policies"
    if package.parent.name == "src" and checkout.is_dir():
        return checkout
    return package.parent / "policies"


#: The folder of the live policy version a function acts on (`remedy.policy_live.loader`
#: sets it when a version takes effect), so the guard lists are read from that version.
_in_effect: Path | None = None


def use(folder: Path) -> None:
    """Make `folder` the policy folder of this process (a live version took effect)."""
    global _in_effect
    _in_effect = folder


def default_dir() -> Path:
    """Where the policy is read from: the live version's folder in a function that took
    one (`use`), else ``$REMEDY_POLICY_DIR`` if set, else `shipped_dir`."""
    if _in_effect is not None:
        return _in_effect
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else shipped_dir()


def read_checked(file: Path, schema_name: str) -> Any:
    """The document in `file`, checked against the shipped schema `schema_name`.

    Every problem (unreadable, bad YAML, schema misfits) raises one `PolicyError`.
    """
    document = schema.read_yaml(file)
    problems = schema.validate(document, shipped_dir() / "schema" / schema_name, str(file))
    if problems:
        raise PolicyError(problems)
    return document


# --- restricted-actions.yaml ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Restricted:
    """One restricted action pattern and why it is restricted (shown to the approver)."""

    action: str
    why: str
    resources: tuple[str, ...] = ()


def load_restricted(policy_dir: Path | None = None) -> tuple[Restricted, ...]:
    """Read and check ``restricted-actions.yaml``; problems raise `PolicyError` lines."""
    data = read_checked((policy_dir or default_dir()) / RESTRICTED_FILE, RESTRICTED_SCHEMA)
    return tuple(
        Restricted(action=action, why=group["why"], resources=tuple(group.get("resources", ())))
        for group in data["restricted"]
        for action in group["actions"]
    )


# --- public-bucket-allowlist.yaml ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowEntry:
    accounts: tuple[str, ...]
    buckets: tuple[str, ...]
    why: str


@dataclass(frozen=True, slots=True)
class BucketAllowlist:
    entries: tuple[AllowEntry, ...] = ()

    def reason(self, account: str, bucket: str) -> str | None:
        """Why `bucket` in `account` may stay public, or None when it may not."""
        for entry in self.entries:
            if ("*" in entry.accounts or account in entry.accounts) and any(
                fnmatchcase(bucket, glob) for glob in entry.buckets
            ):
                return entry.why
        return None


def load_allowlist(policy_dir: Path | None = None) -> BucketAllowlist:
    """Read and check the allow-list; problems raise `PolicyError` ``file:path: message``."""
    data = read_checked((policy_dir or default_dir()) / ALLOWLIST_FILE, ALLOWLIST_SCHEMA)
    return BucketAllowlist(
        tuple(
            AllowEntry(tuple(e["accounts"]), tuple(e["buckets"]), e["why"]) for e in data["allow"]
        )
    )
