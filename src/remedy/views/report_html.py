"""`remedy.views.report.Report` as one self-contained HTML page.

Each chart is drawn by matplotlib's SVG backend (no pyplot, so no interactive backend and
no global figure state) and inlined; under it a table holds the same numbers, as the
chart's text alternative and for copying. Nothing is fetched: no scripts, fonts or
images, and a Content-Security-Policy that refuses any that crept in. Every string that
comes from a finding is escaped (matplotlib escapes the SVG's text itself; the page's by
`html.escape`), and math text is off so a ``$`` in a key stays a ``$``.

matplotlib is the ``report`` extra (``pip install 'remedy[report]'``): Lambda does not
carry it, so it is imported only when a page is rendered.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

from remedy.errors import RemedyError
from remedy.ledger.base import State
from remedy.ledger.times import age
from remedy.model import Action
from remedy.views.report import Durations, Report, Ticket, ranked, totals

#: Longer axis labels are cut (the table under the chart has them whole); only the tick
#: text is cut: each category keeps its own bar, however alike their first characters.
LABEL_CHARS = 48
WIDTH_INCHES = 9.0
#: One colour per ledger state, the same in every chart and every report (tab20's), so
#: QUARANTINED reads green and FAILED red wherever they stand in a chart's order.
STATE_COLOURS: dict[str, str] = {
    State.QUARANTINED.value: "#2ca02c",
    State.RELEASED.value: "#98df8a",
    State.GONE.value: "#17becf",
    State.CHANGED.value: "#9edae5",
    State.LOCKED.value: "#8c564b",
    State.ARCHIVED.value: "#c49c94",
    State.DENIED.value: "#e377c2",
    State.FAILED.value: "#d62728",
    State.PENDING_APPROVAL.value: "#ff7f0e",
    State.APPROVED.value: "#ffbb78",
    State.DISMISSED.value: "#7f7f7f",
    State.NOTIFIED.value: "#1f77b4",
    State.IGNORED.value: "#c7c7c7",
    State.REJECTED.value: "#9467bd",
    State.RECEIVED.value: "#aec7e8",
    State.QUARANTINING.value: "#bcbd22",
    State.DRY_RUN.value: "#dbdb8d",
}
#: The decisions' colours: each that of the state it leads to.
DECISION_COLOURS: dict[str, str] = {
    Action.QUARANTINE.value: STATE_COLOURS[State.QUARANTINED.value],
    Action.APPROVE.value: STATE_COLOURS[State.PENDING_APPROVAL.value],
    Action.NOTIFY.value: STATE_COLOURS[State.NOTIFIED.value],
    Action.IGNORE.value: STATE_COLOURS[State.IGNORED.value],
    Action.REJECT.value: STATE_COLOURS[State.REJECTED.value],
}
#: A name neither list knows (an entry written by a newer remedy).
UNKNOWN_COLOUR = "#525252"


class ChartsUnavailable(RemedyError):
    def __init__(self, missing: str) -> None:
        super().__init__(
            f"the HTML report's charts need matplotlib, which is not installed ({missing}): "
            "install the report extra, e.g. pip install 'remedy[report]'"
        )


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    #: The chart in words, for screen readers (the SVG's <desc>).
    summary: str
    svg: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


def duration(seconds: float | None) -> str:
    """``45s``, ``7m``, ``5h 12m``, ``3d 4h``; ``-`` when nothing was measured."""
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 60 else age(int(seconds))


def _unit(durations: Durations) -> tuple[str, float]:
    longest = durations.seconds[-1] if durations.seconds else 0.0
    for name, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if longest >= 2 * size:
            return name, size
    return "seconds", 1.0


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


class Renderer:
    """Draws the charts; one instance per page (each chart's ids are salted apart)."""

    def __init__(self) -> None:
        try:
            from matplotlib import rc_context
            from matplotlib.backends.backend_svg import FigureCanvasSVG
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ChartsUnavailable(str(error)) from None
        self._rc_context = rc_context
        self._canvas = FigureCanvasSVG
        self._figure = Figure

    def svg(self, chart_id: str, title: str, summary: str, draw: Callable[[Any], None]) -> str:
        """One chart as inline SVG: `draw(axes)` plots it."""
        settings: dict[Any, Any] = {
            # Text as <text>, not glyph paths: readable, selectable, and no glyph ids that
            # repeat between the page's charts.
            "svg.fonttype": "none",
            "svg.hashsalt": chart_id,
            "text.parse_math": False,
            "font.size": 9,
        }
        with self._rc_context(settings):
            figure = self._figure(figsize=(WIDTH_INCHES, 3.4), layout="constrained")
            self._canvas(figure)
            axes = figure.add_subplot()
            draw(axes)
            axes.set_title(title, loc="left", fontweight="bold")
            buffer = io.StringIO()
            figure.savefig(
                buffer,
                format="svg",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
            )
        return _inline(buffer.getvalue(), chart_id, title, summary)

    @staticmethod
    def sized(axes: Any, bars: int) -> None:
        """Room for `bars` horizontal bars."""
        axes.figure.set_figheight(max(2.4, 1.2 + 0.32 * bars))


def _inline(svg: str, chart_id: str, title: str, summary: str) -> str:
    """matplotlib's SVG document as an element of the page: no XML prolog, no size (the
    page's CSS scales it by its viewBox), no namespace URLs (HTML knows SVG's), with a
    title and a description."""
    start = svg.index("<svg")
    end = svg.index(">", start)
    tag = re.sub(r'\s(?:width|height|version|xmlns(?::\w+)?)="[^"]*"', "", svg[start:end])
    return (
        f'{tag} id="{chart_id}-svg" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>' + svg[end + 1 :]
    )


def _stacked(
    axes: Any,
    groups: dict[str, Counter[str]],
    order: Sequence[str],
    colours: dict[str, str],
    xlabel: str,
    ylabel: str,
) -> None:
    """Horizontal bars, one per group (largest on top), stacked by `order`."""
    labels = sorted(groups, key=lambda g: (sum(groups[g].values()), g))
    places = range(len(labels))
    left = [0] * len(labels)
    for name in order:
        values = [groups[g][name] for g in labels]
        axes.barh(places, values, left=left, label=name, color=_colour(colours, name))
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_yticks(places, [_short(g) for g in labels])
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.xaxis.get_major_locator().set_params(integer=True)
    if order:
        _legend(axes)
    Renderer.sized(axes, len(labels))


def _colour(colours: dict[str, str], name: str) -> str:
    return colours.get(name, UNKNOWN_COLOUR)


def _legend(axes: Any) -> None:
    """Beside the plot, so it never hides a bar."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _empty(axes: Any, what: str) -> None:
    axes.text(0.5, 0.5, what, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _histogram(axes: Any, durations: Durations, xlabel_of: str, none: str) -> None:
    if not durations.seconds:
        _empty(axes, none)
        axes.set_xlabel(xlabel_of)
        axes.set_ylabel("count")
        return
    unit, size = _unit(durations)
    axes.hist([s / size for s in durations.seconds], bins=min(20, len(durations.seconds)))
    for name, value, style in (("p50", durations.p50, "--"), ("p90", durations.p90, ":")):
        if value is not None:
            axes.axvline(
                value / size, color="black", linestyle=style, label=f"{name} {duration(value)}"
            )
    axes.set_xlabel(f"{xlabel_of} ({unit})")
    axes.set_ylabel("count")
    axes.yaxis.get_major_locator().set_params(integer=True)
    _legend(axes)


def charts(report: Report) -> list[Chart]:
    renderer = Renderer()
    out = []
    days = list(report.per_day)
    decisions = report.decisions

    def per_day(axes: Any) -> None:
        # One bar per UTC day, labelled as a day (a date axis would tick at noons).
        places = range(len(days))
        bottom = [0] * len(days)
        for name in decisions:
            values = [report.per_day[d][name] for d in days]
            colour = _colour(DECISION_COLOURS, name)
            axes.bar(places, values, bottom=bottom, label=name, color=colour)
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        step = max(1, len(days) // 12)
        axes.set_xticks(places[::step], [d.strftime("%m-%d") for d in days[::step]])
        axes.set_xlabel("day (UTC)")
        axes.set_ylabel("findings")
        axes.yaxis.get_major_locator().set_params(integer=True)
        if decisions:
            _legend(axes)
        else:
            _empty(axes, "no findings in this period")

    title = "Findings per day, by decision"
    day_totals = {d: sum(report.per_day[d].values()) for d in days}
    summary = f"{report.findings} findings over {len(days)} days: " + _counts(
        report.per_day.values()
    )
    out.append(
        Chart(
            "per-day",
            title,
            summary,
            renderer.svg("per-day", title, summary, per_day),
            ("day (UTC)", *decisions, "total"),
            # Days without findings are in the chart; the table lists the others.
            [
                (d.isoformat(), *(str(report.per_day[d][n]) for n in decisions), str(n))
                for d, n in day_totals.items()
                if n
            ],
        )
    )
    order = ranked(report.by_account.values())
    for chart_id, title, groups, what in (
        ("by-account", "Outcomes by account", report.by_account, "account"),
        ("by-type", "Outcomes by finding type", report.by_type, "finding type"),
    ):
        out.append(_outcomes(renderer, chart_id, title, groups, what, order, STATE_COLOURS))
    out.append(
        _durations(
            renderer,
            "remediate",
            "Time to remediate (finding created to QUARANTINED)",
            report.remediate,
            "time to remediate",
            "no finding was quarantined in this period",
        )
    )
    waits = _durations(
        renderer,
        "approvals",
        "Time approvals waited (PENDING_APPROVAL to APPROVED or DISMISSED)",
        report.waited,
        "wait",
        "no approval was decided in this period",
    )
    verdicts = Counter(w.verdict for w in report.waits)
    out.append(
        Chart(
            waits.id,
            waits.title,
            waits.summary + f"; {report.still_pending} still waiting at the period's end",
            waits.svg,
            waits.headers,
            [
                *waits.rows,
                *((f"decided {v}", str(n)) for v, n in sorted(verdicts.items())),
                ("still waiting", str(report.still_pending)),
            ],
        )
    )
    for chart_id, title, top, what in (
        ("top-accounts", "Top accounts by findings", report.top_accounts, "account"),
        ("top-resources", "Top resources by findings", report.top_resources, "resource"),
    ):
        out.append(_top(renderer, chart_id, title, top, what))
    return out


def _counts(counters: Iterable[Counter[str]]) -> str:
    return ", ".join(f"{n} {name}" for name, n in totals(counters).most_common()) or "none"


def _outcomes(
    renderer: Renderer,
    chart_id: str,
    title: str,
    groups: dict[str, Counter[str]],
    what: str,
    order: Sequence[str],
    colours: dict[str, str],
) -> Chart:
    def draw(axes: Any) -> None:
        if not groups:
            _empty(axes, "no findings in this period")
            axes.set_xlabel("findings")
            axes.set_ylabel(what)
            return
        _stacked(axes, groups, order, colours, "findings", what)

    summary = f"{len(groups)} of them; state at the period's end: " + _counts(groups.values())
    rows = [
        (g, *(str(groups[g][s]) for s in order), str(sum(groups[g].values())))
        for g in sorted(groups, key=lambda g: (-sum(groups[g].values()), g))
    ]
    return Chart(
        chart_id,
        title,
        summary,
        renderer.svg(chart_id, title, summary, draw),
        (what, *order, "total"),
        rows,
    )


def _durations(
    renderer: Renderer, chart_id: str, title: str, durations: Durations, what: str, none: str
) -> Chart:
    summary = (
        f"{len(durations.seconds)} measured; p50 {duration(durations.p50)}, "
        f"p90 {duration(durations.p90)}"
    )
    return Chart(
        chart_id,
        title,
        summary,
        renderer.svg(chart_id, title, summary, lambda a: _histogram(a, durations, what, none)),
        ("measure", "value"),
        [
            ("measured", str(len(durations.seconds))),
            ("p50", duration(durations.p50)),
            ("p90", duration(durations.p90)),
        ],
    )


def _top(
    renderer: Renderer, chart_id: str, title: str, top: list[tuple[str, int]], what: str
) -> Chart:
    def draw(axes: Any) -> None:
        if not top:
            _empty(axes, "no findings in this period")
        else:
            shown = list(reversed(top))
            places = range(len(shown))
            axes.barh(places, [c for _, c in shown])
            axes.set_yticks(places, [_short(n) for n, _ in shown])
            axes.xaxis.get_major_locator().set_params(integer=True)
            Renderer.sized(axes, len(top))
        axes.set_xlabel("findings")
        axes.set_ylabel(what)

    summary = ", ".join(f"{name}: {n}" for name, n in top) or "none"
    return Chart(
        chart_id,
        title,
        summary,
        renderer.svg(chart_id, title, summary, draw),
        (what, "findings"),
        [(name, str(n)) for name, n in top],
    )


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fff; }
main { max-width: 1000px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; }
.summary { display: flex; flex-wrap: wrap; gap: 0.5rem; padding: 0; list-style: none; }
.summary li { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.4rem 0.7rem; }
.summary b { display: block; font-size: 1.25rem; }
figure { margin: 1.5rem 0; border-top: 1px solid #d0d7de; padding-top: 0.5rem; }
svg.chart { width: 100%; height: auto; display: block; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; margin-top: 0.5rem; }
th, td { border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; overflow-wrap: anywhere; }
caption { text-align: left; font-weight: 600; }
summary { cursor: pointer; font-size: 0.9rem; }
"""
# Nothing may load: a browser refuses anything but the inline style.
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _link(ticket: Ticket) -> str:
    # Only a web link: a ledger entry's url is data, and a javascript: one would run.
    if ticket.url and urlsplit(ticket.url).scheme in ("https", "http"):
        return f'<a href="{escape(ticket.url)}">{escape(ticket.id)}</a>'
    return escape(ticket.id)


def _tickets(report: Report) -> str:
    if not report.tickets:
        return ""
    rows = "".join(
        f"<tr><td>{escape(t.key)}</td><td>{escape(t.account)}</td><td>{_link(t)}</td>"
        f"<td>{escape(f'{t.backend} {t.status}'.strip())}</td><td>{escape(t.owed)}</td></tr>"
        for t in report.tickets
    )
    head = "".join(
        f'<th scope="col">{h}</th>' for h in ("entry", "account", "ticket", "status", "owed")
    )
    return (
        f'<section id="tickets"><h2>Tickets</h2><p>{len(report.tickets)} entries of the period '
        f"have a ticket or owe one; {len(report.tickets_owed)} owed (the ticket system's last "
        "answer is shown).</p>"
        '<div class="scroll"><table><caption>Tickets</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _table(chart: Chart) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in chart.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in chart.rows
    )
    # Folded, so the charts read as one page; open, the same numbers as a table.
    return (
        f"<details><summary>{escape(chart.title)}: the numbers</summary>"
        f'<div class="scroll"><table><caption>{escape(chart.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></details>"
    )


def page(report: Report, *, generated: datetime | None = None) -> str:
    """The whole HTML document."""
    made = (generated or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    period = report.period
    since = period.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    until = period.until.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    facts = (
        ("findings", str(report.findings)),
        ("time to remediate p50", duration(report.remediate.p50)),
        ("time to remediate p90", duration(report.remediate.p90)),
        ("approvals waited p50", duration(report.waited.p50)),
        ("approvals waited p90", duration(report.waited.p90)),
        ("approvals still waiting", str(report.still_pending)),
        ("tickets owed", str(len(report.tickets_owed))),
    )
    summary = "".join(f"<li><b>{escape(v)}</b>{escape(k)}</li>" for k, v in facts)
    figures = "".join(
        f'<figure id="{c.id}">{c.svg}<figcaption>{escape(c.summary)}</figcaption>'
        f"{_table(c)}</figure>"
        for c in charts(report)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>remedy report {since} to {until} UTC</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>remedy report</h1><p>Findings received from {since} to {until} UTC, as they "
        f"stood at the end of the period. Made {made} from the ledger.</p>"
        f'<ul class="summary">{summary}</ul>{figures}{_tickets(report)}</main></body></html>\n'
    )
