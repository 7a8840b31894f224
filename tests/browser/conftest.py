"""Fixtures for the browser tests: a real headless chromium driven by Playwright.

The report's and the viewer's pages are checked the way a reader sees them: laid out
by a real browser engine, scripts run, dialogs caught. Playwright drives Debian's
chromium at ``/usr/bin/chromium`` (``make test`` installs it); nothing is downloaded
at run time, so Playwright's own browser builds are never used. A missing chromium is
an error with the remedy, not a skip: CI always has it.

Screenshots go to ``test-artifacts/screenshots/`` at the repository root (git-ignored,
kept by CI as artifacts) so a reviewer can look at what the assertions measured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[2]
#: Debian's chromium; $KUBEGYM_CHROMIUM points elsewhere (another distribution's path).
CHROMIUM = Path(os.environ.get("KUBEGYM_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
#: The width the layout tests assume: a laptop screen, the narrowest common desktop.
VIEWPORT_WIDTH = 1280
VIEWPORT_HEIGHT = 800


# Package scope, not session: while Playwright's sync API is started, an asyncio loop runs
# in the main thread, and every later test that calls asyncio.run (kubegym run in-process,
# the egress proxy's tests) fails with "Cannot run the event loop while another loop is
# running". The driver must stop when the browser tests end.
@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver process, one for the browser tests."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless chromium for the browser tests (a launch costs about a second)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"chromium is missing at {CHROMIUM}: install Debian's `chromium` package "
            "(make test does) or set KUBEGYM_CHROMIUM to a chromium binary",
            pytrace=False,
        )
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        # Root in a container has no user namespace for chromium's sandbox; the pages
        # under test are our own renderings of local files, never the open web.
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
    yield launched
    launched.close()


@pytest.fixture
def dialogs() -> list[str]:
    """The JavaScript dialogs (alert, confirm, prompt) the test's `page` opened, in order."""
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    """A fresh page (its own context: no cookies or storage shared) 1280 px wide.

    Every dialog is recorded in the `dialogs` fixture and dismissed, so a test can
    assert that script injected through hostile input never ran.
    """
    context = browser.new_context(viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT})
    opened = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as test-artifacts/screenshots/<name>.png."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
