"""Debian's headless Chromium under chromedriver, for the browser tests and ``make docs``.

Chromium and chromedriver come from ``make browser`` (Debian packages); selenium is a dev
dependency. `BrowserMissing` says how to install what is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from remedy.errors import RemedyError

CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium dials out at start-up (updates, sync,
# field trials), which this closed network refuses.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserMissing(RemedyError):
    pass


def chromium(profile: Path) -> Any:
    """A headless Chromium WebDriver with its profile in `profile`, keeping the browser's
    console log (``driver.get_log("browser")``). The caller quits it."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium")
    if binary is None or not CHROMEDRIVER.exists():
        raise BrowserMissing(
            "Chromium or chromedriver is not installed (need `chromium` on PATH and "
            f"{CHROMEDRIVER}): run `make browser`, or `apt-get install -y chromium "
            "chromium-driver` as root"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_argument(f"--user-data-dir={profile}")
    try:
        return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        raise BrowserMissing(f"Chromium did not start under chromedriver: {exc.msg}") from None


def console_errors(driver: Any) -> list[str]:
    """Console errors, such as a Content-Security-Policy refusal; the favicon the browser
    asks for on its own is not the page's."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
