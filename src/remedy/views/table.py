"""Plain-text tables for a terminal: one header row, columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence

from remedy.views.terminal import one_line

#: A cell longer than this is cut with an ellipsis, so one long note cannot wrap a table.
MAX_CELL = 60


def _cell(value: str) -> str:
    value = one_line(value)
    return value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [[_cell(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
