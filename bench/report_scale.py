"""How long `kubegym report` takes on a synthetic run of 10,000 trials, and where the time goes.

Writes a run folder the way `kubegym run` leaves it with `tests.support.synthetic_run`
(13 tasks × 20 agents × ~38 seeds by default: ``trials/<id>/results.json``, a
``trajectory.jsonl`` of 5 to 30 steps each and one of 1,000, some infrastructure
failures and retries, a few unfinished trials, and the rollups the runner would write;
without its hostile trial, whose unknown task would send the loader to the task
catalog), then times, each as the median of ``--repeat`` runs:

* the baseline: reading every results.json with ``json.load`` (listing included);
* loading (`kubegym.report.load_run`: results, trajectories' tools, leaderboard.json);
* building the report without plots (scoring with its 500 bootstrap resamples, tables);
* the two plots; rendering markdown, HTML and JSON;
* the whole command end to end (`kubegym report SOURCE`, in-process).

and prints each against the baseline as a ratio. The files are read from the page
cache (a first untimed pass warms it), so this measures the report, not the disk.
Usage::

    .venv/bin/python bench/report_scale.py [--trials 10000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Bench scripts run as `.venv/bin/python bench/x.py`: the repository root holds tests.support.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds, read_every_results

from tests.support import synthetic_run


def measure(folder: Path, repeat: int) -> list[tuple[str, float]]:
    from click.testing import CliRunner

    from kubegym import report
    from kubegym.cli import main
    from kubegym.report import plots, render, tables
    from kubegym.scoring import leaderboard as leaderboards

    source = report.LocalRunFolder(folder)
    run = report.load_run(source)
    document = report.build_report(run)
    assert any("reproduces" in n for n in document.notes), document.notes
    board = leaderboards.compute_leaderboard(tables.tidy(run))
    front = next(t.frame for t in document.tables if t.key == "pareto")
    assert board.result is not None
    aup = board.result
    out = Path(tempfile.mkdtemp(prefix="report-out-"))

    def end_to_end() -> None:
        result = CliRunner().invoke(main, ["report", str(folder), "--out", str(out)])
        assert result.exit_code == 0, result.output

    timings = [
        (
            "baseline: json.load every results.json",
            median_seconds(lambda: read_every_results(folder), repeat),
        ),
        (
            "loading (results, trajectories' tools)",
            median_seconds(lambda: report.load_run(source), repeat),
        ),
        (
            "scoring (AUP, 500 bootstrap resamples)",
            median_seconds(lambda: leaderboards.compute_leaderboard(tables.tidy(run)), repeat),
        ),
        (
            "report without plots (scoring + tables)",
            median_seconds(lambda: report.build_report(run, with_plots=False), repeat),
        ),
        (
            "plot: performance profiles",
            median_seconds(lambda: plots.profiles_png(aup, "p"), repeat),
        ),
        (
            "plot: cost versus AUP",
            median_seconds(lambda: plots.cost_scatter_png(front, "c"), repeat),
        ),
        (
            "render markdown + HTML + JSON",
            median_seconds(
                lambda: [
                    render.markdown(document),
                    render.html_page(document),
                    render.json_document(document),
                ],
                repeat,
            ),
        ),
        ("end to end: kubegym report SOURCE (md)", median_seconds(end_to_end, repeat)),
    ]
    shutil.rmtree(out, ignore_errors=True)
    return timings


def table(timings: list[tuple[str, float]], trials: int, steps: int) -> str:
    baseline = timings[0][1]
    width = max(len(name) for name, _ in timings)
    lines = [
        f"{trials:,} trials, {steps:,} trajectory steps; median seconds, ratio to the baseline",
        "",
        f"| {'part':<{width}} | seconds | ratio |",
        f"| {'-' * width} | ---: | ---: |",
    ]
    lines += [
        f"| {name:<{width}} | {seconds:.3f} | {seconds / baseline:.2f}x |"
        for name, seconds in timings
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000, help="trials (default: 10000)")
    parser.add_argument("--tasks", type=int, default=13, help="tasks (default: 13)")
    parser.add_argument("--agents", type=int, default=20, help="agents (default: 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per part (default: 3)")
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-scale-"))
    try:
        start = time.perf_counter()
        written = synthetic_run.write_run(
            folder, args.trials, tasks=args.tasks, agents=args.agents, seed=0, hostile=False
        )
        steps = written.steps
        print(
            f"synthetic run written to {folder} in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        read_every_results(folder)  # warm the page cache for everyone alike
        print(table(measure(folder, args.repeat), args.trials, steps))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
