"""The contract every ``remedy`` command keeps, checked on every command the parser lists.

The commands are read from the CLI parser itself, so one added later is checked without
touching this file: with no AWS configured, with a bad setting, with a bad flag and with
the core stack missing, each ends in exit status 2 and one line on stderr (never a
traceback); its help shows no docstring markup. A command that needs no AWS declares
``local=True`` (cli/__init__) and is spared only the two AWS cases.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import EVENTS, POLICIES, fake_aws_credentials
from remedy.cli import build_parser, main


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


#: Placeholders by metavar, so that a command gets past reading its own inputs to the AWS
#: calls the cases are about; any other argument gets "x".
PLACEHOLDERS = {
    "DIR": str(POLICIES),
    "EVENT.json": str(EVENTS / "macie-classification-credentials.json"),
}


def _minimal_argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with a placeholder for every argument it requires."""
    argv = list(path)
    for action in parser._actions:
        value = PLACEHOLDERS.get(str(action.metavar), "x")
        if not action.option_strings and action.nargs not in ("?", "*", 0):
            argv.append(value)
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value]
    return argv


COMMANDS = sorted(_leaves(build_parser()), key=lambda leaf: leaf[0])
IDS = [" ".join(path) for path, _ in COMMANDS]
AWS_COMMANDS = [(p, c) for p, c in COMMANDS if not c.get_default("local")]


def test_every_command_is_found() -> None:
    # The enumeration must see nested commands (policy validate, owners sync), not only
    # the top level, or it would check nothing of them.
    assert {"explain", "policy validate", "owners sync", "status", "demo"} <= set(IDS)


def run(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(result: tuple[int, str, str], *expected: str) -> None:
    status, out, err = result
    assert (status, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region, no credentials, no profile, no instance metadata to fall back on."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("path", "parser"), AWS_COMMANDS, ids=[" ".join(p) for p, _ in AWS_COMMANDS]
)
def test_no_aws_configured_is_one_line_and_exit_2(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    no_aws: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_one_line_error(run(_minimal_argv(path, parser), capsys), f"remedy {' '.join(path)}")


@pytest.mark.parametrize(
    ("path", "parser"), AWS_COMMANDS, ids=[" ".join(p) for p, _ in AWS_COMMANDS]
)
def test_core_stack_missing_is_one_line_and_exit_2(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Credentials and a region, but nothing deployed: no table, no topic, no queues."""
    fake_aws_credentials(monkeypatch, "eu-west-1")
    monkeypatch.setenv("REMEDY_OWNER_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:gone")
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        assert_one_line_error(run(_minimal_argv(path, parser), capsys))


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REMEDY_LEDGER_TTL_DAYS", "1y"), ("REMEDY_LINK_TTL_HOURS", "-3")],
)
@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_a_bad_setting_is_named_on_one_line_with_exit_2(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    variable: str,
    value: str,
    no_aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert_one_line_error(
        run(_minimal_argv(path, parser), capsys),
        f"remedy {' '.join(path)}: {variable}={value!r} is not a whole number of",
    )


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_a_bad_flag_is_one_line_and_exit_2(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    no_aws: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_one_line_error(
        run([*_minimal_argv(path, parser), "--no-such-flag"], capsys),
        f"remedy {' '.join(path)}: unrecognized arguments: --no-such-flag",
        f"(see remedy {' '.join(path)} --help)",
    )


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_help_has_no_docstring_markup(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run([*path, "--help"], capsys)
    assert status == 0
    assert out.startswith(f"usage: remedy {' '.join(path)}")
    assert "`" not in out


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    status, out, _ = run(["--version"], capsys)
    assert (status, out) == (0, f"remedy {metadata.version('remedy')}\n")


def test_no_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run([], capsys), "remedy: the following arguments are required")


def test_option_values_are_taken_in_any_case(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # --state's choice is accepted as typed in lower case: what fails is the missing region.
    assert_one_line_error(run(["history", "--state", "quarantined"], capsys), "no AWS region")
    assert_one_line_error(
        run(["history", "--state", "quarantine"], capsys),
        "remedy history: argument --state: invalid choice: 'quarantine'",
    )


@pytest.mark.parametrize("value", ["12345", "1234567890123", "12345678901x"])
def test_an_account_id_that_is_not_12_digits_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_error(
        run(["history", "--account", value], capsys),
        f"argument --account: {value!r} is not a 12-digit AWS account id",
    )


def test_top_level_help_lists_every_command_without_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(["--help"], capsys)
    assert status == 0
    assert "`" not in out
    for path, _parser in COMMANDS:
        assert path[0] in out
