"""Text for a terminal: what a member account wrote (an S3 key, a finding's type, a note)
must not drive the operator's terminal.

Control characters (C0, DEL and C1, among them ESC and the CSI that start cursor moves,
erases and hyperlinks) and format characters (the right-to-left overrides that reorder a
line) are shown as Python escapes (``\\x1b``, ``\\u202e``), so the operator sees that they
are there instead of what they would do.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories a terminal acts on rather than shows.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every control and format character escaped."""
    if text.isprintable():
        return text
    return "".join(
        ch if unicodedata.category(ch) not in _HIDDEN else ascii(ch)[1:-1] for ch in text
    )


def one_line(text: str) -> str:
    """`text` on one line, runs of whitespace folded to one space, the rest `printable`."""
    return printable(" ".join(text.split()))
