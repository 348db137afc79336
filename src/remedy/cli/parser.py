"""The conventions every ``remedy`` command's arguments follow, in one parser class.

A bad flag or value is one line and exit status 2 (argparse prints its usage block and
the message on two); help shows the docstrings without their reStructuredText markup;
values from a fixed list are taken in any case (``--state quarantined``). Subcommand
parsers are made with the class of their parent, so every command gets these, the ones
added later too.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

_MARKUP = re.compile(r"``([^`]*)``|`([^`]*)`")
_ACCOUNT_ID = re.compile(r"[0-9]{12}\Z")


def plain(text: str) -> str:
    """``text`` without the ``literal`` and `reference` markup of a docstring."""
    return _MARKUP.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)


class PlainFormatter(argparse.HelpFormatter):
    def _format_text(self, text: str) -> str:
        return super()._format_text(plain(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", PlainFormatter)
        super().__init__(*args, **kwargs)
        # The deepest parser's default wins: main names the command in its error lines.
        self.set_defaults(cli_prog=self.prog)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            # Named for the command they were given to, not for the top-level parser.
            prog = getattr(parsed, "cli_prog", self.prog)
            self.exit(
                2, f"{prog}: unrecognized arguments: {' '.join(extras)} (see {prog} --help)\n"
            )
        return parsed

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # Case-insensitive choices: the value a person typed, spelt as the choice is.
        choices = action.choices
        if choices is not None and all(isinstance(c, str) for c in choices):
            spelt = {str(c).casefold(): c for c in choices}
            arg_string = spelt.get(arg_string.casefold(), arg_string)
        return super()._get_value(action, arg_string)


def account_id(value: str) -> str:
    """An argparse type: a 12-digit AWS account id, refused otherwise."""
    if not _ACCOUNT_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a 12-digit AWS account id")
    return value


def fail(prog: str, message: str) -> int:
    """Print one error line for `prog` and return exit status 2."""
    print(f"{prog}: {' '.join(message.split())}", file=sys.stderr)
    return 2
