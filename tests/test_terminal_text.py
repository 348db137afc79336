"""What reaches the operator's terminal: no character the terminal would act on."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from remedy.views.table import table
from remedy.views.terminal import one_line, printable


@given(st.text())
def test_printable_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = printable(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in shown)
    # Printable text is left exactly as it is.
    assert printable(shown) == shown


@given(st.text())
def test_one_line_is_one_line(text: str) -> None:
    assert "\n" not in one_line(text) and "\r" not in one_line(text)


def test_escapes_are_shown_not_done() -> None:
    assert printable("a\x1b[2Kb\u202ec\x7f\x9b") == "a\\x1b[2Kb\\u202ec\\x7f\\x9b"
    assert printable("émoji ✓ 名前") == "émoji ✓ 名前"
    assert table(("key",), [("k\x1b[1A\tx",)]) == "key\n----------\nk\\x1b[1A x"
