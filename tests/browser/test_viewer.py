"""`kubegym view` in a real browser: a real run and a generated large one, clicked through.

Debian's chromium (tests/browser/conftest.py) loads the viewer served over real
HTTP (tests/support/viewer_server.py) and goes run → trial → step, checks what is
shown (leaderboard rows, a step's action, a diff line), pages through trials and
through a 1,000-step trial, compares two trials, watches a run refresh as a trial
finishes, and opens the hostile trial of the generated run: nothing in it may run
(no dialog, no script or image element from the data). Screenshots of the main
pages go to test-artifacts/screenshots/.

The real run is examples/quickstart.yaml run by ``kubegym run`` into a temporary
folder (about a minute on an idle machine); ``KUBEGYM_QUICKSTART_RUN`` may name a
finished copy of it to reuse (it is copied, never modified).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import REPO, screenshot
from tests.support import synthetic_run, viewer_server


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: examples/quickstart.yaml run by `kubegym run`."""
    out = tmp_path_factory.mktemp("quickstart") / "quickstart"
    reuse = os.environ.get("KUBEGYM_QUICKSTART_RUN")
    if reuse:
        shutil.copytree(reuse, out, ignore=shutil.ignore_patterns("workspace*"))
        return out
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegym",
            "run",
            str(REPO / "examples" / "quickstart.yaml"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> synthetic_run.SyntheticRun:
    """A generated 2,000-trial run with a 1,000-step trial and hostile content."""
    return synthetic_run.write_run(tmp_path_factory.mktemp("large") / "generated", trials=2000)


@pytest.fixture(scope="module")
def quickstart_url(quickstart: Path) -> Iterator[str]:
    with viewer_server.serve(str(quickstart)) as url:
        yield url


@pytest.fixture(scope="module")
def generated_url(generated: synthetic_run.SyntheticRun) -> Iterator[str]:
    with viewer_server.serve(str(generated.folder)) as url:
        yield url


def injected(page: Page) -> dict[str, int]:
    """Elements that hostile data could have made: scripts beyond the page's own, images, frames."""
    return page.evaluate(
        """() => ({
            scripts: document.querySelectorAll('script').length,
            images: document.querySelectorAll('img, iframe, object, embed').length,
            bold: document.querySelectorAll('main b').length,
        })"""
    )


def test_run_to_trial_to_step_on_a_real_run(
    page: Page, quickstart_url: str, dialogs: list[str]
) -> None:
    page.goto(quickstart_url + "/")
    expect(page.locator("#runs")).to_contain_text("quickstart")
    screenshot(page, "viewer-runs")
    page.click("a.run-link")
    board = page.locator("#leaderboard tbody tr")
    expect(board).to_have_count(3)  # baseline, replay and the tasks' baseline row
    expect(page.locator("#leaderboard")).to_contain_text("replay")
    expect(page.locator("#profiles svg")).to_have_count(2)
    expect(page.locator("#raw-scores")).to_contain_text("polyfit")
    expect(page.locator("#failures")).to_contain_text("submitted")
    expect(page.locator("#trials tbody tr")).to_have_count(12)

    # The profiles answer the mouse and hide an agent on request.
    chart = page.locator("#profiles svg").first
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(page.locator("[data-role=hover]").first).to_contain_text("ρ =")
    if os.environ.get("KUBEGYM_README_SCREENSHOT"):
        # The README's picture (docs/images/viewer.png): the top of a real run's page.
        page.screenshot(
            path=str(REPO / "docs" / "images" / "viewer.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 1000},
        )
    page.locator(".legend input[data-agent=baseline]").first.uncheck()
    expect(page.locator("path.curve[data-agent=baseline]").first).to_be_hidden()
    screenshot(page, "viewer-run")

    # Filter on the server, then open a replay trial and read its steps.
    page.select_option("select[data-filter=agent]", "replay")
    expect(page.locator("#trials-count")).to_contain_text("6 trials match")
    page.select_option("select[data-filter=task]", "polyfit")
    expect(page.locator("#trials tbody tr")).to_have_count(2)
    page.locator("a.trial-link").first.click()
    expect(page.locator("article.step").first).to_contain_text('open "baseline.py"')
    expect(page.locator("article.step").nth(1)).to_contain_text("edit 8:10")
    expect(page.locator("figure.scores svg circle")).not_to_have_count(0)
    screenshot(page, "viewer-trial")
    assert dialogs == []


def test_the_large_run_pages_and_its_long_trial(
    page: Page, generated_url: str, generated: synthetic_run.SyntheticRun
) -> None:
    page.goto(f"{generated_url}/runs/generated")
    total = len(generated.trials) + len(generated.unfinished)
    expect(page.locator("#trials-count")).to_contain_text(
        f"{total:,} trials match · page 1", timeout=30_000
    )
    expect(page.locator("#trials tbody tr")).to_have_count(50)
    first = page.locator("a.trial-link").first.inner_text()
    page.click("button[data-role=next]")
    expect(page.locator("#trials-count")).to_contain_text("page 2")
    assert page.locator("a.trial-link").first.inner_text() != first

    page.goto(f"{generated_url}/runs/generated/trials/{generated.long_trial}")
    expect(page.locator(".steps-count")).to_contain_text("steps 1–50 of 1,000")
    expect(page.locator("article.step")).to_have_count(50)
    added = page.locator(".diff-add").first
    expect(added).to_be_visible()
    assert added.inner_text().startswith("+")
    page.locator("button[data-role=next-steps]").first.click()
    expect(page.locator(".steps-count")).to_contain_text("steps 51–100 of 1,000")
    screenshot(page, "viewer-long-trial")


def test_the_hostile_trial_runs_nothing(
    page: Page, generated_url: str, generated: synthetic_run.SyntheticRun, dialogs: list[str]
) -> None:
    page.goto(f"{generated_url}/runs/generated")
    expect(page.locator("select[data-filter=task]")).to_contain_text("<script>", timeout=30_000)
    page.select_option("select[data-filter=task]", synthetic_run.HOSTILE_TASK)
    expect(page.locator("#trials tbody tr")).to_have_count(1)
    expect(page.locator("#trials")).to_contain_text(synthetic_run.HOSTILE_AGENT)
    page.locator("a.trial-link").first.click()
    expect(page.locator(".trial-meta")).to_contain_text(synthetic_run.HOSTILE_TASK)
    expect(page.locator("article.step").first).to_be_visible()
    text = page.locator("main").inner_text()
    assert synthetic_run.SCRIPT in text  # shown as text, every character of it
    assert injected(page) == {"scripts": 1, "images": 0, "bold": 0}
    # The long trial carries every kind of hostile text, file name and its huge line at step 250.
    page.goto(f"{generated_url}/runs/generated/trials/{generated.long_trial}")
    for shown in ("51–100", "101–150", "151–200", "201–250"):
        page.locator("button[data-role=next-steps]").first.click()
        expect(page.locator(".steps-count")).to_contain_text(f"steps {shown} of 1,000")
    step = page.locator("article.step[data-step='250']")
    expect(step.locator(".edit-path")).to_have_text("../../../etc/passwd")
    expect(step.locator(".diff-file").last).to_have_text("+++ b/../../../etc/passwd")
    expect(step.locator(".diff-add").first).to_contain_text("red")
    step.locator("button.show-all").last.click()
    expect(step.locator("button.show-all")).to_have_count(0)  # replaced once the whole text came
    expect(step.locator("pre.field-observation")).to_contain_text("A<b>A<b>A<b>")
    assert len(step.locator("pre.field-observation").inner_text()) > synthetic_run.LONG_LINE_CHARS
    assert injected(page) == {"scripts": 1, "images": 0, "bold": 0}
    assert dialogs == []
    screenshot(page, "viewer-hostile-trial")


def test_two_trials_side_by_side(page: Page, quickstart_url: str) -> None:
    page.goto(f"{quickstart_url}/runs/quickstart")
    boxes = page.locator("#trials input[data-trial]")
    expect(boxes).to_have_count(12)
    picked = [boxes.nth(2).get_attribute("data-trial"), boxes.nth(3).get_attribute("data-trial")]
    boxes.nth(2).check()
    boxes.nth(3).check()
    page.click("#compare")
    expect(page.locator("#compare-a h1")).to_have_text(str(picked[0]))
    expect(page.locator("#compare-b h1")).to_have_text(str(picked[1]))
    expect(page.locator("#compare-a article.step").first).to_be_visible()
    expect(page.locator("#compare-b article.step").first).to_be_visible()
    screenshot(page, "viewer-compare")


def test_a_live_run_shows_a_trial_as_it_finishes(
    page: Page, quickstart: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live"
    shutil.copytree(quickstart, live, ignore=shutil.ignore_patterns("workspace*"))
    with viewer_server.serve(str(live)) as url:
        page.goto(f"{url}/runs/live")
        expect(page.locator("#trials-count")).to_contain_text("12 trials match")
        source = next(p for p in sorted((live / "trials").iterdir()) if "replay" in p.name)
        new = live / "trials" / "quickstart-polyfit-replay-s2-0000live"
        new.mkdir()
        shutil.copy(source / "trajectory.jsonl", new / "trajectory.jsonl")
        expect(page.locator("#run-status")).to_contain_text("1 running")
        results = json.loads((source / "results.json").read_text())
        results.update(trial=new.name, seed=2)
        (new / "results.json").write_text(json.dumps(results))
        expect(page.locator("#trials-count")).to_contain_text("13 trials match", timeout=15_000)
        expect(page.locator(f"a.trial-link:text('{new.name}')")).to_be_visible()
        expect(page.locator("#run-status")).to_contain_text("13 of 13 trials finished")


def test_a_running_trials_page_follows_its_steps(page: Page, tmp_path: Path) -> None:
    run = synthetic_run.write_run(
        tmp_path / "live", trials=3, long_trial_steps=0, unfinished=1, hostile=False
    )
    trial = run.unfinished[0]
    trajectory = run.folder / "trials" / trial / "trajectory.jsonl"
    lines = trajectory.read_text().splitlines(keepends=True)
    with viewer_server.serve(str(run.folder)) as url:
        page.goto(f"{url}/runs/live/trials/{trial}")
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator(".steps-count")).to_contain_text(f"of {len(lines)}")
        with trajectory.open("a") as f:
            f.writelines(lines[-1:] * 3)
        expect(page.locator(".steps-count")).to_contain_text(f"of {len(lines) + 3}")
        # It finishes: its outcome replaces "(running)", and the page stops polling.
        results = json.loads((run.folder / "trials" / run.trials[0] / "results.json").read_text())
        results.update(trial=trial, exit_reason="submitted")
        (run.folder / "trials" / trial / "results.json").write_text(json.dumps(results))
        expect(page.locator("#live")).to_have_text("finished")
        expect(page.locator(".trial-outcome")).to_contain_text("submitted")
