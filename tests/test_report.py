"""``remedy report``: a period's numbers from a ledger on moto, and the page they make.

The entries are written by the ledger store with its clock set, in three accounts over
three days, so every count and duration is known: time to remediate 15m, 30m, 31m and
1h (p50 30m, p90 1h, nearest-rank), approvals waited 20m (approved) and 2h (dismissed),
two approvals still waiting at the period's end (one decided only after it).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from notify_support import ROOT, TABLE, Ledger, aws, create_at, finding_from, ledger, store_at
from remedy.cli import main
from remedy.ledger.base import State, stamp
from remedy.ledger.queries import LedgerQueries
from remedy.model import Finding
from remedy.policy import load_policy
from remedy.tickets.lifecycle import OWED, SLOT
from remedy.views.report import BadPeriod, Durations, Period, read
from remedy.views.report_html import DECISION_COLOURS, LABEL_CHARS, STATE_COLOURS

__all__ = ["aws", "ledger"]

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 3, 23, 59, 59, tzinfo=UTC)
PERIOD = ["--since", "2026-11-01", "--until", "2026-11-03T23:59:59Z"]
PAYMENTS, ANALYTICS, SANDBOX = "111111111111", "222222222222", "333333333333"
WHO = "slack:U0PAYLEAD1"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _finding(account: str, created: datetime, event: str = "macie-personal") -> Finding:
    """A sample finding moved to `account`, as its product dated it `created`."""
    base = finding_from(f"{event.replace('macie-', 'macie-classification-')}.json")
    return replace(base, account=account, created_at=stamp(created))


def _quarantined(
    ledger: Ledger, key: str, finding: Finding, start: datetime, done: datetime
) -> None:
    create_at(ledger, start, finding, key, State.QUARANTINING, "quarantine")
    store_at(ledger, done).transition(
        key, [State.QUARANTINING], State.QUARANTINED, by="remedy", note="moved"
    )


def _asked(ledger: Ledger, key: str, finding: Finding, asked: datetime) -> None:
    create_at(ledger, asked, finding, key, State.PENDING_APPROVAL, "approve")


def _decide(ledger: Ledger, key: str, when: datetime, verdict: State) -> None:
    store_at(ledger, when).transition(key, [State.PENDING_APPROVAL], verdict, by=WHO, note="ok")


def story(ledger: Ledger) -> None:
    # 1 November: two quarantines (15m and 30m; the second released the next day) and an
    # approval that waited 20m, then quarantined 31m after its finding was created.
    _quarantined(ledger, "q1", _finding(PAYMENTS, at(1, 10)), at(1, 10, 5), at(1, 10, 15))
    q2 = _finding(ANALYTICS, at(1, 11), "macie-financial")
    _quarantined(ledger, "q2", q2, at(1, 11), at(1, 11, 30))
    store_at(ledger, at(2, 9)).transition(
        "q2", [State.QUARANTINED], State.RELEASED, by="arn:aws:iam::999999999999:user/ada"
    )
    _asked(ledger, "a1", _finding(PAYMENTS, at(1, 11, 50)), at(1, 12))
    _decide(ledger, "a1", at(1, 12, 20), State.APPROVED)
    s = store_at(ledger, at(1, 12, 21))
    s.transition("a1", [State.APPROVED], State.QUARANTINING, by="remedy")
    s.transition("a1", [State.QUARANTINING], State.QUARANTINED, by="remedy", note="moved")
    # 2 November: an approval dismissed after 2h, a notification, a quarantine in 1h.
    _asked(ledger, "a2", _finding(ANALYTICS, at(2, 9), "macie-financial"), at(2, 9))
    _decide(ledger, "a2", at(2, 11), State.DISMISSED)
    notified = _finding(SANDBOX, at(2, 10), "macie-credentials")
    create_at(ledger, at(2, 10), notified, "n1", State.NOTIFIED, "notify")
    _quarantined(ledger, "q3", _finding(PAYMENTS, at(2, 8)), at(2, 8, 30), at(2, 9))
    # 3 November: two approvals still waiting at the end (one is decided on the 4th).
    _asked(ledger, "a3", _finding(PAYMENTS, at(3, 8)), at(3, 8))
    _asked(ledger, "a4", _finding(PAYMENTS, at(3, 9)), at(3, 9))
    _decide(ledger, "a4", at(4, 10), State.APPROVED)
    # Outside the period: received the day before (quarantined inside it), the day after.
    _quarantined(
        ledger, "before", _finding(PAYMENTS, at(1, 0)), at(1, 0) - timedelta(hours=1), at(1, 1)
    )
    _asked(ledger, "after", _finding(ANALYTICS, at(4, 8)), at(4, 8))


@pytest.fixture
def env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(ROOT / "policies"))
    return ledger


def test_the_numbers_of_a_period(ledger: Ledger) -> None:
    story(ledger)
    queries = LedgerQueries(ledger.table, ledger.client)
    accounts = load_policy(ROOT / "policies").accounts
    report = read(queries, accounts, Period(SINCE, UNTIL))

    assert report.per_day == {
        date(2026, 11, 1): Counter(quarantine=2, approve=1),
        date(2026, 11, 2): Counter(approve=1, notify=1, quarantine=1),
        date(2026, 11, 3): Counter(approve=2),
    }
    assert report.findings == 8
    assert report.decisions[0] == "approve"
    assert report.by_account == {
        f"prod-payments ({PAYMENTS})": Counter(QUARANTINED=3, PENDING_APPROVAL=2),
        f"staging-analytics ({ANALYTICS})": Counter(RELEASED=1, DISMISSED=1),
        f"dev-sandbox ({SANDBOX})": Counter(NOTIFIED=1),
    }
    assert report.by_type == {
        "SensitiveData:S3Object/Personal": Counter(QUARANTINED=3, PENDING_APPROVAL=2),
        "SensitiveData:S3Object/Financial": Counter(RELEASED=1, DISMISSED=1),
        "SensitiveData:S3Object/Credentials": Counter(NOTIFIED=1),
    }
    assert report.remediate.seconds == (900.0, 1800.0, 1860.0, 3600.0)
    assert (report.remediate.p50, report.remediate.p90) == (1800.0, 3600.0)
    assert [(w.key, w.seconds, w.verdict) for w in report.waits] == [
        ("a1", 1200.0, "APPROVED"),
        ("a2", 7200.0, "DISMISSED"),
    ]
    assert (report.waited.p50, report.waited.p90) == (1200.0, 7200.0)
    assert report.still_pending == 2
    assert report.top_accounts == [
        (f"prod-payments ({PAYMENTS})", 5),
        (f"staging-analytics ({ANALYTICS})", 2),
        (f"dev-sandbox ({SANDBOX})", 1),
    ]
    assert report.top_resources[0][1] == 5
    # Read through the activity index: only the ten entries written since the period's
    # start were examined, with one query per day and shard (never a scan).
    assert queries.reads.items == 10


def test_a_period_in_another_time_zone_counts_utc_days(ledger: Ledger) -> None:
    story(ledger)
    accounts = load_policy(ROOT / "policies").accounts
    # 1 November 12:10 in UTC+2 is 10:10 UTC: after q1's entry (10:05), before q2's.
    since = datetime(2026, 11, 1, 12, 10, tzinfo=timezone(timedelta(hours=2)))
    report = read(LedgerQueries(ledger.table, ledger.client), accounts, Period(since, UNTIL))
    assert report.per_day[date(2026, 11, 1)] == Counter(quarantine=1, approve=1)


def test_a_period_must_not_end_before_it_starts() -> None:
    with pytest.raises(BadPeriod) as error:
        Period(UNTIL, SINCE)
    assert str(error.value) == (
        "--since 2026-11-03T23:59:59+00:00 is after --until 2026-11-01T00:00:00+00:00"
    )


def test_percentiles_are_nearest_rank() -> None:
    ten = Durations.of(float(n) for n in range(10, 0, -1))
    assert (ten.p50, ten.p90, ten.percentile(100)) == (5.0, 9.0, 10.0)
    one = Durations.of([42.0])
    assert (one.p50, one.p90) == (42.0, 42.0)
    assert (Durations().p50, Durations().p90) == (None, None)


def test_the_command_writes_one_self_contained_page(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story(env)
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    assert capsys.readouterr().out == (
        "report of 8 findings from 2026-11-01T00:00:00+00:00 to 2026-11-03T23:59:59+00:00 "
        f"written to {out}\n"
    )
    page = out.read_text(encoding="utf-8")
    assert external_references(page) == []
    assert page.count('<svg class="chart"') + page.count('class="chart"') >= 7
    for fact in (
        "<b>8</b>findings",
        "<b>30m</b>time to remediate p50",
        "<b>1h 0m</b>time to remediate p90",
        "<b>20m</b>approvals waited p50",
        "<b>2h 0m</b>approvals waited p90",
        "<b>2</b>approvals still waiting",
    ):
        assert fact in page


def external_references(page: str) -> list[str]:
    """Whatever in `page` would make a browser fetch something: any URL at all, a script,
    a stylesheet or image link, an @import, a url() or href that is not a ``#`` fragment
    of the page itself (the charts' clip paths and tick marks are)."""
    return re.findall(
        r"[a-z]+://[^\s\"'<>]*|<script|<link|<img|<iframe|<object|@import"
        r"|url\((?!#)|href=\"(?!#)",
        page,
        re.I,
    )


def test_a_findings_text_is_escaped(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = replace(_finding(PAYMENTS, at(2, 8)), type='<script>alert(1)</script>$x$ & "q"')
    _quarantined(env, "evil", hostile, at(2, 8), at(2, 9))
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;$x$ &amp; &quot;q&quot;" in page
    assert external_references(page) == []


def test_a_bad_since_is_one_line_and_exit_2(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), "--since", "yesterday"]) == 2
    assert capsys.readouterr() == (
        "",
        "remedy report: --since: 'yesterday' is not an ISO 8601 date or time "
        "(e.g. 2026-12-01 or 2026-12-01T08:00:00Z)\n",
    )
    assert (
        main(["report", "--html", str(out), "--since", "2026-11-04", "--until", "2026-11-03"]) == 2
    )
    assert capsys.readouterr().err == (
        "remedy report: --since 2026-11-04T00:00:00+00:00 is after --until "
        "2026-11-03T00:00:00+00:00\n"
    )
    assert not out.exists()


def test_an_unreadable_ledger_is_one_line_and_exit_2(
    env: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", "gone-ledger")
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 2
    assert capsys.readouterr() == (
        "",
        "remedy report: ledger table 'gone-ledger' not found: set REMEDY_LEDGER_TABLE to the "
        "core stack's LedgerTableName output and AWS_DEFAULT_REGION to its region\n",
    )
    assert not out.exists()
    assert boto3.client("dynamodb").list_tables()["TableNames"] == [TABLE]


def test_an_unwritable_file_is_one_line_and_exit_2(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-dir" / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 2
    assert capsys.readouterr() == (
        "",
        f"remedy report: cannot write {out}: No such file or directory\n",
    )
    assert not out.parent.exists()


def test_without_matplotlib_the_page_says_what_to_install(
    env: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As on a machine without the report extra: importing matplotlib fails.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 2
    assert capsys.readouterr().err == (
        "remedy report: the HTML report's charts need matplotlib, which is not installed "
        "(import of matplotlib halted; None in sys.modules): install the report extra, "
        "e.g. pip install 'remedy[report]'\n"
    )
    assert not out.exists()


def _figure(page: str, chart_id: str) -> str:
    start = page.index(f'<figure id="{chart_id}">')
    return page[start : page.index("</figure>", start)]


def _svg_texts(figure: str) -> list[str]:
    svg = figure[: figure.index("</svg>")]
    return re.findall(r"<text [^>]*>([^<]*)</text>", svg)


def test_labels_that_share_their_first_characters_stay_distinct_bars(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Six objects under one long prefix, in two accounts: six resources, six bars.
    prefix = "exports/" + "quarterly-ledger-reconciliation/" * 2
    base = _finding(PAYMENTS, at(2, 8))
    for i in range(6):
        obj = replace(base.s3_objects[0], key=f"{prefix}part-{i}.csv")
        finding = replace(base, resources=(obj,), account=(PAYMENTS, ANALYTICS)[i % 2])
        _quarantined(env, f"k{i}", finding, at(2, 8), at(2, 9))
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    page = out.read_text(encoding="utf-8")

    figure = _figure(page, "top-resources")
    shown = [t for t in _svg_texts(figure) if t.startswith("s3://")]
    assert len(shown) == 6
    assert all(t.endswith("…") and len(t) == LABEL_CHARS for t in shown)
    # The table has every label whole.
    assert all(f"{prefix}part-{i}.csv" in figure for i in range(6))


_LEGEND = re.compile(
    r'style="fill: (#[0-9a-f]{6})"/>\s*</g>\s*<g id="text_\d+">\s*<text [^>]*>([^<]+)</text>'
)


def _legend(page: str, chart_id: str) -> dict[str, str]:
    return {name: colour for colour, name in _LEGEND.findall(_figure(page, chart_id))}


def test_a_state_has_one_colour_in_every_chart_and_every_report(
    env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Day 1: quarantines are the most frequent outcome; day 2: failures are.
    for i in range(3):
        _quarantined(env, f"q{i}", _finding(PAYMENTS, at(1, 8)), at(1, 8), at(1, 9))
    create_at(env, at(1, 8), _finding(PAYMENTS, at(1, 8)), "f0", State.QUARANTINING, "quarantine")
    store_at(env, at(1, 9)).transition("f0", [State.QUARANTINING], State.FAILED, by="remedy")
    for i in range(1, 5):
        key = f"f{i}"
        create_at(
            env, at(2, 8), _finding(ANALYTICS, at(2, 8)), key, State.QUARANTINING, "quarantine"
        )
        store_at(env, at(2, 9)).transition(key, [State.QUARANTINING], State.FAILED, by="remedy")
    create_at(env, at(2, 8), _finding(ANALYTICS, at(2, 8)), "n0", State.NOTIFIED, "notify")
    pages = []
    for day in ("2026-11-01", "2026-11-02"):
        out = tmp_path / f"{day}.html"
        assert main(["report", "--html", str(out), "--since", day, "--until", f"{day}T23:59Z"]) == 0
        pages.append(out.read_text(encoding="utf-8"))

    first, second = (
        {chart: _legend(page, chart) for chart in ("by-account", "by-type")} for page in pages
    )
    assert first["by-account"] == first["by-type"]
    assert second["by-account"] == second["by-type"]
    assert first["by-account"]["QUARANTINED"] == STATE_COLOURS["QUARANTINED"]
    assert (
        first["by-account"]["FAILED"] == second["by-account"]["FAILED"] == STATE_COLOURS["FAILED"]
    )
    assert second["by-account"]["NOTIFIED"] == STATE_COLOURS["NOTIFIED"]
    # Every state and decision has its own colour.
    assert len(set(STATE_COLOURS.values())) == len(State)
    assert set(STATE_COLOURS) == {s.value for s in State}
    per_day = _legend(pages[1], "per-day")
    assert per_day == {
        "quarantine": DECISION_COLOURS["quarantine"],
        "notify": DECISION_COLOURS["notify"],
    }


def _ticketed(ledger: Ledger) -> None:
    """q1 with a resolved Jira issue, a1 with an open ServiceNow incident and a comment
    owed, a3 with no ticket yet (owed: Jira refused it), as `remedy.tickets` records them."""
    store = store_at(ledger, at(3, 12))
    store.update_attrs(
        "q1",
        {
            SLOT: {
                "backend": "jira",
                "status": "resolved",
                "id": "SEC-1",
                "url": "https://example.atlassian.net/browse/SEC-1",
            }
        },
    )
    url = "https://example.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3Dabc"
    store.update_attrs(
        "a1",
        {
            SLOT: {"backend": "servicenow", "status": "open", "id": "INC0010001", "url": url},
            OWED: "ServiceNow PATCH /api/now/table/incident/abc: HTTP 503 injected 503",
        },
    )
    store.update_attrs(
        "a3",
        {
            SLOT: {"backend": "jira", "status": "owed"},
            OWED: "Jira POST /rest/api/3/issue: HTTP 400 project: valid project is <required>",
        },
    )


def test_the_report_lists_each_entrys_ticket_and_those_owed(env: Ledger, tmp_path: Path) -> None:
    story(env)
    _ticketed(env)
    accounts = load_policy(ROOT / "policies").accounts
    report = read(LedgerQueries(env.table, env.client), accounts, Period(SINCE, UNTIL))
    assert [(t.key, t.id, t.status, t.owed != "") for t in report.tickets] == [
        ("q1", "SEC-1", "resolved", False),
        ("a1", "INC0010001", "open", True),
        ("a3", "", "owed", True),
    ]
    assert len(report.tickets_owed) == 2

    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<b>2</b>tickets owed" in page
    section = page[page.index('<section id="tickets">') :]
    assert section[: section.index("</section>") + len("</section>")] == (
        '<section id="tickets"><h2>Tickets</h2>'
        "<p>3 entries of the period have a ticket or owe one; 2 owed (the ticket system's "
        "last answer is shown).</p>"
        '<div class="scroll"><table><caption>Tickets</caption><thead><tr>'
        '<th scope="col">entry</th><th scope="col">account</th><th scope="col">ticket</th>'
        '<th scope="col">status</th><th scope="col">owed</th></tr></thead><tbody>'
        f"<tr><td>q1</td><td>prod-payments ({PAYMENTS})</td>"
        '<td><a href="https://example.atlassian.net/browse/SEC-1">SEC-1</a></td>'
        "<td>jira resolved</td><td></td></tr>"
        f"<tr><td>a1</td><td>prod-payments ({PAYMENTS})</td>"
        '<td><a href="https://example.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3Dabc">'
        "INC0010001</a></td><td>servicenow open</td>"
        "<td>ServiceNow PATCH /api/now/table/incident/abc: HTTP 503 injected 503</td></tr>"
        f"<tr><td>a3</td><td>prod-payments ({PAYMENTS})</td><td></td><td>jira owed</td>"
        "<td>Jira POST /rest/api/3/issue: HTTP 400 project: valid project is "
        "&lt;required&gt;</td></tr>"
        "</tbody></table></div></section>"
    )
    # The only URLs on the page are the tickets' links: nothing is fetched.
    assert external_references(page) == [
        'href="',
        "https://example.atlassian.net/browse/SEC-1",
        'href="',
        "https://example.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3Dabc",
    ]


def test_a_ticket_url_that_is_not_http_is_not_a_link(env: Ledger, tmp_path: Path) -> None:
    story(env)
    store_at(env, at(3, 12)).update_attrs(
        "q1",
        {SLOT: {"backend": "jira", "status": "open", "id": "SEC-1", "url": "javascript:x()"}},
    )
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    page = out.read_text(encoding="utf-8")
    assert "javascript:" not in page
    assert "<td>SEC-1</td><td>jira open</td>" in page
