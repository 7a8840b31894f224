"""The browser fixtures themselves: chromium lays out a page, catches dialogs, saves PNGs."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import SCREENSHOTS, VIEWPORT_WIDTH, screenshot


def test_the_page_is_laid_out_at_the_agreed_width(page: Page) -> None:
    page.set_content("<p style='width:100%'>kubegym</p>")
    assert page.evaluate("document.documentElement.clientWidth") == VIEWPORT_WIDTH


def test_a_dialog_is_recorded_and_dismissed(page: Page, dialogs: list[str]) -> None:
    page.set_content("<script>alert('hi')</script><p>after</p>")
    assert page.text_content("p") == "after"
    assert dialogs == ["alert: hi"]


def test_screenshot_saves_a_png_under_test_artifacts(page: Page) -> None:
    page.set_content("<h1>shot</h1>")
    path = screenshot(page, "fixture/../smoke test")
    assert path.parent == SCREENSHOTS  # a slash in the name never leaves the folder
    assert path.name == "fixture-..-smoke-test.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
