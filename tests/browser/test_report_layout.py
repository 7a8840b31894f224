"""`kubegym report --format html` in a real browser: it fits a 1280 px page and escapes names.

Two runs: the quickstart run by `kubegym run` (a real run, a few agents), and the wide
generated run (`tests.support.wide_run`: 20 agents with long names, two of them
hostile). Chromium lays each report out; JavaScript measures that nothing is wider
than the page, that no table needs its own scroll box at this width, that every plot
has alt text and a caption, and that no script an agent named itself ever ran.
Screenshots of both pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page

from kubegym.cli import main
from tests.browser.conftest import REPO, screenshot
from tests.support import wide_run

#: What the page's layout measures, in CSS pixels (run in the page).
MEASURE = """() => {
  const body = document.body, root = document.documentElement;
  const boxes = [...document.querySelectorAll('div.table')];
  return {
    page: {body: [body.scrollWidth, body.clientWidth], root: [root.scrollWidth, root.clientWidth]},
    tables: boxes.map(b => ({
      id: b.closest('section').id, scroll: b.scrollWidth, client: b.clientWidth,
      right: b.getBoundingClientRect().right,
      sticky: getComputedStyle(b.querySelector('thead th')).position,
    })),
    images: [...document.querySelectorAll('img')].map(i => ({
      alt: i.alt, loaded: i.complete && i.naturalWidth > 0,
      right: i.getBoundingClientRect().right, width: i.getBoundingClientRect().width,
      caption: i.closest('figure')?.querySelector('figcaption')?.textContent ?? '',
    })),
    bodyRight: body.getBoundingClientRect().right,
    scripts: document.querySelectorAll('script').length,
  };
}"""


def _report(run: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["report", str(run), "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "report.html"


@pytest.fixture(scope="module")
def quickstart_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart run by `kubegym run` (12 trials), reported as HTML."""
    out = tmp_path_factory.mktemp("quickstart-run")
    # In a process of its own: the run's asyncio loop cannot start inside Playwright's.
    command = [sys.executable, "-m", "kubegym", "run", str(REPO / "examples" / "quickstart.yaml")]
    result = subprocess.run(
        [*command, "--out", str(out), "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout)["phase"] == "Succeeded"
    return _report(out, tmp_path_factory.mktemp("quickstart-html"))


@pytest.fixture(scope="module")
def wide_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wide generated run (20 agents, long and hostile names), reported as HTML."""
    run = wide_run.write_wide_run(tmp_path_factory.mktemp("wide") / "wide")
    return _report(run, tmp_path_factory.mktemp("wide-html"))


def _measure(page: Page, report: Path) -> dict[str, Any]:
    page.goto(report.as_uri())
    measured: dict[str, Any] = page.evaluate(MEASURE)
    return measured


def _assert_fits(measured: dict[str, Any]) -> None:
    body, root = measured["page"]["body"], measured["page"]["root"]
    assert body[0] <= body[1], f"the page scrolls sideways: {body}"
    assert root[0] <= root[1], f"the page scrolls sideways: {root}"
    assert measured["tables"], "no tables"
    for table in measured["tables"]:
        # Fits by wrapping, not by its scroll box (the box is the last resort).
        assert table["scroll"] <= table["client"], f"table {table['id']} is too wide: {table}"
        assert table["right"] <= measured["bodyRight"] + 0.5, table
        assert table["sticky"] == "sticky", f"table {table['id']}'s header scrolls away"
    assert measured["images"], "no plots"
    for image in measured["images"]:
        assert image["loaded"], image["alt"]
        assert image["right"] <= measured["bodyRight"] + 0.5, image["alt"]
        assert len(image["alt"]) > 20 and image["caption"].strip(), image


def test_the_quickstart_report_fits_the_page(page: Page, quickstart_html: Path) -> None:
    measured = _measure(page, quickstart_html)
    screenshot(page, "report-quickstart")
    _assert_fits(measured)
    assert {t["id"] for t in measured["tables"]} >= {"summary", "leaderboard", "costs"}


def test_the_wide_report_fits_the_page(page: Page, wide_html: Path) -> None:
    measured = _measure(page, wide_html)
    screenshot(page, "report-wide-20-agents")
    _assert_fits(measured)
    assert len(measured["images"]) == 2


def test_the_leaderboard_shows_each_ci_as_one_column(page: Page, wide_html: Path) -> None:
    page.goto(wide_html.as_uri())
    header = page.locator("#leaderboard thead th").all_inner_texts()
    assert header[:3] == ["method", "AUP, best attempt", "AUP, best attempt: 95% CI"]
    assert not any("ci low" in h.lower() or "ci_high" in h.lower() for h in header)
    cells = page.locator("#leaderboard tbody tr td:nth-child(3)").all_inner_texts()
    assert len(cells) == 21  # 20 agents and the tasks' baseline row
    assert all(re.fullmatch(r"\d\.\d{3}\u2013\d\.\d{3}", c) for c in cells), cells


def test_an_agent_named_as_a_script_is_shown_as_text(
    page: Page, dialogs: list[str], wide_html: Path
) -> None:
    measured = _measure(page, wide_html)
    page.wait_for_timeout(200)  # an injected handler would have fired by now
    assert dialogs == []
    assert measured["scripts"] == 0
    names = page.locator("#leaderboard tbody tr td:first-child").all_inner_texts()
    assert wide_run.SCRIPT_AGENT in names
    assert wide_run.MATH_AGENT in names
    assert wide_run.SCRIPT_AGENT in page.locator("#failure_messages").inner_text()
