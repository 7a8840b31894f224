"""What a local run leaves in its output folder besides the trials: results.csv, the leaderboard, the plot.

Written by the local runner (`kubegym.local.runner`) at the end of every run,
resumed or not, from the trials' ``results.json`` files; the scoring itself is
`kubegym.scoring`'s.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kubegym import scoring
from kubegym.agent_runner import trajectory
from kubegym.scoring import columns
from kubegym.scoring import leaderboard as leaderboards
from kubegym.tasks.catalog import TaskBundle

RESULTS_CSV = "results.csv"
LEADERBOARD = "leaderboard.json"
PROFILES_PNG = "profiles.png"

# The tasks' own baseline scores enter the profiles as one more method, under this name.
REFERENCE = leaderboards.REFERENCE

CSV_COLUMNS = columns.RESULTS_CSV


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

    The computation is `kubegym.scoring.leaderboard`'s, shared with `kubegym report`.

    Returns:
        The leaderboard (as written to leaderboard.json) and the AUP result for
        plotting (None when no trial has finished yet).
    """
    board = leaderboards.compute_leaderboard(_tidy(bundles, finished))
    return board.to_json(run), board.result


def draw(result: scoring.AupResult, path: Path, title: str) -> Path:
    """The performance-profile plot of a run."""
    from kubegym.scoring.plot import draw_profiles

    figure = draw_profiles(result, title=title)
    figure.savefig(path, dpi=120)
    return path


def _tidy(bundles: Sequence[TaskBundle], finished: Sequence[trajectory.Results]) -> pd.DataFrame:
    references = pd.DataFrame(
        [
            (
                bundle.name,
                bundle.task.spec.evaluation.metric().direction,
                bundle.task.spec.baseline_score(),
            )
            for bundle in bundles
        ],
        columns=list(leaderboards.REFERENCE_COLUMNS),
    )
    trials = pd.DataFrame(
        [[getattr(r, c) for c in leaderboards.TRIAL_COLUMNS] for r in finished],
        columns=list(leaderboards.TRIAL_COLUMNS),
    )
    return leaderboards.tidy_trials(references, trials)
