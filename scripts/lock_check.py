"""Fail when the Lambda's lock file and pyproject.toml's dependencies disagree.

``requirements/lambda.txt`` (``make lock``) pins every package the functions ship, with
its hashes, and ``sam build`` installs exactly it. It is right only while it was made
from ``[project].dependencies`` as they are now: every dependency pinned there at the same
version, nothing listed as coming from pyproject.toml that no longer does, and every entry
hashed. One line per disagreement; exit 0, or 2 naming the fix (``make lock``).

    python scripts/lock_check.py [pyproject.toml] [requirements/lambda.txt]
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROM_PYPROJECT = "remedy (pyproject.toml)"
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    """PEP 503: PyYAML, pyyaml and py_yaml are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Locked:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_lock(text: str) -> dict[str, Locked]:
    """The lock's entries by canonical name: version, how many hashes, what needs them."""
    entries: dict[str, Locked] = {}
    current: Locked | None = None
    for raw in text.splitlines():
        line = raw.strip()
        pin = _PIN.match(raw)
        if pin:
            current = entries.setdefault(canonical(pin[1]), Locked(pin[2]))
        elif current is not None and line.startswith("--hash="):
            current.hashes += 1
        elif current is not None and line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            if rest:
                current.via.append(rest)
        elif current is not None and line.startswith("#   "):
            current.via.append(line.removeprefix("#").strip())
    return entries


def disagreements(pyproject: Path, lock: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    wanted: dict[str, str] = {}
    problems: list[str] = []
    for spec in dependencies:
        pin = _PIN.fullmatch(spec.replace(" ", ""))
        if pin is None:
            problems.append(f"{pyproject}: {spec!r} is not pinned with ==: pin it")
            continue
        wanted[canonical(pin[1])] = pin[2]
    locked = read_lock(lock.read_text(encoding="utf-8"))
    for name, version in wanted.items():
        entry = locked.get(name)
        if entry is None:
            problems.append(f"{lock}: {name} is missing ({pyproject} pins {version})")
        elif entry.version != version:
            problems.append(f"{lock}: {name}=={entry.version}, but {pyproject} pins {version}")
    for name, entry in locked.items():
        if FROM_PYPROJECT in entry.via and name not in wanted:
            problems.append(f"{lock}: {name} is no longer a dependency in {pyproject}")
        if entry.hashes == 0:
            problems.append(f"{lock}: {name}=={entry.version} has no --hash")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    pyproject = Path(args[0]) if args else ROOT / "pyproject.toml"
    lock = Path(args[1]) if len(args) > 1 else ROOT / "requirements" / "lambda.txt"
    try:
        problems = disagreements(pyproject, lock)
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        print(f"lock check: cannot read {pyproject} and {lock}: {error}", file=sys.stderr)
        return 2
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{lock} does not match {pyproject}: run make lock", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
