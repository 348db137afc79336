"""remedy policy push, pull, history and rollback against a policy bucket on moto.

Bad input at push time: one line naming the file and the problem, exit 2, and nothing
changes (no new version in the bucket, the folder's base marker untouched).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from live_policy_support import BUCKET, SHIPPED, deployable, live_bucket, versions
from remedy.cli import main
from remedy.cli.policy_live import BASE_FILE
from remedy.policy_live.bucket import KEY
from remedy.policy_live.bundle import MAX_BUNDLE_BYTES, MAX_FILE_BYTES, content_hash

_s3 = pytest.fixture(name="s3")(live_bucket)


def push(folder: Path, *extra: str) -> int:
    return main(["policy", "push", str(folder), *extra])


def stored(s3: Any, version: str | None = None) -> dict[str, Any]:
    extra = {"VersionId": version} if version else {}
    body = s3.get_object(Bucket=BUCKET, Key=KEY, **extra)["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def test_push_records_who_when_hash_and_message_and_prints_the_version(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    assert push(folder, "--message", "first policy") == 0
    out, err = capsys.readouterr()
    (version,) = versions(s3)
    assert out == f"{version}\n"
    assert "every function takes it within a minute" in err
    document = stored(s3)
    files = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")}
    assert document["files"] == files
    assert document["sha256"] == content_hash(files)
    record = document["record"]
    assert record["pushed_by"].startswith("arn:aws:")
    assert record["pushed_at"].endswith("Z")
    assert record["message"] == "first policy"
    assert "base" not in record
    assert (folder / BASE_FILE).read_text(encoding="utf-8") == f"{version}\n"
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"


def _bad_yaml(folder: Path) -> None:
    (folder / "remediation.yaml").write_text("version: 1\nrules: [\n", encoding="utf-8")


def _schema(folder: Path) -> None:
    text = (folder / "remediation.yaml").read_text(encoding="utf-8")
    (folder / "remediation.yaml").write_text(
        text.replace("min_severity: LOW", "min_severity: SEVERE", 1), encoding="utf-8"
    )


def _unregistered(folder: Path) -> None:
    text = (folder / "remediation.yaml").read_text(encoding="utf-8")
    (folder / "remediation.yaml").write_text(
        text.replace("remediation: iam-policy-guard", "remediation: iam-policy-shredder", 1),
        encoding="utf-8",
    )


def _example_account(folder: Path) -> None:
    text = (folder / "accounts.yaml").read_text(encoding="utf-8")
    (folder / "accounts.yaml").write_text(
        text.replace(
            "accounts:\n",
            'accounts:\n  "444455556666":\n    name: sandbox\n    environment: dev\n'
            "    owners: [sandbox@example.com]\n    slack: {channel: '#sandbox'}\n"
            "    approvers: {users: [U0SANDBOX1]}\n",
            1,
        ),
        encoding="utf-8",
    )


def _too_large(folder: Path) -> None:
    (folder / "restricted-actions.yaml").write_text("#" * (MAX_FILE_BYTES + 1), encoding="utf-8")


BAD = {
    "not-yaml": (
        _bad_yaml,
        "remediation.yaml:3: while parsing a flow node; did not find expected node content "
        "(column 1)",
    ),
    "schema": (
        _schema,
        "remediation.yaml:defaults.min_severity: 'SEVERE' is not one of "
        "['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']",
    ),
    "unregistered-remediation": (_unregistered, "remediation.yaml:rules["),
    "example-account": (
        _example_account,
        'accounts.yaml:accounts["444455556666"]: 444455556666 is an example account id '
        "shipped with remedy; list your own member accounts here (id, name, environment, "
        "owners, Slack, approvers), or remove this one",
    ),
    "too-large": (
        _too_large,
        f"restricted-actions.yaml: {MAX_FILE_BYTES + 1:,} bytes, more than the "
        f"{MAX_FILE_BYTES:,} a policy file may hold; move what is not policy out of the "
        "folder or shorten it",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_folder_is_refused_in_one_line_and_nothing_changes(
    case: str, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    assert push(folder) == 0
    before = versions(s3)
    marker = (folder / BASE_FILE).read_text(encoding="utf-8")
    capsys.readouterr()
    spoil, expected = BAD[case]
    spoil(folder)
    assert push(folder, "--message", "broken") == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"{folder}/")
    assert line.removeprefix(f"{folder}/").startswith(expected)
    assert versions(s3) == before
    assert (folder / BASE_FILE).read_text(encoding="utf-8") == marker


def test_the_unregistered_remediation_is_named(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    _unregistered(folder)
    assert push(folder) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        re.escape(f"{folder}/remediation.yaml:rules[")
        + r"\d+\]\.remediation: 'iam-policy-shredder' is not a registered remediation "
        r"\(registered: [a-z0-9, -]*iam-policy-guard[a-z0-9, -]*\)",
        line,
    ), line
    assert versions(s3) == []


def test_a_push_not_based_on_the_live_version_is_refused_unless_forced(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = deployable(tmp_path / "alice")
    bob = deployable(tmp_path / "bob")
    assert push(alice) == 0
    assert main(["policy", "pull", str(bob)]) == 0
    (first,) = versions(s3)
    assert (bob / BASE_FILE).read_text(encoding="utf-8") == f"{first}\n"
    # Alice pushes again; Bob's folder is still based on the first version.
    (alice / "public-bucket-allowlist.yaml").write_text(
        (alice / "public-bucket-allowlist.yaml").read_text(encoding="utf-8") + "# alice\n",
        encoding="utf-8",
    )
    assert push(alice, "-m", "alice's change") == 0
    second = versions(s3)[0]
    capsys.readouterr()
    assert push(bob, "-m", "bob's change") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"remedy policy push: the live version is {second}, but {bob} is based on {first}: "
        f"someone else pushed since; see 'remedy policy diff {bob}', start again from "
        "'remedy policy pull', or overwrite with --force"
    )
    assert versions(s3) == [second, first]
    assert push(bob, "-m", "bob's change", "--force") == 0
    third = versions(s3)[0]
    assert stored(s3)["record"]["base"] == second
    assert (bob / BASE_FILE).read_text(encoding="utf-8") == f"{third}\n"


def test_a_folder_without_a_base_is_refused_once_something_is_live(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(deployable(tmp_path / "a")) == 0
    other = deployable(tmp_path / "b")
    capsys.readouterr()
    assert push(other) == 2
    assert "is based on no version (no .remedy-policy-version)" in capsys.readouterr().err
    assert len(versions(s3)) == 1


def test_history_lists_versions_newest_first_and_rollback_is_a_recorded_push(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    assert push(folder, "-m", "one") == 0
    first_files = stored(s3)["files"]
    (folder / "public-bucket-allowlist.yaml").write_text(
        (folder / "public-bucket-allowlist.yaml").read_text(encoding="utf-8") + "# two\n",
        encoding="utf-8",
    )
    assert push(folder, "-m", "two") == 0
    second, first = versions(s3)
    capsys.readouterr()
    assert main(["policy", "rollback", first]) == 0
    out, _ = capsys.readouterr()
    third = versions(s3)[0]
    assert out == f"{third}\n"
    document = stored(s3)
    assert document["files"] == first_files
    assert document["record"]["rollback_of"] == first
    assert document["record"]["base"] == second
    assert document["record"]["message"] == f"rollback to {first}"
    assert main(["policy", "history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == [third, second, first]
    assert "(live)" in lines[2]
    assert lines[2].rstrip().endswith(f"rollback to {first}")
    assert lines[3].rstrip().endswith("two")


def test_rollback_to_a_version_that_no_longer_validates_is_refused(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    assert push(folder) == 0
    # A version written around push: the shipped example accounts, never validated.
    shipped = {p.name: p.read_text(encoding="utf-8") for p in SHIPPED.glob("*.yaml")}
    s3.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=json.dumps(
            {"format": 1, "sha256": content_hash(shipped), "record": {}, "files": shipped}
        ),
    )
    bad = versions(s3)[0]
    capsys.readouterr()
    assert main(["policy", "rollback", bad]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err and all(
        line.startswith(f"s3://{BUCKET}/{KEY}?versionId={bad}/accounts.yaml:")
        and "is an example account id shipped with remedy" in line
        for line in err
    ), err
    assert versions(s3)[0] == bad
    assert main(["policy", "rollback", "no-such-version"]) == 2
    assert capsys.readouterr().err == (
        f"remedy policy rollback: s3://{BUCKET}/{KEY} has no version no-such-version; "
        "see remedy policy history\n"
    )


def test_a_folder_whose_bundle_would_be_too_large_is_refused(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = deployable(tmp_path / "policy")
    for i in range(MAX_BUNDLE_BYTES // MAX_FILE_BYTES):
        (folder / f"notes-{i}.yaml").write_text("#" * MAX_FILE_BYTES, encoding="utf-8")
    assert push(folder) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        re.escape(f"{folder}: its ") + r"\d+ policy files make a [\d,]+-byte bundle, more "
        r"than the 4,194,304 a function reads; move what is not policy out of the folder",
        line,
    ), line
    assert versions(s3) == []


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in `folder` (the base marker too): its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _assert_live_in(folder: Path, s3: Any) -> None:
    """`folder` holds the live version's files, and is based on that version."""
    assert {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")} == stored(s3)[
        "files"
    ]
    assert (folder / BASE_FILE).read_text(encoding="utf-8") == f"{versions(s3)[0]}\n"


def _assert_pull_refused(
    capsys: pytest.CaptureFixture[str], folder: Path, live: str, said: str
) -> None:
    """Pulling `live` into `folder` is refused with the one line naming what `said`
    (the files, and what they were compared with); no file in `folder` is touched."""
    before = _snapshot(folder)
    capsys.readouterr()
    assert main(["policy", "pull", str(folder)]) == 2
    assert capsys.readouterr() == (
        "",
        f"remedy policy pull: {folder} has changes that pulling version {live} would "
        f"overwrite, in {said}; push them first ('remedy policy diff {folder}' shows them), "
        "pull into another folder, or overwrite with --force\n",
    )
    assert _snapshot(folder) == before


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_pull_refuses_to_overwrite_local_edits_unless_forced(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = deployable(tmp_path / "alice")
    assert push(alice) == 0
    (first,) = versions(s3)
    bob = tmp_path / "bob"
    assert main(["policy", "pull", str(bob)]) == 0
    # Bob edits two files; Alice pushes a change to one of them and to a third.
    _append(bob / "accounts.yaml", "# bob\n")
    _append(bob / "restricted-actions.yaml", "# bob\n")
    _append(alice / "accounts.yaml", "# alice\n")
    _append(alice / "public-bucket-allowlist.yaml", "# alice\n")
    assert push(alice, "-m", "alice's change") == 0
    second = versions(s3)[0]
    _assert_pull_refused(
        capsys,
        bob,
        second,
        f"accounts.yaml, restricted-actions.yaml (edited since version {first})",
    )
    assert versions(s3) == [second, first]

    assert main(["policy", "pull", str(bob), "--force"]) == 0
    _assert_live_in(bob, s3)


def test_pull_updates_a_folder_without_edits_of_its_own(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = deployable(tmp_path / "alice")
    assert push(alice) == 0
    bob = tmp_path / "bob"
    assert main(["policy", "pull", str(bob)]) == 0
    # An edit the live version has too is not Bob's to lose.
    _append(bob / "accounts.yaml", "# same\n")
    _append(alice / "accounts.yaml", "# same\n")
    _append(alice / "public-bucket-allowlist.yaml", "# alice\n")
    assert push(alice) == 0
    assert main(["policy", "pull", str(bob)]) == 0
    _assert_live_in(bob, s3)


def test_pull_into_a_folder_with_no_base_refuses_what_differs_from_the_live_version(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(deployable(tmp_path / "live")) == 0
    (live,) = versions(s3)
    mine = deployable(tmp_path / "mine")
    _append(mine / "remediation.yaml", "# mine\n")
    _assert_pull_refused(capsys, mine, live, "remediation.yaml (it has no .remedy-policy-version)")


def test_pull_from_an_empty_bucket_is_based_on_the_built_in_policy(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing pushed yet: pull writes the policy built into remedy, marked ``built-in``,
    and a later pull compares the folder with that policy."""
    folder = tmp_path / "policy"
    assert main(["policy", "pull", str(folder)]) == 0
    assert (folder / BASE_FILE).read_text(encoding="utf-8") == "built-in\n"
    assert {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")} == {
        p.name: p.read_text(encoding="utf-8") for p in SHIPPED.glob("*.yaml")
    }
    _append(folder / "remediation.yaml", "# mine\n")
    assert push(deployable(tmp_path / "live")) == 0
    (live,) = versions(s3)
    _assert_pull_refused(capsys, folder, live, "remediation.yaml (edited since version built-in)")


def test_pull_with_a_base_the_bucket_does_not_hold_compares_with_the_live_version(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(deployable(tmp_path / "live")) == 0
    (live,) = versions(s3)
    folder = deployable(tmp_path / "mine")
    (folder / BASE_FILE).write_text("no-such-version\n", encoding="utf-8")
    _append(folder / "accounts.yaml", "# mine\n")
    _assert_pull_refused(
        capsys,
        folder,
        live,
        "accounts.yaml (it is based on version no-such-version, which "
        f"s3://{BUCKET}/{KEY} does not give back)",
    )
