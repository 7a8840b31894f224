"""How fast `kubegym view` shows a 10,000-trial run's first trials page and a 1,000-step trial's first steps.

Writes a generated run (tests/support/synthetic_run.py: 10,000 finished trials by
default, one of them with 1,000 steps, the hostile content included), serves it with
the viewer over real HTTP on a loopback port, and times, each as the median of
``--repeat`` tries, every try against a freshly started server (nothing cached in the
viewer; the files themselves are in the page cache after one untimed pass):

* baseline: listing the trials and ``json.load`` of every results.json (what any
  viewer reading the folder must do once to sort and filter the trials);
* the first trials page (50 rows) over HTTP, cold (a fresh server: it reads the run)
  and warm (the same server asked again, as the next page or a filter is);
* baseline: reading the long trial's trajectory.jsonl and parsing every line;
* the first page of its steps (50) over HTTP, cold (the byte-offset index is built on
  this request) and warm;
* with ``--browser``: in Debian's chromium, from navigating to the run's page to its
  first trials rows shown, and to the long trial's first step shown (fresh servers).

and prints each with its ratio to its baseline. Goals (issue 16): the first trials page
under 2 s, a 1,000-step trial's first page under 1 s. Usage::

    .venv/bin/python bench/viewer_load.py [--trials 10000] [--repeat 3] [--browser] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds, read_every_results

from tests.support import synthetic_run, viewer_server

RUN = "generated"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        body: bytes = response.read()
        assert response.status == 200, url
        return body


def parse_whole_trajectory(path: Path) -> int:
    """Baseline: read a trajectory and parse every line."""
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() and json.loads(line))


def cold(folder: Path, path: str, repeat: int, index_url: str | None = None) -> float:
    """A fresh server per try: only the request is timed."""
    samples = []
    for _ in range(repeat):
        with viewer_server.serve(str(folder), index_url=index_url) as base:
            start = time.perf_counter()
            fetch(base + path)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def browser_times(
    folder: Path, long_trial: str, repeat: int, index_url: str | None = None
) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    run_page, trial_page = [], []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=os.environ.get("KUBEGYM_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        for _ in range(repeat):
            for url_path, selector, samples in (
                (f"/runs/{RUN}", "#trials tbody tr", run_page),
                (f"/runs/{RUN}/trials/{long_trial}", "article.step", trial_page),
            ):
                with viewer_server.serve(str(folder), index_url=index_url) as base:
                    page = browser.new_page()
                    start = time.perf_counter()
                    page.goto(base + url_path)
                    page.wait_for_selector(selector, timeout=120_000)
                    samples.append(time.perf_counter() - start)
                    page.close()
        browser.close()
    return statistics.median(run_page), statistics.median(trial_page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the pages in chromium")
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="viewer-load-"))
    folder = root / RUN
    started = time.perf_counter()
    if not (folder / "trials").exists():
        written = synthetic_run.write_run(folder, trials=args.trials, long_trial_steps=1000)
        long_trial = str(written.long_trial)
    else:  # a kept run: the long trial is the one with the most steps
        long_trial = max(
            (p.parent.name for p in (folder / "trials").glob("*/trajectory.jsonl")),
            key=lambda t: (folder / "trials" / t / "trajectory.jsonl").stat().st_size,
        )
    print(
        f"run: {folder} ({args.trials:,} trials, written in {time.perf_counter() - started:.1f} s)"
    )
    trajectory = folder / "trials" / long_trial / "trajectory.jsonl"
    read_every_results(folder)  # warm the page cache
    parse_whole_trajectory(trajectory)

    trials_path = f"/api/runs/{RUN}/trials?limit=50"
    steps_path = f"/api/runs/{RUN}/trials/{long_trial}/steps?limit=50"
    rows: list[tuple[str, float, float]] = []
    base_trials = median_seconds(lambda: read_every_results(folder), args.repeat)
    rows.append(("baseline: json.load every results.json", base_trials, base_trials))
    rows.append(
        (
            "first trials page, fresh server (HTTP)",
            cold(folder, trials_path, args.repeat),
            base_trials,
        )
    )
    with viewer_server.serve(str(folder)) as base:
        fetch(base + trials_path)
        warm = median_seconds(lambda: fetch(base + trials_path), args.repeat)
    rows.append(("first trials page, warm server (HTTP)", warm, base_trials))
    # With a results index the run's trials are in the database already (`kubegym index
    # ingest`, or a first `kubegym view --index`): built untimed, then fresh servers.
    from kubegym import index

    index_url = f"sqlite:///{root / 'index.sqlite'}"
    with index.open(index_url) as built:
        started = time.perf_counter()
        built.ingest(str(folder))
        print(f"index: built in {time.perf_counter() - started:.1f} s")
    rows.append(
        (
            "first trials page, fresh server, --index (HTTP)",
            cold(folder, trials_path, args.repeat, index_url),
            base_trials,
        )
    )
    base_steps = median_seconds(lambda: parse_whole_trajectory(trajectory), args.repeat)
    rows.append(
        (
            f"baseline: parse the 1,000-step trajectory ({trajectory.stat().st_size / 1e6:.1f} MB)",
            base_steps,
            base_steps,
        )
    )
    # The steps endpoint reads the run's rows first (it checks the trial is one): time
    # the steps alone on a server whose rows are read but whose line index is not built.
    samples = []
    for _ in range(args.repeat):
        with viewer_server.serve(str(folder)) as base:
            fetch(base + trials_path)
            start = time.perf_counter()
            fetch(base + steps_path)
            samples.append(time.perf_counter() - start)
    rows.append(
        ("first steps page, index not built (HTTP)", statistics.median(samples), base_steps)
    )
    with viewer_server.serve(str(folder)) as base:
        fetch(base + steps_path)
        warm = median_seconds(lambda: fetch(base + steps_path), args.repeat)
    rows.append(("first steps page, index built (HTTP)", warm, base_steps))
    if args.browser:
        run_page, trial_page = browser_times(folder, long_trial, args.repeat)
        rows.append(
            ("chromium: run page → first trials rows (fresh server)", run_page, base_trials)
        )
        rows.append(("chromium: long trial → first step (fresh server)", trial_page, base_steps))
        run_page, _ = browser_times(folder, long_trial, args.repeat, index_url)
        rows.append(("chromium: run page → first trials rows, --index", run_page, base_trials))

    print(f"\n{'measure':<62} {'seconds':>8} {'× baseline':>11}")
    for name, seconds, baseline in rows:
        print(f"{name:<62} {seconds:>8.3f} {seconds / baseline:>11.2f}")
    if args.keep is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
