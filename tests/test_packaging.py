"""What ships: the wheel works outside the checkout, the Lambda's lock matches pyproject.toml,
and the Makefile asks Lambda's Python its version rather than trusting a name on PATH.

The wheel is built from a copy of what the sdist holds (so nothing in the checkout but those
files can make it work), installed by pip into a fresh virtualenv in a temporary folder, and
run there with no REMEDY_* setting. Its dependencies come from the test's own environment
through a .pth file rather than from an index: the tests reach no network. remedy itself
must come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from conftest import EVENTS, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import deploy_mode
import lock_check

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
SDIST = (
    "src",
    "policies",
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "NOTICE",
)
BROKEN = """\
version: 1
rules:
  - id: all
    match: {min_severity: SEVERE}
    action: notify
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh virtualenv with remedy's wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SDIST:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name,
                source / name,
                ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(base), "."],
        cwd=source,
        check=True,
        timeout=300,
    )
    (wheel,) = base.glob("remedy-*.whl")
    assert wheel.name == f"remedy-{VERSION}-py3-none-any.whl"
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        cwd=base,
        check=True,
        timeout=300,
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Dependencies from this environment, after the venv's own site-packages on sys.path.
    deps = [p for p in map(Path, sys.path) if p.name == "site-packages"]
    (site / "dependencies.pth").write_text("\n".join(map(str, deps)) + "\n", encoding="utf-8")
    return env_dir / "bin"


def remedy(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [str(bin_dir / "remedy"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_installed_wheel_works_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [
            installed / "python",
            "-c",
            "import remedy, remedy.policy_files as p; print(remedy.__file__, p.shipped_dir())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    venv_dir = installed.parent
    assert Path(where[0]).is_relative_to(venv_dir), where
    shipped = Path(where[1])
    assert shipped.is_relative_to(venv_dir) and shipped.name == "policies"
    assert sorted(p.name for p in (shipped / "schema").iterdir()) == sorted(
        p.name for p in (ROOT / "policies" / "schema").iterdir()
    )

    version = remedy(installed, tmp_path, "--version")
    assert (version.returncode, version.stdout) == (0, f"remedy {VERSION}\n")

    example = remedy(installed, tmp_path, "policy", "validate")
    assert example.returncode == 0, example.stderr
    assert example.stderr.splitlines()[-1].startswith(f"policy OK: {shipped} (")

    broken = tmp_path / "broken"
    shutil.copytree(shipped, broken, ignore=shutil.ignore_patterns("schema"))
    (broken / "remediation.yaml").write_text(BROKEN, encoding="utf-8")
    refused = remedy(installed, tmp_path, "policy", "validate", str(broken))
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"{broken / 'remediation.yaml'}:rules[0].match.min_severity: 'SEVERE' is not one of "
        "['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']\n"
    )

    event = tmp_path / "event.json"
    shutil.copy2(EVENTS / "macie-classification-personal.json", event)
    explained = remedy(installed, tmp_path, "explain", str(event))
    assert explained.returncode == 0, explained.stderr
    (finding,) = json.loads(explained.stdout)["events"][0]["findings"]
    assert finding["decision"]["action"] in ("approve", "quarantine", "notify", "ignore")
    assert finding["decision"]["rule"]


# --- the Lambda's lock file -----------------------------------------------------------------


def test_the_lock_matches_pyproject() -> None:
    assert (
        lock_check.disagreements(ROOT / "pyproject.toml", ROOT / "requirements" / "lambda.txt")
        == []
    )


def _pyproject(tmp_path: Path, replace: tuple[str, str]) -> Path:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert replace[0] in text
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(*replace), encoding="utf-8")
    return path


def test_the_lock_check_fails_on_a_bumped_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = _pyproject(tmp_path, ('"boto3==1.44.5"', '"boto3==1.44.6"'))
    lock = ROOT / "requirements" / "lambda.txt"
    assert lock_check.main([str(pyproject), str(lock)]) == 2
    assert capsys.readouterr().err == (
        f"{lock}: boto3==1.44.5, but {pyproject} pins 1.44.6\n"
        f"{lock} does not match {pyproject}: run make lock\n"
    )


def test_the_lock_check_fails_on_a_dependency_added_or_dropped(tmp_path: Path) -> None:
    lock = ROOT / "requirements" / "lambda.txt"
    added = _pyproject(tmp_path, ('"PyYAML==6.0.3",', '"PyYAML==6.0.3",\n    "requests==2.33.0",'))
    assert lock_check.disagreements(added, lock) == [
        f"{lock}: requests is missing ({added} pins 2.33.0)"
    ]
    dropped = _pyproject(tmp_path, ('    "slack-sdk==3.47.0",\n', ""))
    assert lock_check.disagreements(dropped, lock) == [
        f"{lock}: slack-sdk is no longer a dependency in {dropped}"
    ]


def test_the_lock_check_fails_on_an_entry_without_hashes(tmp_path: Path) -> None:
    lines = (ROOT / "requirements" / "lambda.txt").read_text(encoding="utf-8").splitlines()
    six = lines.index("six==1.17.0 \\")
    hashed = next(i for i in range(six + 1, len(lines)) if "--hash=" not in lines[i])
    lock = tmp_path / "lambda.txt"
    lock.write_text("\n".join([*lines[:six], "six==1.17.0", *lines[hashed:]]), encoding="utf-8")
    assert lock_check.disagreements(ROOT / "pyproject.toml", lock) == [
        f"{lock}: six==1.17.0 has no --hash"
    ]


def test_sam_build_installs_the_lock_with_hashes() -> None:
    dry = subprocess.run(
        ["make", "-n", "build-FindingsFunction", "ARTIFACTS_DIR=/nonexistent/artifacts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("\\\n", " ")
    assert "scripts/lock_check.py pyproject.toml requirements/lambda.txt" in dry
    assert "--require-hashes" in dry and "-r requirements/lambda.txt" in dry
    assert dry.index("lock_check.py") < dry.index("--require-hashes")


# --- the Makefile's interpreter check --------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "shim", "works"),
    [
        # What pyenv's shim does for a version it has not installed.
        ("3.13", "#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n", False),
        # A name that runs some other Python.
        ("3.13", f'#!/bin/sh\nexec {sys.executable} "$@"\n', sys.version_info[:2] == (3, 13)),
        # The Python it names.
        (
            f"{sys.version_info[0]}.{sys.version_info[1]}",
            f'#!/bin/sh\nexec {sys.executable} "$@"\n',
            True,
        ),
    ],
)
def test_lambda_python_is_run_not_looked_up(
    version: str, shim: str, works: bool, tmp_path: Path
) -> None:
    (tmp_path / f"python{version}").write_text(shim, encoding="utf-8")
    (tmp_path / f"python{version}").chmod(0o755)
    result = subprocess.run(
        ["make", "-s", "lambda-python", f"LAMBDA_PYTHON={version}"],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) is works, result.stderr


# --- make deploy-core ENV=...: guided the first time only -------------------------------------


def _deploy_mode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy_mode.py"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_pipeline_before_the_first_deploy_is_told_what_to_do() -> None:
    # The shipped samconfig.toml holds no answers: no terminal, so no prompt to hang on.
    result = _deploy_mode("prod")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"deploy-core: {ROOT / 'samconfig.toml'} has no parameter_overrides for ENV=prod: run "
        "make deploy-core ENV=prod once in a terminal (guided) and commit samconfig.toml\n"
    )
    assert deploy_mode.mode("prod", ROOT / "samconfig.toml", interactive=True) == "--guided"


def test_saved_answers_deploy_without_a_prompt(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    text = (
        (ROOT / "samconfig.toml")
        .read_text(encoding="utf-8")
        .replace(
            "[prod.deploy.parameters]\n",
            '[prod.deploy.parameters]\nparameter_overrides = "Prefix=\\"remedy\\""\n',
        )
    )
    samconfig.write_text(text, encoding="utf-8")
    result = _deploy_mode("prod", str(samconfig))
    assert (result.returncode, result.stdout, result.stderr) == (0, "\n", "")
    # Another environment of the same file still needs its first, guided deploy.
    assert _deploy_mode("dev", str(samconfig)).returncode == 2


def test_deploy_core_deploys_the_environment_it_is_given() -> None:
    dry = subprocess.run(
        ["make", "-n", "deploy-core", "ENV=prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "scripts/deploy_mode.py prod >/dev/null" in dry
    assert dry.index("deploy_mode.py prod >") < dry.index("sam build --config-env prod")
    assert "sam deploy --config-env prod $guided" in dry
    assert "--guided" not in dry.replace("$guided", "")
