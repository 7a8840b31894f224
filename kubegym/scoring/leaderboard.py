"""A run's leaderboard: AUP per agent under both profiles, bootstrap CIs over seeds, per-task bests.

One computation for everyone who shows a run's leaderboard: the local runner
writes it to ``leaderboard.json`` (`kubegym.rollups`, for both runtimes) and `kubegym report`
recomputes it from the trials' results (`kubegym.report`), so the two agree to
the last digit. The tasks' own baseline scores enter as one more method,
`REFERENCE`. The run's best-submission rule (`kubegym.scoring.submissions`)
picks each trial's submission score, and the leaderboard records what it was
computed over (`kubegym.scoring.scope`). DataFrames in; the JSON shape of
``leaderboard.json`` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring import scope as scopes
from kubegym.scoring import submissions
from kubegym.scoring.bootstrap import bootstrap_aup
from kubegym.scoring.columns import (
    BEST_ATTEMPT,
    BEST_SUBMISSION,
    CI_HIGH,
    CI_LOW,
    DIRECTION,
    METHOD,
    PROFILE,
    SCORE_COLUMNS,
    SEED,
    TASK,
)
from kubegym.scoring.profiles import AupResult, compute_aup
from kubegym.scoring.tidy import best_over_seeds

REFERENCE: Final = "task-baseline"
"""The method name of the tasks' baseline scores (not "baseline", which is also the
name people give the built-in baseline agent)."""
N_RESAMPLES: Final = 500
"""Bootstrap resamples behind every leaderboard's CIs."""
BOOTSTRAP_SEED: Final = 0
"""The bootstrap's random seed, fixed so the same trials always give the same CIs."""

# The columns of a trial's results (`kubegym.api.results.TrialResult`) that scoring reads.
AGENT: Final = "agent"
SCORE: Final = "score"
LAST_SCORE_COLUMN: Final = "last_score"
"""A trial's score under MLGym's rule (`submissions.last_score`): scored as the best
submission when the run's rule is `submissions.LAST_SCORE`, and then required."""
FAILURE_CLASS: Final = "failure_class"
INFRA: Final = "infra"
"""The failure class of trials the infrastructure failed: they are not scores."""
BASELINE_SCORE: Final = "baseline_score"
TRIAL_COLUMNS: Final = (TASK, DIRECTION, AGENT, SEED, BEST_ATTEMPT, SCORE, FAILURE_CLASS)
"""What `tidy_trials` needs of each finished trial."""
REFERENCE_COLUMNS: Final = (TASK, DIRECTION, BASELINE_SCORE)
"""What `tidy_trials` needs of each task: its direction and baseline score (or None)."""


def tidy_trials(references: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The tidy rows the leaderboard scores: one `REFERENCE` row per task, then the trials.

    Row order matters to the bootstrap (it draws per task × method in order of
    first appearance): the tasks in run order, then the trials in plan order
    (task, agent, seed) give ``leaderboard.json``'s numbers.

    Args:
        references: one row per task of the run, columns `REFERENCE_COLUMNS`.
        trials: one row per finished trial, columns `TRIAL_COLUMNS` and, for
            a run under MLGym's rule, `LAST_SCORE_COLUMN`; trials the infrastructure
            failed are left out (not the agent's doing: they do not count as a
            score of 0).

    Returns:
        Columns ``task, direction, method, seed, best_attempt, best_submission``
        (the final submission), and `LAST_SCORE_COLUMN` when ``trials`` has it, for
        `compute_leaderboard` to choose by the run's rule.
    """
    reference = pd.DataFrame(
        {
            TASK: references[TASK].to_numpy(),
            DIRECTION: references[DIRECTION].to_numpy(),
            METHOD: REFERENCE,
            SEED: 0,
            BEST_ATTEMPT: references[BASELINE_SCORE].to_numpy(),
            BEST_SUBMISSION: references[BASELINE_SCORE].to_numpy(),
        }
    )
    scored = trials.loc[trials[FAILURE_CLASS].ne(INFRA).to_numpy()]
    runs = pd.DataFrame(
        {
            TASK: scored[TASK].to_numpy(),
            DIRECTION: scored[DIRECTION].to_numpy(),
            METHOD: scored[AGENT].to_numpy(),
            SEED: scored[SEED].to_numpy(),
            BEST_ATTEMPT: scored[BEST_ATTEMPT].to_numpy(),
            BEST_SUBMISSION: scored[SCORE].to_numpy(),
        }
    )
    if LAST_SCORE_COLUMN in trials.columns:
        # The tasks' baselines are what they are under either rule.
        reference[LAST_SCORE_COLUMN] = references[BASELINE_SCORE].to_numpy()
        runs[LAST_SCORE_COLUMN] = scored[LAST_SCORE_COLUMN].to_numpy()
    frames = [f for f in (reference, runs) if not f.empty]
    if not frames:
        return reference
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@dataclass(frozen=True)
class Leaderboard:
    """A run's scores, folded over seeds and profiled.

    Attributes:
        table: the score table (one row per task × method, best over seeds);
            None when nothing could be scored.
        result: the profiles and AUP of ``table``; None likewise.
        intervals: `bootstrap_aup`'s CIs (``method, profile, aup, ci_low, ci_high``).
        error: why there is no AUP although trials finished (a task without a
            feasible score…), else None.
        scope: what the scores were profiled over (methods, tasks, reference,
            best-submission rule, tau_max); None only for a board built by hand.
    """

    table: pd.DataFrame | None = None
    result: AupResult | None = None
    intervals: pd.DataFrame | None = None
    error: str | None = None
    scope: scopes.Scope | None = None

    def to_json(self, run: str) -> dict[str, Any]:
        """The leaderboard as ``leaderboard.json`` holds it."""
        board: dict[str, Any] = {"run": run, "reference": REFERENCE, "tau_max": None}
        if self.scope is not None:
            board[scopes.SCOPE] = self.scope.to_json()
        board["agents"] = {}
        if self.error is not None:
            board["error"] = self.error
        if self.result is None or self.table is None or self.intervals is None:
            return board
        board["tau_max"] = float(self.result.tau_max)
        ci = {
            (str(r[METHOD]), str(r[PROFILE])): [float(r[CI_LOW]), float(r[CI_HIGH])]
            for _, r in self.intervals.iterrows()
        }
        for method, row in self.result.aup.iterrows():
            entry: dict[str, Any] = {}
            for profile in SCORE_COLUMNS:
                entry[profile] = float(row[profile])
                if (str(method), profile) in ci:
                    entry[f"{profile}_ci"] = ci[(str(method), profile)]
            board["agents"][str(method)] = entry
        board["tasks"] = {
            str(task): {
                str(r[METHOD]): {p: _number(r[p]) for p in SCORE_COLUMNS}
                for _, r in rows.iterrows()
            }
            for task, rows in self.table.groupby(TASK, sort=False)
        }
        return board


def compute_leaderboard(
    tidy: pd.DataFrame,
    *,
    best_submission: str = submissions.FINAL_SUBMIT,
    intervals: bool = True,
    profile: str | None = None,
    designs: Mapping[str, str] | None = None,
) -> Leaderboard:
    """Fold seeds, profile, and bootstrap the CIs of a run's tidy rows (see `tidy_trials`).

    Args:
        tidy: the run's tidy rows.
        best_submission: the run's best-submission rule (`submissions.RULES`):
            `submissions.LAST_SCORE` scores the rows' `LAST_SCORE_COLUMN` as the
            best submission, `submissions.FINAL_SUBMIT` their final submissions.
            Recorded in the leaderboard's scope.
        intervals: bootstrap the CIs; without them (the operator's status, on every
            reconcile) the table and the AUP are the same and ``to_json`` lists no CIs.
        profile: the run's suite profile as its scope records it (`scopes.Scope.profile`).
        designs: the run's agents' designs by name, for the scope (`scopes.Scope.designs`).

    Returns:
        A `Leaderboard` with no AUP when no agent has a scored trial yet; one with
        ``error`` set when the scores cannot be profiled (MLGym's arithmetic
        breaks, e.g. a task with no feasible score). Each records its scope.

    Raises:
        ConfigError: the rule is unknown, or it is MLGym's and the rows lack
            `LAST_SCORE_COLUMN`.
    """
    rule = submissions.check_rule(best_submission, field="bestSubmission")
    if rule == submissions.LAST_SCORE:
        if not tidy.empty and LAST_SCORE_COLUMN not in tidy.columns:
            raise ConfigError(
                f"the {LAST_SCORE_COLUMN!r} column is missing, so MLGym's rule cannot be scored",
                field=LAST_SCORE_COLUMN,
            )
        if LAST_SCORE_COLUMN in tidy.columns:
            tidy = tidy.assign(**{BEST_SUBMISSION: tidy[LAST_SCORE_COLUMN]})
    tidy = tidy.drop(columns=[LAST_SCORE_COLUMN], errors="ignore")

    def scoped(tau_max: float | None) -> scopes.Scope:
        return scopes.scope_of(
            tidy,
            reference=REFERENCE,
            best_submission=rule,
            tau_max=tau_max,
            profile=profile,
            designs=designs,
        )

    if tidy.empty or set(tidy[METHOD]) == {REFERENCE}:
        return Leaderboard(scope=scoped(None))
    try:
        table = best_over_seeds(tidy, baseline=REFERENCE)
        result = compute_aup(table, baseline=REFERENCE)
        cis = (
            bootstrap_aup(tidy, baseline=REFERENCE, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED)
            if intervals
            else pd.DataFrame(columns=[METHOD, PROFILE, "aup", CI_LOW, CI_HIGH])
        )
    except ConfigError as exc:
        return Leaderboard(error=str(exc), scope=scoped(None))
    return Leaderboard(table=table, result=result, intervals=cis, scope=scoped(result.tau_max))


def _number(value: Any) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )


__all__ = [
    "BOOTSTRAP_SEED",
    "LAST_SCORE_COLUMN",
    "N_RESAMPLES",
    "REFERENCE",
    "REFERENCE_COLUMNS",
    "TRIAL_COLUMNS",
    "Leaderboard",
    "compute_leaderboard",
    "tidy_trials",
]
