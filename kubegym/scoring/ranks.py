"""Per-task ranks and each method's mean rank over tasks.

Mirrors MLGym's ``calculate_rankings`` and its "Plackett-Luce" row (which is the
mean of the per-task ranks); called by reports and by whoever wants a second
summary next to AUP. DataFrames in, DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kubegym.scoring.columns import (
    BASELINE,
    BEST_ATTEMPT,
    MEAN_RANK,
    METHOD,
    RANK,
    TASK,
    TASKS_RANKED,
)
from kubegym.scoring.profiles import feasibility_matrix
from kubegym.scoring.tidy import to_matrix, validate_scores


def rank_methods(
    table: pd.DataFrame,
    score: str = BEST_ATTEMPT,
    *,
    baseline: str = BASELINE,
    infeasible_last: bool = False,
) -> pd.DataFrame:
    """Rank the methods on each task by their score, in the task's direction.

    MLGym ranks by the raw score and puts only *missing* scores last, so a
    present but infeasible score (negative, or worse than the baseline) keeps
    its place by value; that is the default here. With ``infeasible_last`` every
    infeasible score goes below every feasible one (missing scores still last).
    Ties share the average of their ranks (MLGym breaks them by list order, and
    orders the missing methods arbitrarily; the average keeps the mean rank
    independent of that order).

    Args:
        table: one row per task × method; methods without a row count as missing.
        score: ``best_attempt`` or ``best_submission``.
        baseline: the baseline method's name; it is ranked like any method.
        infeasible_last: rank infeasible scores after feasible ones.

    Returns:
        Columns ``task, method, rank``, one row per task × method (1 = best).

    Raises:
        ConfigError: the table is malformed (see `tidy.validate_scores`).
    """
    clean = validate_scores(table, baseline=baseline)
    wide, maximize_series = to_matrix(clean, score)
    maximize = maximize_series.to_numpy(dtype=bool)
    values = wide.to_numpy(dtype=np.float64)
    key = np.where(maximize[:, None], -values, values)
    bucket = np.where(np.isnan(values), 2, 0)
    if infeasible_last:
        baseline_index = list(wide.columns).index(baseline)
        feasible = feasibility_matrix(values, maximize, baseline_index)
        bucket = np.where((bucket == 0) & ~feasible, 1, bucket)
    key = np.where(np.isnan(key), 0.0, key)
    rows: list[pd.DataFrame] = []
    for i, task in enumerate(wide.index):
        order = pd.DataFrame({"bucket": bucket[i], "key": key[i]})
        group = order.groupby(["bucket", "key"], sort=True).ngroup()
        ranks = group.rank(method="average").to_numpy()
        rows.append(pd.DataFrame({TASK: task, METHOD: wide.columns, RANK: ranks}))
    return pd.concat(rows, ignore_index=True)


def mean_rank(
    table: pd.DataFrame,
    score: str = BEST_ATTEMPT,
    *,
    baseline: str = BASELINE,
    infeasible_last: bool = False,
) -> pd.DataFrame:
    """Each method's rank averaged over tasks (MLGym's "Plackett-Luce" ordering).

    Args:
        table: one row per task × method.
        score: ``best_attempt`` or ``best_submission``.
        baseline: the baseline method's name.
        infeasible_last: see `rank_methods`.

    Returns:
        Index method, columns ``mean_rank`` and ``tasks`` (how many tasks were
        ranked), sorted best (lowest) first, ties by name.

    Raises:
        ConfigError: the table is malformed.
    """
    ranks = rank_methods(table, score, baseline=baseline, infeasible_last=infeasible_last)
    summary = ranks.groupby(METHOD, sort=False)[RANK].agg(["mean", "size"])
    summary.columns = pd.Index([MEAN_RANK, TASKS_RANKED])
    summary = summary.reset_index().sort_values([MEAN_RANK, METHOD], kind="stable")
    return summary.set_index(METHOD)
