"""Bootstrap confidence intervals for AUP: resample seeds, recompute, take percentiles.

MLGym publishes point estimates only; this is kubegym's addition, built on the
same arithmetic (`profiles.ratio_matrix`, `profile_matrix`, `area_matrix`).
Called by reports; takes tidy trial rows (one row per seed), returns a DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring.columns import (
    AUP,
    BASELINE,
    CI_HIGH,
    CI_LOW,
    METHOD,
    PROFILE,
    SCORE_COLUMNS,
    TASK,
)
from kubegym.scoring.profiles import (
    AUP_DECIMALS,
    EPSILON,
    TAU_POINTS,
    FloatArray,
    area_matrix,
    compute_aup,
    profile_matrix,
    ratio_matrix,
)
from kubegym.scoring.tidy import best_over_seeds, to_matrix, validate_scores


def _resampled_best(values: FloatArray, picks: np.ndarray, maximize: bool) -> FloatArray:
    """The best score of each resample of one task × method's seeds (NaN if none valid)."""
    sign = 1.0 if maximize else -1.0
    drawn = sign * values[picks]
    drawn = np.where(np.isnan(drawn), -np.inf, drawn)
    best = drawn.max(axis=1)
    return np.where(np.isneginf(best), np.nan, sign * best).astype(np.float64)


def bootstrap_aup(
    trials: pd.DataFrame,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    baseline: str = BASELINE,
    epsilon: float = EPSILON,
    points: int = TAU_POINTS,
    decimals: int | None = AUP_DECIMALS,
) -> pd.DataFrame:
    """Percentile bootstrap intervals for every method's AUP, over seeds.

    Each resample draws, for every task × method, as many seeds as it has, with
    replacement (a seed keeps its best-attempt and final score together), takes
    the best over the drawn seeds and recomputes both profiles' AUP. The tau grid
    stays the full sample's so that resampled areas are comparable with the point
    estimate. A task × method with one row (such as a baseline) never varies.
    The steps: draw the resamples (`_draw`), their areas (`_areas`), and the
    percentiles around the point estimate (`_intervals`).

    Args:
        trials: tidy trial rows (see `tidy.best_over_seeds`).
        n_resamples: how many resamples.
        confidence: the central mass of the interval, in (0, 1).
        seed: seeds NumPy's generator, so the same call gives the same interval.
        baseline: the baseline method's name.
        epsilon: the penalty for infeasible scores.
        points: the size of the tau grid.
        decimals: round the AUP and bounds to this many decimals (None: don't).

    Returns:
        Columns ``method, profile, aup, ci_low, ci_high``: one row per method
        and profile (``best_attempt``, ``best_submission``), ``aup`` being the
        point estimate on all seeds.

    Raises:
        ConfigError: the rows are malformed, a task's ratios are undefined (in
            the full sample or a resample), or an argument is out of range.
    """
    if n_resamples < 1:
        raise ConfigError("n_resamples must be at least 1", field="n_resamples")
    if not 0.0 < confidence < 1.0:
        raise ConfigError("confidence must be between 0 and 1", field="confidence")
    clean = validate_scores(trials, baseline=baseline)
    table = best_over_seeds(clean, baseline=baseline)
    point = compute_aup(table, baseline=baseline, epsilon=epsilon, points=points, decimals=None)
    wide, maximize_series = to_matrix(table, SCORE_COLUMNS[0])
    tasks = [str(task) for task in wide.index]
    methods = [str(method) for method in wide.columns]
    maximize = maximize_series.to_numpy(dtype=bool)
    baseline_index = methods.index(baseline)
    drawn = _draw(clean, tasks, methods, maximize, n_resamples, seed)
    areas = _areas(drawn, maximize, baseline_index, point.tau, epsilon, tasks)
    result = _intervals(areas, point.aup, methods, confidence)
    if decimals is not None:
        for column in (AUP, CI_LOW, CI_HIGH):
            result[column] = np.round(result[column].to_numpy(dtype=np.float64), decimals)
    return result


def _draw(
    clean: pd.DataFrame,
    tasks: list[str],
    methods: list[str],
    maximize: np.ndarray,
    n_resamples: int,
    seed: int,
) -> dict[str, FloatArray]:
    """Each score column's best over resampled seeds: resample × task × method (NaN if none).

    One generator, seeded by `seed`, draws the seeds of every task × method in the
    rows' order; both score columns use the same draw, so a seed's pair stays together.
    """
    rng = np.random.default_rng(seed)
    drawn = {
        name: np.full((n_resamples, len(tasks), len(methods)), np.nan) for name in SCORE_COLUMNS
    }
    for (task, method), group in clean.groupby([TASK, METHOD], sort=False):
        i, j = tasks.index(str(task)), methods.index(str(method))
        picks = rng.integers(0, len(group), size=(n_resamples, len(group)))
        for name in SCORE_COLUMNS:
            values = group[name].to_numpy(dtype=np.float64)
            drawn[name][:, i, j] = _resampled_best(values, picks, bool(maximize[i]))
    return drawn


def _areas(
    drawn: dict[str, FloatArray],
    maximize: np.ndarray,
    baseline_index: int,
    tau: FloatArray,
    epsilon: float,
    tasks: list[str],
) -> dict[str, FloatArray]:
    """Every method's AUP in each resample, per score column: resample × method.

    The tau grid is the full sample's, so that the areas compare with the point estimate.
    Resamples go in order, both columns each, so the first undefined ratio is the one raised.
    """
    n_resamples, _, n_methods = drawn[SCORE_COLUMNS[0]].shape
    areas = {name: np.empty((n_resamples, n_methods)) for name in SCORE_COLUMNS}
    for r in range(n_resamples):
        for name in SCORE_COLUMNS:
            ratios, _, _ = ratio_matrix(
                drawn[name][r], maximize, baseline_index, epsilon=epsilon, tasks=tasks
            )
            areas[name][r] = area_matrix(profile_matrix(ratios, tau), tau)
    return areas


def _intervals(
    areas: dict[str, FloatArray], aup: pd.DataFrame, methods: list[str], confidence: float
) -> pd.DataFrame:
    """One row per score column and method: the point AUP and the percentile interval."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    rows = []
    for name in SCORE_COLUMNS:
        low, high = np.percentile(areas[name], [tail, 100.0 - tail], axis=0)
        for j, method in enumerate(methods):
            rows.append(
                {
                    METHOD: method,
                    PROFILE: name,
                    AUP: float(aup[name].reindex(methods).to_numpy()[j]),
                    CI_LOW: float(low[j]),
                    CI_HIGH: float(high[j]),
                }
            )
    return pd.DataFrame(rows, columns=[METHOD, PROFILE, AUP, CI_LOW, CI_HIGH])
