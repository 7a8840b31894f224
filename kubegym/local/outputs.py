"""What a local run leaves in its output folder besides the trials: results.csv, the leaderboard, the plot.

Written by the local runner (`kubegym.local.runner`) at the end of every run,
resumed or not, from the trials' ``results.json`` files; the scoring itself is
`kubegym.scoring`'s.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kubegym import scoring
from kubegym.agent_runner import trajectory
from kubegym.catalog import TaskBundle
from kubegym.errors import ConfigError

RESULTS_CSV = "results.csv"
LEADERBOARD = "leaderboard.json"
PROFILES_PNG = "profiles.png"

# The tasks' own baseline scores enter the profiles as one more method, under this name
# (not "baseline", which is also the name people give the built-in baseline agent).
REFERENCE = "task-baseline"

CSV_COLUMNS = (
    "trial",
    "task",
    "agent",
    "seed",
    "attempt",
    "phase",
    "exit_reason",
    "failure_class",
    "primary_metric",
    "direction",
    "score",
    "best_attempt",
    "steps",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "seconds",
)


def phase(results: trajectory.Results) -> str:
    """The trial's phase, as a Trial's status spells it."""
    return "Failed" if results.failed else "Succeeded"


def write_results_csv(folder: Path, finished: Sequence[trajectory.Results]) -> Path:
    """One row per finished trial, in a stable order."""
    path = folder / RESULTS_CSV
    rows = sorted(finished, key=lambda r: (r.task, r.agent, r.seed))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            record = {**r.__dict__, "phase": phase(r)}
            writer.writerow(["" if record[c] is None else record[c] for c in CSV_COLUMNS])
    return path


def leaderboard(
    run: str, bundles: Sequence[TaskBundle], finished: Sequence[trajectory.Results]
) -> tuple[dict[str, Any], scoring.AupResult | None]:
    """AUP per agent under both profiles, with bootstrap CIs over seeds, and the per-task bests.

    Returns:
        The leaderboard (as written to leaderboard.json) and the AUP result for
        plotting (None when no trial has finished yet).
    """
    board: dict[str, Any] = {"run": run, "reference": REFERENCE, "tau_max": None, "agents": {}}
    tidy = _tidy(bundles, finished)
    if tidy.empty or set(tidy[scoring.METHOD]) == {REFERENCE}:
        return board, None
    try:
        table = scoring.best_over_seeds(tidy, baseline=REFERENCE)
        result = scoring.compute_aup(table, baseline=REFERENCE)
        intervals = scoring.bootstrap_aup(tidy, baseline=REFERENCE, n_resamples=500, seed=0)
    except ConfigError as exc:
        board["error"] = str(exc)
        return board, None
    board["tau_max"] = float(result.tau_max)
    ci = {
        (str(r[scoring.METHOD]), str(r["profile"])): [float(r["ci_low"]), float(r["ci_high"])]
        for _, r in intervals.iterrows()
    }
    for method, row in result.aup.iterrows():
        entry: dict[str, Any] = {}
        for profile in scoring.SCORE_COLUMNS:
            entry[profile] = float(row[profile])
            if (str(method), profile) in ci:
                entry[f"{profile}_ci"] = ci[(str(method), profile)]
        board["agents"][str(method)] = entry
    board["tasks"] = {
        str(task): {
            str(r[scoring.METHOD]): {p: _number(r[p]) for p in scoring.SCORE_COLUMNS}
            for _, r in rows.iterrows()
        }
        for task, rows in table.groupby(scoring.TASK, sort=False)
    }
    return board, result


def draw(result: scoring.AupResult, path: Path, title: str) -> Path:
    """The performance-profile plot of a run."""
    from kubegym.scoring.plot import draw_profiles

    figure = draw_profiles(result, title=title)
    figure.savefig(path, dpi=120)
    return path


def _tidy(bundles: Sequence[TaskBundle], finished: Sequence[trajectory.Results]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for bundle in bundles:
        metric = bundle.task.spec.evaluation.metric()
        rows.append(
            {
                scoring.TASK: bundle.name,
                scoring.DIRECTION: metric.direction,
                scoring.METHOD: REFERENCE,
                scoring.SEED: 0,
                scoring.BEST_ATTEMPT: bundle.task.spec.baseline_score(),
                scoring.BEST_SUBMISSION: bundle.task.spec.baseline_score(),
            }
        )
    for r in finished:
        if r.failure_class == "infra":
            continue  # not the agent's doing: it does not count as a score of 0
        rows.append(
            {
                scoring.TASK: r.task,
                scoring.DIRECTION: r.direction,
                scoring.METHOD: r.agent,
                scoring.SEED: r.seed,
                scoring.BEST_ATTEMPT: r.best_attempt,
                scoring.BEST_SUBMISSION: r.score,
            }
        )
    return pd.DataFrame(rows)


def _number(value: Any) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )
