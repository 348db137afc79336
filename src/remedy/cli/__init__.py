"""The ``remedy`` command. Each subcommand is a module exposing ``add_parser(subparsers)``.

``add_parser`` registers the subcommand and sets ``func`` (returning the exit status) as
the parser default; ``main`` only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under remedy.cli that provide subcommands, in help order.
SUBCOMMANDS: tuple[str, ...] = ("explain", "policy", "owners", "release", "demo")


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
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
