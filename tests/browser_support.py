"""The headless Chromium fixture the browser tests share (`remedy.devtools.browser`).

Without Chromium or chromedriver these tests fail and say how to install them: a missing
browser must not pass as a skip.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from remedy.devtools.browser import BrowserMissing, chromium, console_errors

__all__ = ["browser", "console_errors"]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with tempfile.TemporaryDirectory(prefix="remedy-chromium-") as profile:
        try:
            driver = chromium(Path(profile))
        except BrowserMissing as error:
            pytest.fail(str(error))
        try:
            yield driver
        finally:
            driver.quit()
