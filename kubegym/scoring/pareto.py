"""The cost-versus-score Pareto front: which methods no other method beats on both at once.

Called by `kubegym report` for its cost-versus-AUP table and scatter; pure
pandas/numpy, no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_front(cost: pd.Series, value: pd.Series) -> pd.Series:
    """Mark the methods on the Pareto front of low cost and high value.

    A method is dominated when another one costs no more and scores no less,
    and is strictly better on at least one of the two; the front is every
    method that is not dominated. Equal points do not dominate each other, so
    both stay on the front. A method with a missing cost or value is neither
    dominated nor on the front (False) and dominates nothing.

    Args:
        cost: per method (the index), lower is better.
        value: per method, same index, higher is better (e.g. AUP).

    Returns:
        A boolean Series on the same index, True for the front.

    Raises:
        ValueError: the two Series have different indexes.
    """
    if not cost.index.equals(value.index):
        raise ValueError("cost and value must have the same index")
    c = cost.to_numpy(dtype=np.float64)
    v = value.to_numpy(dtype=np.float64)
    known = ~(np.isnan(c) | np.isnan(v))
    # dominates[j, i]: method j dominates method i (an n × n comparison; a
    # leaderboard has tens of methods, not thousands).
    no_worse = (c[:, None] <= c[None, :]) & (v[:, None] >= v[None, :])
    better = (c[:, None] < c[None, :]) | (v[:, None] > v[None, :])
    dominates = no_worse & better & known[:, None] & known[None, :]
    on_front = known & ~dominates.any(axis=0)
    return pd.Series(on_front, index=cost.index, name="pareto", dtype=bool)


__all__ = ["pareto_front"]
