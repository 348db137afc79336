"""The ``remedy`` command. Each subcommand is a module exposing ``add_parser(subparsers)``.

``add_parser`` registers the subcommand and sets ``func`` (returning the exit status) as
the parser default; ``main`` dispatches, and reports a policy that does not load (one
``file:path: message`` line each, exit status 2) for every subcommand that reads it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from remedy.errors import PolicyError

# Modules under remedy.cli that provide subcommands, in help order.
SUBCOMMANDS: tuple[str, ...] = (
    "explain",
    "policy",
    "owners",
    "release",
    "status",
    "history",
    "report",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="remedy", description="Multi-account central remediation for AWS findings."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"remedy.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except PolicyError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
