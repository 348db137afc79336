"""The email approval page in a real browser: Debian's headless Chromium, driven by
Selenium, against the real handler behind a local HTTP API stand-in, the core account on
moto. A person opens the emailed link, reads the finding, presses a button; the ledger
moves and the page says so. Used and expired links show their refusal.

The browser is `browser_support`'s (Chromium from `make browser`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import browser, console_errors
from email_support import Core, core
from httpapi_server import HttpApiServer
from remedy.approvals.email_links import ApprovalLinks
from remedy.handlers import email_approval
from remedy.ledger.base import Entry, State

__all__ = ["browser", "core"]

ROUTES = {"GET /approve", "POST /approve"}


@pytest.fixture
def site(core: Core) -> Iterator[HttpApiServer]:
    with HttpApiServer(email_approval.handler, ROUTES) as server:
        yield server


def emailed(core: Core, site: HttpApiServer, entry: Entry, **kwargs: Any) -> ApprovalLinks:
    """The links the owners' email would carry, pointing at the local API."""
    signer = core.signer(**kwargs)
    signer.base_url = site.url
    return signer.links(entry)


def heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def button(driver: WebDriver, label: str) -> WebElement:
    return driver.find_element(By.XPATH, f"//form[@method='post']//button[.='{label}']")


def main_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "main").text)


def wait_for_heading(driver: WebDriver, text: str) -> None:
    # While the posted form's answer loads, chromedriver reports the old page's heading
    # as stale or, mid-swap, as a node that "does not belong to the document" (a plain
    # WebDriverException): both mean "not there yet", so look again until it shows.
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: heading(d) == text, message=f"the page heading never became {text!r}"
    )


def test_an_owner_approves_from_the_emailed_link(
    browser: WebDriver, core: Core, site: HttpApiServer
) -> None:
    entry = core.pending()
    links = emailed(core, site, entry)
    browser.get(links.approve)
    assert heading(browser) == "Approve quarantine?"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    page = main_text(browser)
    assert "staging-analytics (222222222222)" in page
    assert entry.decision["reason"] in page
    # Opening the link decided nothing; the inline style passed the page's CSP.
    assert core.store.get(entry.key) == entry
    approve = button(browser, "Approve quarantine")
    assert approve.value_of_css_property("background-color") == "rgba(11, 79, 138, 1)"
    approve.click()
    wait_for_heading(browser, "Approved")
    assert "Approved: the remediation is starting." in main_text(browser)
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.APPROVED
    assert after.attrs["email_link"]["action"] == "approve"
    assert [call["payload"] for call in core.invoked] == [{"key": entry.key}]
    assert [e["routeKey"] for e in site.events] == ["GET /approve", "POST /approve"]
    assert console_errors(browser) == []


def test_an_owner_dismisses_with_the_keyboard(
    browser: WebDriver, core: Core, site: HttpApiServer
) -> None:
    entry = core.pending()
    # The approve link's page offers both decisions.
    browser.get(emailed(core, site, entry).approve)
    button(browser, "Dismiss").send_keys(Keys.ENTER)
    wait_for_heading(browser, "Dismissed")
    assert "Dismissed: nothing will be changed" in main_text(browser)
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.DISMISSED
    assert after.attrs["email_link"]["action"] == "dismiss"
    assert core.invoked == []
    (owners,) = core.owner_messages()
    assert owners["MessageAttributes"]["state"]["StringValue"] == "DISMISSED"


def test_a_used_link_shows_when_it_was_used_and_offers_no_buttons(
    browser: WebDriver, core: Core, site: HttpApiServer
) -> None:
    entry = core.pending()
    links = emailed(core, site, entry)
    browser.get(links.dismiss)
    button(browser, "Dismiss").click()
    wait_for_heading(browser, "Dismissed")
    decided = core.store.get(entry.key)
    assert decided is not None
    for link in (links.dismiss, links.approve):
        browser.get(link)
        assert heading(browser) == "This link was already used"
        text = main_text(browser)
        assert f"already used at {decided.attrs['email_link']['at']} to dismiss" in text
        assert browser.find_elements(By.TAG_NAME, "button") == []
    assert core.store.get(entry.key) == decided


def test_a_resubmitted_form_is_refused(browser: WebDriver, core: Core, site: HttpApiServer) -> None:
    entry = core.pending()
    browser.get(emailed(core, site, entry).approve)
    # Two tabs on the same page: the first click decides, the second is refused.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(emailed(core, site, entry).approve)
    button(browser, "Dismiss").click()
    wait_for_heading(browser, "Dismissed")
    browser.close()
    browser.switch_to.window(first)
    button(browser, "Approve quarantine").click()
    wait_for_heading(browser, "Already decided")
    assert "This finding was already dismissed by an account owner (email link)" in (
        main_text(browser)
    )
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.DISMISSED
    assert core.invoked == []


def test_an_expired_link_is_refused(browser: WebDriver, core: Core, site: HttpApiServer) -> None:
    entry = core.pending()
    links = emailed(core, site, entry, clock=lambda: 1_790_000_000.0, ttl_seconds=60)
    browser.get(links.approve)
    assert heading(browser) == "This link has expired"
    assert "Nothing was changed." in main_text(browser)
    assert browser.find_elements(By.TAG_NAME, "button") == []
    assert core.store.get(entry.key) == entry
    token = parse_qs(urlsplit(links.approve).query)["token"][0]
    assert token not in browser.page_source
