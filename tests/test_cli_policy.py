"""``remedy policy validate``: the console script and ``remedy.cli.main``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policy_support import SHIPPED, policy_dir
from remedy.cli import main

REMEDY = str(Path(sys.executable).with_name("remedy"))
ROOT = SHIPPED.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REMEDY, *args], capture_output=True, text=True, check=False, timeout=60)


def _examples_warning(folder: Path) -> str:
    return (
        f"warning: {folder / 'accounts.yaml'} names 9 example account ids remedy ships: fine "
        "for explain and the demo; --for-deploy lists and refuses them\n"
    )


def test_shipped_policy_is_valid_with_a_warning() -> None:
    result = run("policy", "validate")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == (
        _examples_warning(SHIPPED) + f"policy OK: {SHIPPED} (41 rules, 8 accounts, 1 aggregators)\n"
    )


def test_named_folder_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = policy_dir(tmp_path)
    assert main(["policy", "validate", str(folder)]) == 0
    assert capsys.readouterr() == (
        "",
        _examples_warning(folder) + f"policy OK: {folder} (41 rules, 8 accounts, 1 aggregators)\n",
    )


def _refusal(file: Path, aggregators: list[int], accounts: list[str]) -> list[str]:
    return [
        *(
            f"{file}:aggregators[{i}]: 999999999999 is an example account id shipped with "
            "remedy; put here the account id of your own Security Hub / Macie administrator "
            "(the account that delivers other accounts' findings), or remove the entry if you "
            "have none"
            for i in aggregators
        ),
        *(
            f'{file}:accounts["{account}"]: {account} is an example account id shipped with '
            "remedy; list your own member accounts here (id, name, environment, owners, Slack, "
            "approvers), or remove this one"
            for account in accounts
        ),
        f"not deployable: {file} still names the example accounts remedy ships "
        "(see README 'Trust')",
    ]


SHIPPED_ACCOUNTS = [
    "111111111111",
    "222222222222",
    "333333333333",
    "999999999999",
    "555555555555",
    "123456789012",
    "111122223333",
    "000000000000",
]


def test_the_shipped_policy_is_refused_for_deploy() -> None:
    before = (SHIPPED / "accounts.yaml").read_bytes()
    result = run("policy", "validate", "--for-deploy")
    assert result.returncode == 2
    assert result.stdout == ""
    file = SHIPPED / "accounts.yaml"
    assert result.stderr.splitlines() == _refusal(file, [0], SHIPPED_ACCOUNTS)
    assert (SHIPPED / "accounts.yaml").read_bytes() == before


OWN_ACCOUNTS = """\
version: 1
aggregators: ["{aggregator}", "210987654321"]
default:
  name: unlisted account
  environment: unknown
  owners: [cloud-security@corp.test]
  slack: {{channel: "#sec-findings"}}
  approvers: {{usergroup: S0SECAPPROVE}}
accounts:
  "210987654322": {{name: prod, environment: prod}}
  "{member}": {{name: left over, environment: prod}}
"""


def test_one_example_left_among_own_accounts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = policy_dir(
        tmp_path,
        remediation="version: 1\nrules:\n  - {id: all, match: {}, action: notify}\n",
        accounts=OWN_ACCOUNTS.format(aggregator="999999999999", member="222222222222"),
    )
    assert main(["policy", "validate", "--for-deploy", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == _refusal(folder / "accounts.yaml", [0], ["222222222222"])


def test_own_accounts_are_deployable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = policy_dir(
        tmp_path,
        remediation="version: 1\nrules:\n  - {id: all, match: {}, action: notify}\n",
        accounts=OWN_ACCOUNTS.format(aggregator="210987654320", member="210987654323"),
    )
    for args in (["--for-deploy", str(folder)], [str(folder)]):
        assert main(["policy", "validate", *args]) == 0
        assert capsys.readouterr() == (
            "",
            f"policy OK: {folder} (1 rules, 2 accounts, 2 aggregators)\n",
        )


def test_make_refuses_to_build_or_deploy_the_shipped_examples(tmp_path: Path) -> None:
    """`sam build` runs build-<Function>; `make deploy-core` runs sam build after the check."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    result = subprocess.run(
        ["make", "-s", "build-FindingsFunction", f"ARTIFACTS_DIR={artifacts}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[:-1] == _refusal(Path("policies/accounts.yaml"), [0], SHIPPED_ACCOUNTS)
    assert "policy-deployable" in lines[-1]
    assert list(artifacts.iterdir()) == []
    dry = subprocess.run(
        ["make", "-n", "deploy-core"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    check = next(i for i, line in enumerate(dry) if "policy validate --for-deploy policies" in line)
    build = next(i for i, line in enumerate(dry) if line.endswith("sam build"))
    assert check < build


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
