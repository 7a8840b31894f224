"""How long `kubegym report` takes on a synthetic run of 10,000 trials, and where the time goes.

Writes a run folder the way `kubegym run` leaves it (13 tasks × 20 agents × ~38 seeds
by default: ``trials/<id>/results.json`` and a short ``trajectory.jsonl`` each, some
infrastructure failures and retries, a few unfinished trials, and the leaderboard.json
the runner would write), then times, each as the median of ``--repeat`` runs:

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
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

TOOLS = ["open", "edit", "python", "validate", "search_file", "find_file", "scroll_down", "goto"]
EXIT_REASONS = ["submitted"] * 8 + ["max_steps", "cost_limit", "wall_time"]


def synthesize(out: Path, trials: int, tasks: int, agents: int, rng: random.Random) -> int:
    """Write a run of `trials` trials into `out`; returns how many steps its trajectories hold."""
    from kubegym.scoring import leaderboard as leaderboards

    task_names = [f"task-{t:02d}" for t in range(tasks)]
    directions = {name: ("max" if t % 3 else "min") for t, name in enumerate(task_names)}
    baselines = {name: 1.0 + t / 10 for t, name in enumerate(task_names)}
    agent_names = [f"agent-{a:02d}" for a in range(agents)]
    skill = {name: rng.uniform(0.7, 1.4) for name in agent_names}
    cells = tasks * agents
    base_seeds, extra = divmod(trials, cells)
    rows: list[list[Any]] = []
    steps_total = 0
    cell = 0
    for task in task_names:
        for agent in agent_names:
            for seed in range(base_seeds + (1 if cell < extra else 0)):
                rows.append(_write_trial(out, task, agent, seed, directions, baselines, skill, rng))
                steps_total += rows[-1][-1]
            cell += 1
    for n in range(5):  # trials still running when the run was copied
        folder = out / "trials" / f"bench-unfinished-{n}"
        folder.mkdir(parents=True)
        (folder / "trajectory.jsonl").write_text(_step(1, "open train.py", rng))

    references = pd.DataFrame(
        [(t, directions[t], baselines[t]) for t in task_names],
        columns=list(leaderboards.REFERENCE_COLUMNS),
    )
    frame = pd.DataFrame([r[:-2] for r in rows], columns=list(leaderboards.TRIAL_COLUMNS))
    board = leaderboards.compute_leaderboard(leaderboards.tidy_trials(references, frame))
    (out / "leaderboard.json").write_text(json.dumps(board.to_json("bench"), indent=2))
    return steps_total


def _write_trial(
    out: Path,
    task: str,
    agent: str,
    seed: int,
    directions: dict[str, str],
    baselines: dict[str, float],
    skill: dict[str, float],
    rng: random.Random,
) -> list[Any]:
    trial_id = f"bench-{task}-{agent}-s{seed}-{rng.getrandbits(32):08x}"
    folder = out / "trials" / trial_id
    folder.mkdir(parents=True)
    infra = rng.random() < 0.02
    steps = 0 if infra else rng.randint(5, 30)
    factor = skill[agent] * rng.uniform(0.8, 1.2)
    base = baselines[task]
    best = base * factor if directions[task] == "max" else base / factor
    score = None if infra or rng.random() < 0.1 else best * rng.uniform(0.9, 1.0)
    cost = round(steps * rng.uniform(0.001, 0.01), 6)
    results = {
        "trial": trial_id,
        "task": task,
        "agent": agent,
        "seed": seed,
        "primary_metric": "metric",
        "direction": directions[task],
        "exit_reason": "infra_error" if infra else rng.choice(EXIT_REASONS),
        "scores": [
            {"step": s, "action": "validate", "metrics": {"metric": best}, "time": ""}
            for s in range(min(steps, 3))
        ],
        "final": None if score is None else {"metric": score},
        "score": score,
        "best_attempt": None if infra else best,
        "steps": steps,
        "prompt_tokens": steps * 1500,
        "completion_tokens": steps * 120,
        "cost_usd": cost,
        "seconds": steps * 4.2,
        "attempt": (1 if infra else 0) + (1 if rng.random() < 0.03 else 0),
        "message": "SandboxStartFailed: the node went away" if infra else "",
        "failure_class": "infra" if infra else None,
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:10:00+00:00",
        "details": {"sandbox": {"backend": "bwrap", "isolated": True}},
        "format_version": 1,
    }
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    if steps:
        actions = [f"{rng.choice(TOOLS)} arg" for _ in range(steps - 1)] + ["submit"]
        lines = "".join(_step(i + 1, a, rng) for i, a in enumerate(actions))
        (folder / "trajectory.jsonl").write_text(lines)
    return [
        task,
        directions[task],
        agent,
        seed,
        results["best_attempt"],
        score,
        results["failure_class"],
        cost,
        steps,
    ]


def _step(number: int, action: str, rng: random.Random) -> str:
    observation = "line of output\n" * rng.randint(3, 20)
    step = {
        "step": number,
        "action": action,
        "observation": observation,
        "thought": "Let me look at the data first.",
        "exit_code": 0,
        "prompt_tokens": 1500,
        "completion_tokens": 120,
        "cost_usd": 0.004,
        "seconds": 4.2,
        "score": None,
        "time": "2026-01-01T00:00:00+00:00",
    }
    return json.dumps(step) + "\n"


def read_every_results(folder: Path) -> int:
    """The baseline: list the trials and ``json.load`` every results.json."""
    count = 0
    with os.scandir(folder / "trials") as entries:
        for entry in entries:
            path = os.path.join(entry.path, "results.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    json.load(f)
                count += 1
    return count


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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
            median_seconds(lambda: plots.profiles_png(board.result, "p"), repeat),
        ),  # type: ignore[arg-type]
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
        steps = synthesize(folder, args.trials, args.tasks, args.agents, random.Random(0))
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
