"""The ``remedy`` command. Each subcommand is a module exposing ``add_parser(subparsers)``.

``add_parser`` registers the subcommand and sets ``func`` (returning the exit status) as
the parser default; ``main`` dispatches, and reports a policy that does not load (one
``file:path: message`` line each, exit status 2) for every subcommand that reads it.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    "breaker",
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


#: The status a shell reports for a command ended by SIGPIPE (128 + 13).
CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        # Flushed here, not at exit: a closed pipe must surface where it is caught.
        sys.stdout.flush()
    except PolicyError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`remedy explain ... | head`): end quietly, as Unix tools
        # do. What is still buffered goes to /dev/null, or Python's exit-time flush of
        # stdout would print the same error again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE
    return status


if __name__ == "__main__":
    sys.exit(main())
