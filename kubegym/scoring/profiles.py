"""Performance ratios, performance profiles and AUP, as MLGym defines and computes them.

Owns the arithmetic of MLGym's ``scripts/evaluation/get_ranks.py`` (re-derived,
not copied); called by the CLI (`kubegym aup`), by `bootstrap` for resamples and
by `plot`. Takes and returns DataFrames; no I/O.

Where MLGym's code is more specific than the paper's prose, the code wins:

* feasible = present, ``>= 0`` and not *strictly* worse than the baseline, so a
  tie with the baseline is feasible; the baseline is scored like any method (and
  is infeasible itself when its own score is negative, as on Blotto);
* the worst ratio of a task is best/worst feasible score (max) or worst/best (min);
  an infeasible score gets ``(1 + 0.05) × worst ratio``;
* each task and profile proposes ``ceil((1 + 0.05) × worst ratio)`` (an integer);
  ``tau_max = ceil(10 · log10(largest proposal)) / 10`` over all tasks and both
  profiles; the grid is ``linspace(0, tau_max, 500)`` (both ends included);
* ``rho(tau)`` counts tasks with ``log10 r <= tau`` over all tasks of the table;
* AUP is the left Riemann sum over the 499 grid steps, accumulated in order and
  rounded with NumPy's ``round`` (half to even on the scaled value), as MLGym does;
* where MLGym's arithmetic breaks (a task with no feasible score, or a feasible
  score of 0 to divide by) it crashes; here that is a `ConfigError` naming the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring.columns import (
    BASELINE,
    BEST_ATTEMPT,
    METHOD,
    SCORE_COLUMNS,
    TASK,
    TAU,
)
from kubegym.scoring.tidy import to_matrix, validate_scores

EPSILON: Final = 0.05
"""MLGym's penalty: an infeasible score is (1 + EPSILON) times the task's worst ratio."""
TAU_POINTS: Final = 500
"""The number of evenly spaced tau values, 0 and tau_max included."""
AUP_DECIMALS: Final = 3
"""MLGym's tables round AUP to this many decimals."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Ratios:
    """The performance ratios of one profile (one score column).

    Attributes:
        ratios: index task, columns method; 1.0 is the best, infeasible scores
            already carry the penalty ratio.
        feasible: same shape, True where the score counted as feasible.
        worst_ratio: per task, the worst feasible ratio.
        tau_cap: per task, ``ceil((1 + epsilon) × worst_ratio)``, MLGym's proposal
            for the largest ratio on the plot.
    """

    ratios: pd.DataFrame
    feasible: pd.DataFrame
    worst_ratio: pd.Series
    tau_cap: pd.Series


@dataclass(frozen=True)
class AupResult:
    """Everything `compute_aup` works out for a score table.

    Attributes:
        tau_max: the upper end of the tau grid (log10 scale).
        tau: the grid, ``TAU_POINTS`` values from 0 to ``tau_max``.
        ratios: per score column (``best_attempt``, ``best_submission``).
        profiles: per score column, index tau, columns method: rho(tau).
        aup: index method, columns ``best_attempt`` and ``best_submission``,
            rounded to ``decimals`` (the table MLGym publishes).
    """

    tau_max: float
    tau: FloatArray
    ratios: dict[str, Ratios]
    profiles: dict[str, pd.DataFrame]
    aup: pd.DataFrame


def feasibility_matrix(scores: FloatArray, maximize: BoolArray, baseline_index: int) -> BoolArray:
    """Which scores of a tasks × methods matrix are feasible.

    A score is feasible when it is present, ``>= 0`` and not strictly worse than
    the baseline's score on the same task (a tie is feasible; MLGym's test is
    ``score < 0 or score worse than baseline``). A missing baseline score
    constrains nothing: MLGym's comparisons with NaN are all False.

    Args:
        scores: shape (tasks, methods); NaN where a method has no valid score.
        maximize: shape (tasks,), True for tasks where higher is better.
        baseline_index: the column of the baseline method.

    Returns:
        A boolean matrix of the same shape.
    """
    base = scores[:, baseline_index][:, None]
    with np.errstate(invalid="ignore"):
        worse = np.where(maximize[:, None], scores < base, scores > base)
        feasible = ~np.isnan(scores) & (scores >= 0.0) & ~worse
    return np.asarray(feasible, dtype=np.bool_)


def ratio_matrix(
    scores: FloatArray,
    maximize: BoolArray,
    baseline_index: int,
    *,
    epsilon: float = EPSILON,
    tasks: list[str] | None = None,
) -> tuple[FloatArray, BoolArray, FloatArray]:
    """Performance ratios of a tasks × methods score matrix (the core of `compute_ratios`).

    Args:
        scores: shape (tasks, methods); NaN where a method has no valid score.
        maximize: shape (tasks,), True for tasks where higher is better.
        baseline_index: the column of the baseline method.
        epsilon: the penalty for infeasible scores.
        tasks: task names, for error messages.

    Returns:
        ``(ratios, feasible, worst_ratio)``: ratios and feasibility of shape
        (tasks, methods) and the worst feasible ratio per task.

    Raises:
        ConfigError: a task has no feasible score, or a feasible score of 0
            makes a ratio undefined (MLGym divides by it and fails).
    """
    names = tasks if tasks is not None else [str(i) for i in range(scores.shape[0])]
    up = maximize[:, None]
    feasible = feasibility_matrix(scores, maximize, baseline_index)
    masked_hi = np.where(feasible, scores, -np.inf)
    masked_lo = np.where(feasible, scores, np.inf)
    top = masked_hi.max(axis=1)
    bottom = masked_lo.min(axis=1)
    none = ~feasible.any(axis=1)
    if none.any():
        task = names[int(np.flatnonzero(none)[0])]
        raise ConfigError(
            f"task {task!r} has no feasible score (present, >= 0 and no worse than the baseline)",
            field=TASK,
        )
    best = np.where(maximize, top, bottom)
    worst = np.where(maximize, bottom, top)
    zero = np.where(maximize, worst == 0.0, best == 0.0)
    if zero.any():
        task = names[int(np.flatnonzero(zero)[0])]
        raise ConfigError(
            f"task {task!r} has a feasible score of 0, so its performance ratio is undefined",
            field=TASK,
            hint="ratios divide by scores; shift the task's metric so scores are positive",
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(up, best[:, None] / scores, scores / best[:, None])
    worst_ratio = np.where(maximize, best / worst, worst / best)
    penalty = worst_ratio * (1 + epsilon)
    ratios = np.where(feasible, raw, penalty[:, None])
    return ratios.astype(np.float64), feasible, worst_ratio.astype(np.float64)


def compute_ratios(
    table: pd.DataFrame,
    score: str = BEST_ATTEMPT,
    *,
    baseline: str = BASELINE,
    epsilon: float = EPSILON,
) -> Ratios:
    """Performance ratios of every method on every task for one score column.

    Args:
        table: a score table, one row per task × method (see `tidy.best_over_seeds`);
            a method with no row for a task counts as missing there.
        score: ``best_attempt`` or ``best_submission``.
        baseline: the baseline method's name.
        epsilon: the penalty for infeasible scores.

    Returns:
        The ratios, feasibility, worst ratio and tau proposal per task.

    Raises:
        ConfigError: the table is malformed (see `tidy.validate_scores`), has
            several rows for one task × method, or a task's ratios are undefined.
    """
    clean = validate_scores(table, baseline=baseline)
    wide, maximize = to_matrix(clean, score)
    tasks = [str(task) for task in wide.index]
    methods = [str(method) for method in wide.columns]
    ratios, feasible, worst = ratio_matrix(
        wide.to_numpy(dtype=np.float64),
        maximize.to_numpy(dtype=bool),
        methods.index(baseline),
        epsilon=epsilon,
        tasks=tasks,
    )
    index = wide.index
    columns = wide.columns
    return Ratios(
        ratios=pd.DataFrame(ratios, index=index, columns=columns),
        feasible=pd.DataFrame(feasible, index=index, columns=columns),
        worst_ratio=pd.Series(worst, index=index, name="worst_ratio"),
        tau_cap=pd.Series(np.ceil(worst * (1 + epsilon)), index=index, name="tau_cap"),
    )


def compute_tau_max(*ratios: Ratios) -> float:
    """The upper end of the tau grid: ``ceil(10 · log10(largest tau_cap)) / 10``.

    Args:
        ratios: every profile that shares the grid (MLGym: both profiles).

    Returns:
        tau_max on the log10 scale, a multiple of 0.1.

    Raises:
        ValueError: no ratios were given.
    """
    if not ratios:
        raise ValueError("compute_tau_max needs at least one Ratios")
    largest = max(float(r.tau_cap.max()) for r in ratios)
    return float(np.ceil(np.log10(largest) * 10) / 10)


def make_tau_grid(tau_max: float, points: int = TAU_POINTS) -> FloatArray:
    """The evenly spaced tau values MLGym evaluates the profiles at.

    Args:
        tau_max: the last value.
        points: how many values, 0 and ``tau_max`` included.

    Returns:
        ``numpy.linspace(0, tau_max, points)``.
    """
    return np.linspace(0.0, tau_max, num=points, dtype=np.float64)


def profile_matrix(ratios: FloatArray, tau: FloatArray) -> FloatArray:
    """rho for a tasks × methods ratio matrix: shape (len(tau), methods).

    Args:
        ratios: shape (tasks, methods), all >= 1.
        tau: the grid.

    Returns:
        The share of tasks with ``log10 ratio <= tau``, per tau and method.
    """
    logs = np.log10(ratios)
    counts = (logs[None, :, :] <= tau[:, None, None]).sum(axis=1)
    shares: FloatArray = np.asarray(counts / ratios.shape[0], dtype=np.float64)
    return shares


def area_matrix(profile: FloatArray, tau: FloatArray) -> FloatArray:
    """The left Riemann sum of each column of a profile matrix (unrounded).

    Args:
        profile: shape (len(tau), methods).
        tau: the grid.

    Returns:
        One area per method, summed step by step in grid order like MLGym's loop.
    """
    steps = np.diff(tau)[:, None] * profile[:-1, :]
    if steps.shape[0] == 0:
        return np.zeros(profile.shape[1], dtype=np.float64)
    # cumsum adds in order (unlike sum's pairwise adding), so the float result
    # matches MLGym's running total bit for bit.
    areas: FloatArray = np.asarray(np.cumsum(steps, axis=0)[-1], dtype=np.float64)
    return areas


def compute_profile(ratios: Ratios, tau: FloatArray) -> pd.DataFrame:
    """The performance profile rho(tau) of every method.

    Args:
        ratios: from `compute_ratios`.
        tau: the grid, from `make_tau_grid`.

    Returns:
        Index tau, columns method, values in [0, 1].
    """
    values = profile_matrix(ratios.ratios.to_numpy(dtype=np.float64), tau)
    return pd.DataFrame(values, index=pd.Index(tau, name=TAU), columns=ratios.ratios.columns)


def integrate_profile(profile: pd.DataFrame) -> pd.Series:
    """The area under each method's profile (AUP), unrounded.

    Args:
        profile: from `compute_profile` (index tau, columns method).

    Returns:
        AUP per method.
    """
    tau = profile.index.to_numpy(dtype=np.float64)
    areas = area_matrix(profile.to_numpy(dtype=np.float64), tau)
    return pd.Series(areas, index=profile.columns, name="aup")


def compute_aup(
    table: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    epsilon: float = EPSILON,
    points: int = TAU_POINTS,
    decimals: int | None = AUP_DECIMALS,
    tau_max: float | None = None,
) -> AupResult:
    """Both performance profiles of a score table and every method's AUP.

    Args:
        table: one row per task × method with both score columns.
        baseline: the baseline method's name; it gets an AUP like every method.
        epsilon: the penalty for infeasible scores.
        points: the size of the tau grid.
        decimals: round AUP to this many decimals (None: unrounded).
        tau_max: use this grid end instead of working it out from the table
            (the bootstrap keeps the full sample's).

    Returns:
        The grid, ratios, profiles and the AUP table.

    Raises:
        ConfigError: the table is malformed or a task's ratios are undefined.
    """
    ratios = {
        name: compute_ratios(table, name, baseline=baseline, epsilon=epsilon)
        for name in SCORE_COLUMNS
    }
    end = compute_tau_max(*ratios.values()) if tau_max is None else tau_max
    tau = make_tau_grid(end, points)
    profiles = {name: compute_profile(r, tau) for name, r in ratios.items()}
    aup = pd.DataFrame({name: integrate_profile(p) for name, p in profiles.items()})
    if decimals is not None:
        # numpy's round (what MLGym's round(np.float64, 3) calls), not Python's.
        aup = pd.DataFrame(np.round(aup.to_numpy(), decimals), index=aup.index, columns=aup.columns)
    aup.index.name = METHOD
    return AupResult(tau_max=end, tau=tau, ratios=ratios, profiles=profiles, aup=aup)


__all__ = [
    "AUP_DECIMALS",
    "EPSILON",
    "TAU_POINTS",
    "AupResult",
    "Ratios",
    "area_matrix",
    "compute_aup",
    "compute_profile",
    "compute_ratios",
    "compute_tau_max",
    "feasibility_matrix",
    "integrate_profile",
    "make_tau_grid",
    "profile_matrix",
    "ratio_matrix",
]
