"""kubegym.scoring: MLGym's performance profiles and AUP, bootstrap CIs, mean ranks, Pareto fronts,
the best-submission rules, and what makes two leaderboards comparable.

The public names are re-exported here; `kubegym aup` (kubegym/cli/aup.py), the
local runner's leaderboard.json and `kubegym report` call them. pandas and numpy
only; matplotlib is imported lazily by `plot`.
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
from kubegym.scoring.leaderboard import REFERENCE, Leaderboard, compute_leaderboard, tidy_trials
from kubegym.scoring.loader import read_scores_csv
from kubegym.scoring.pareto import pareto_front
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
from kubegym.scoring.scope import Scope, comparable, read_scope, scope_of
from kubegym.scoring.submissions import FINAL_SUBMIT, LAST_SCORE, last_score
from kubegym.scoring.tidy import best_over_seeds, normalize_direction, validate_scores

__all__ = [
    "AUP_DECIMALS",
    "BASELINE",
    "BEST_ATTEMPT",
    "BEST_SUBMISSION",
    "DIRECTION",
    "EPSILON",
    "FINAL_SUBMIT",
    "LAST_SCORE",
    "MAXIMIZE",
    "METHOD",
    "MINIMIZE",
    "REFERENCE",
    "SCORE_COLUMNS",
    "SEED",
    "TABLE_COLUMNS",
    "TASK",
    "TAU_POINTS",
    "AupResult",
    "Leaderboard",
    "Ratios",
    "Scope",
    "best_over_seeds",
    "bootstrap_aup",
    "comparable",
    "compute_aup",
    "compute_leaderboard",
    "compute_profile",
    "compute_ratios",
    "compute_tau_max",
    "integrate_profile",
    "last_score",
    "make_tau_grid",
    "mean_rank",
    "normalize_direction",
    "pareto_front",
    "rank_methods",
    "read_scope",
    "read_scores_csv",
    "scope_of",
    "tidy_trials",
    "validate_scores",
]
