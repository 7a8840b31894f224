"""The names of every column and direction that kubegym's scoring reads or writes.

Owned here so the loader, the core (`profiles`, `tidy`, `ranks`, `bootstrap`),
the plots and the CLI agree on one spelling; import the constants, never the strings.
"""

from __future__ import annotations

from typing import Final

# Inputs: one row per trial (tidy) or per task × method (a score table).
TASK: Final = "task"
DIRECTION: Final = "direction"
METHOD: Final = "method"
SEED: Final = "seed"
BEST_ATTEMPT: Final = "best_attempt"
"""The best of every validate and submit score (of a trial, or of a method's seeds)."""
BEST_SUBMISSION: Final = "best_submission"
"""The final submitted score (of a trial), or the best of those over a method's seeds."""

SCORE_COLUMNS: Final = (BEST_ATTEMPT, BEST_SUBMISSION)
"""The two profiles MLGym reports, in the order it reports them."""
TABLE_COLUMNS: Final = (TASK, DIRECTION, METHOD, BEST_ATTEMPT, BEST_SUBMISSION)
"""The columns of a score table (and of ``kubegym aup``'s CSV)."""

# Directions, as a score table spells them.
MAXIMIZE: Final = "max"
MINIMIZE: Final = "min"
DIRECTIONS: Final = (MAXIMIZE, MINIMIZE)
DIRECTION_ALIASES: Final[dict[str, str]] = {
    "max": MAXIMIZE,
    "maximize": MAXIMIZE,
    "maximise": MAXIMIZE,
    "higher": MAXIMIZE,
    "min": MINIMIZE,
    "minimize": MINIMIZE,
    "minimise": MINIMIZE,
    "lower": MINIMIZE,
}

BASELINE: Final = "baseline"
"""The default name of the baseline method, which is scored like any other."""

# Outputs.
TAU: Final = "tau"
PROFILE: Final = "profile"
AUP: Final = "aup"
CI_LOW: Final = "ci_low"
CI_HIGH: Final = "ci_high"
RANK: Final = "rank"
MEAN_RANK: Final = "mean_rank"
TASKS_RANKED: Final = "tasks"

RESULTS_CSV: Final = (
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
    # validate calls the evaluator scored and refused (its ledger's counts, not the agent's)
    "validations",
    "validations_refused",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "seconds",
    # the sandbox's network: none, allowlist (through the egress proxy) or open
    "network",
)
"""results.csv's columns, one row per finished trial, the same for a local and a cluster run."""
