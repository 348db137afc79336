"""``remedy policy validate``: the console script and ``remedy.cli.main``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policy_support import SHIPPED, policy_dir
from remedy.cli import main

REMEDY = str(Path(sys.executable).with_name("remedy"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REMEDY, *args], capture_output=True, text=True, check=False, timeout=60)


def test_shipped_policy_is_valid() -> None:
    result = run("policy", "validate")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == f"policy OK: {SHIPPED} (17 rules, 11 accounts, 2 aggregators)\n"


def test_named_folder_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = policy_dir(tmp_path)
    assert main(["policy", "validate", str(folder)]) == 0
    assert capsys.readouterr() == (
        "",
        f"policy OK: {folder} (17 rules, 11 accounts, 2 aggregators)\n",
    )


BROKEN_REMEDIATION = """\
version: 1
rules:
  - id: Quarantine-All
    match: {min_severity: SEVERE, bukket: [x]}
    action: quarantine
  - id: tell
    match: {}
    action: notify
    remediation: s3-quarantine
"""


def test_broken_policy_exits_2_with_every_problem(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, remediation=BROKEN_REMEDIATION)
    result = run("policy", "validate", str(folder))
    assert result.returncode == 2
    assert result.stdout == ""
    file = folder / "remediation.yaml"
    assert result.stderr.splitlines() == [
        f"{file}:rules[0].id: 'Quarantine-All' is not a rule id: lowercase letters, digits "
        "and dashes",
        f"{file}:rules[0].match: Additional properties are not allowed ('bukket' was unexpected)",
        f"{file}:rules[0].match.min_severity: 'SEVERE' is not one of "
        "['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']",
    ]


def test_semantic_problems_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = policy_dir(
        tmp_path,
        remediation=(
            "version: 1\nrules:\n"
            "  - {id: tell, match: {}, action: notify, remediation: s3-quarantine}\n"
        ),
    )
    assert main(["policy", "validate", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"{folder / 'remediation.yaml'}:rules[0].remediation: only a quarantine or approve rule "
        "takes remediation (this rule's action is notify)\n"
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# remediation.yaml and accounts.yaml are fine; only the named file is broken.
BROKEN_ACTION_FILES = [
    (
        "restricted-actions.yaml",
        "version: 1\nrestricted:\n  - why: escalation\n    actions: [iam:PassRole, iam:PassRole]\n",
        "restricted[0].actions: ['iam:PassRole', 'iam:PassRole'] has non-unique elements",
    ),
    (
        "public-bucket-allowlist.yaml",
        "version: 1\nallow:\n  - accounts: ['*']\n    buckets: [www.example.com]\n",
        "allow[0]: 'why' is a required property",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "message"), BROKEN_ACTION_FILES, ids=[c[0] for c in BROKEN_ACTION_FILES]
)
def test_broken_action_file_fails_validate(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    folder = policy_dir(tmp_path)
    (folder / name).write_text(text, encoding="utf-8")
    before = _snapshot(folder)
    result = run("policy", "validate", str(folder))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"{folder / name}:{message}\n"
    assert _snapshot(folder) == before


def test_both_action_files_reported_together_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = policy_dir(tmp_path)
    for name, text, _ in BROKEN_ACTION_FILES:
        (folder / name).write_text(text, encoding="utf-8")
    assert main(["policy", "validate", str(folder)]) == 2
    assert capsys.readouterr() == (
        "",
        "".join(f"{folder / name}:{message}\n" for name, _, message in BROKEN_ACTION_FILES),
    )


def test_missing_folder(tmp_path: Path) -> None:
    result = run("policy", "validate", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr == (
        f"{tmp_path / 'nope'}: no such policy folder; name another folder or set "
        "REMEDY_POLICY_DIR\n"
    )


def test_validate_needs_a_subcommand() -> None:
    result = run("policy")
    assert result.returncode == 2
    assert "the following arguments are required: COMMAND" in result.stderr
