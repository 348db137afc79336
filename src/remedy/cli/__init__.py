"""The ``remedy`` command. Each subcommand is a module exposing ``add_parser(subparsers)``.

``add_parser`` registers the subcommand and sets ``func`` (returning the exit status) as
the parser default; ``main`` dispatches, and reports a policy that does not load (one
``file:path: message`` line each, exit status 2) for every subcommand that reads it.

The contract every command keeps (tests/test_cli_contract.py runs each one the parser
lists): exit 0 when fine, 1 only with the meaning it documents, 2 for any error, which is
one line on stderr saying what is wrong and what to do, never a traceback. A command that
needs no AWS says so with ``parser.set_defaults(local=True)``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from remedy.cli import failure
from remedy.cli.parser import Parser, fail
from remedy.errors import PolicyError
from remedy.settings import Settings

# Modules under remedy.cli that provide subcommands, in help order.
SUBCOMMANDS: tuple[str, ...] = (
    "explain",
    "policy",
    "owners",
    "release",
    "status",
    "history",
    "report",
    "doctor",
    "breaker",
    "demo",
)


def version() -> str:
    from importlib import metadata

    return metadata.version("remedy")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="remedy", description="Multi-account central remediation for AWS findings."
    )
    parser.add_argument("--version", action="version", version=f"remedy {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"remedy.cli.{name}").add_parser(subparsers)
    return parser


#: The status a shell reports for a command ended by SIGPIPE (128 + 13).
CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # Every command reads the REMEDY_* settings the same way: a bad one is named here,
        # whichever command meets it first.
        Settings.from_env()
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
    except KeyboardInterrupt:
        return fail(args.cli_prog, "interrupted")
    except Exception as error:
        if os.environ.get(failure.DEBUG_ENV):
            raise
        return fail(args.cli_prog, failure.describe(error))
    return status


if __name__ == "__main__":
    sys.exit(main())
