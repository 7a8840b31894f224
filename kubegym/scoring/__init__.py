"""kubegym.scoring: MLGym's performance profiles and AUP, plus bootstrap CIs and mean ranks.

The public names are re-exported here; `kubegym aup` (kubegym/cli/aup.py) and
reports call them. pandas and numpy only; matplotlib is imported lazily by `plot`.
"""

from __future__ import annotations

from kubegym.scoring.bootstrap import bootstrap_aup
from kubegym.scoring.columns import (
    BASELINE,
    BEST_ATTEMPT,
    BEST_SUBMISSION,
    DIRECTION,
    MAXIMIZE,
    METHOD,
    MINIMIZE,
    SCORE_COLUMNS,
    SEED,
    TABLE_COLUMNS,
    TASK,
)
from kubegym.scoring.loader import read_scores_csv
from kubegym.scoring.profiles import (
    AUP_DECIMALS,
    EPSILON,
    TAU_POINTS,
    AupResult,
    Ratios,
    compute_aup,
    compute_profile,
    compute_ratios,
    compute_tau_max,
    integrate_profile,
    make_tau_grid,
)
from kubegym.scoring.ranks import mean_rank, rank_methods
from kubegym.scoring.tidy import best_over_seeds, normalize_direction, validate_scores

__all__ = [
    "AUP_DECIMALS",
    "BASELINE",
    "BEST_ATTEMPT",
    "BEST_SUBMISSION",
    "DIRECTION",
    "EPSILON",
    "MAXIMIZE",
    "METHOD",
    "MINIMIZE",
    "SCORE_COLUMNS",
    "SEED",
    "TABLE_COLUMNS",
    "TASK",
    "TAU_POINTS",
    "AupResult",
    "Ratios",
    "best_over_seeds",
    "bootstrap_aup",
    "compute_aup",
    "compute_profile",
    "compute_ratios",
    "compute_tau_max",
    "integrate_profile",
    "make_tau_grid",
    "mean_rank",
    "normalize_direction",
    "rank_methods",
    "read_scores_csv",
    "validate_scores",
]
