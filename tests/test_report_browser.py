"""The report page in Debian's headless Chromium: it renders, shows every chart at a
size, logs no console error (its Content-Security-Policy would log anything it tried
to fetch), and fits a phone-wide window. The screenshots it leaves in
``tests/artifacts/`` are for a person to look at and stay out of git; ``make docs``
copies the month's into docs/ for the README."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from browser_support import browser, console_errors
from notify_support import Ledger, aws, ledger
from remedy.cli import main
from report_month import Month
from test_report import PERIOD, env, story

__all__ = ["aws", "browser", "env", "ledger"]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHARTS = (
    "per-day",
    "by-account",
    "by-type",
    "remediate",
    "approvals",
    "top-accounts",
    "top-resources",
)


@pytest.fixture
def page(env: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    story(env)
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out), *PERIOD]) == 0
    return out


@pytest.mark.parametrize("width", [1280, 380])
def test_the_report_renders_every_chart_without_console_errors(
    browser: WebDriver, page: Path, width: int
) -> None:
    browser.set_window_size(width, 900)
    browser.get(page.as_uri())
    shows_every_chart(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"report-{width}.png"))


def test_a_month_of_findings_makes_the_readme_picture(
    browser: WebDriver, env: Ledger, tmp_path: Path
) -> None:
    findings = Month(env, datetime.now(UTC)).fill()
    out = tmp_path / "report.html"
    assert main(["report", "--html", str(out)]) == 0
    browser.set_window_size(1100, 900)
    browser.get(out.as_uri())
    assert browser.find_element(By.CSS_SELECTOR, ".summary b").text == str(findings)
    shows_every_chart(browser)
    # The whole page in one picture (what make docs puts in the README).
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1100, int(height) + 20)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report-month.png"))


def shows_every_chart(browser: WebDriver) -> None:
    assert browser.find_element(By.TAG_NAME, "h1").text == "remedy report"
    for chart in CHARTS:
        svg = browser.find_element(By.ID, f"{chart}-svg")
        size = svg.size
        assert size["width"] > 0 and size["height"] > 0, chart
        # The chart has drawn something: bars, lines or its "nothing here" text.
        assert svg.find_elements(By.CSS_SELECTOR, "path, text"), chart
        title = svg.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        # Its numbers as a table, folded under it.
        table = browser.find_element(By.ID, chart).find_element(By.TAG_NAME, "table")
        assert table.find_element(By.TAG_NAME, "caption").get_attribute("textContent") == title
        assert table.find_elements(By.CSS_SELECTOR, "tbody tr"), chart
    # Nothing wider than the window but the tables' own scrolling boxes.
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0
    assert console_errors(browser) == []
