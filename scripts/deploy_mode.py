"""How ``make deploy-core ENV=...`` runs ``sam deploy``: guided only the first time.

Prints nothing (deploy with the environment's saved answers) when ``samconfig.toml`` holds
``parameter_overrides`` for the environment, ``--guided`` when it does not and a person is
at a terminal to answer; otherwise (a pipeline before the first deploy) exits 2 with one
line saying what to do, instead of waiting for input that never comes.

    python scripts/deploy_mode.py ENV [samconfig.toml]
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mode(environment: str, samconfig: Path, interactive: bool) -> str:
    """``""`` or ``"--guided"``; a `SystemExit` with the message when neither can run."""
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SystemExit(f"deploy-core: cannot read {samconfig}: {error}") from None
    deploy = config.get(environment, {}).get("deploy", {}).get("parameters", {})
    if "parameter_overrides" in deploy:
        return ""
    if interactive:
        return "--guided"
    raise SystemExit(
        f"deploy-core: {samconfig} has no parameter_overrides for ENV={environment}: run "
        f"make deploy-core ENV={environment} once in a terminal (guided) and commit "
        f"{samconfig.name}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: deploy_mode.py ENV [samconfig.toml]", file=sys.stderr)
        return 2
    samconfig = Path(args[1]) if len(args) > 1 else ROOT / "samconfig.toml"
    try:
        print(mode(args[0], samconfig, sys.stdin.isatty()))
    except SystemExit as refused:
        print(refused.code, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
