"""The best-submission rules: which score of a trial stands as its "best submission".

kubegym's rule (`FINAL_SUBMIT`) takes the trial's final submission, and no score
when that was not valid: an agent that never submits validly has no submission.
MLGym's rule (`LAST_SCORE`) takes the last score entry of the run, which is a
validate when the agent's last valid artifact was only validated (its
``process_results``/``get_best_scores`` read ``results["agent"][-1]``, a list
that grows by one on each evaluation that succeeded). A run chooses one in its
spec (`kubegym.api.runs.BenchmarkRunSpec.best_submission`); the rollups
(`kubegym.rollups`) and the report (`kubegym.report.loading`) compute
`last_score` for every trial, and `kubegym.scoring.leaderboard` scores the
column the run's rule names and records the rule in the leaderboard's scope.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from typing import Final

from kubegym.api import runs, trials
from kubegym.errors import ConfigError

FINAL_SUBMIT: Final[runs.BestSubmissionRule] = "final-submit"
"""kubegym's rule: the final submission, when it was valid."""
LAST_SCORE: Final[runs.BestSubmissionRule] = "last-score"
"""MLGym's rule: the last artifact the evaluator scored validly, validate or submit."""
RULES: Final[Sequence[runs.BestSubmissionRule]] = typing.get_args(runs.BestSubmissionRule)
"""Every rule, as a run file spells it."""


def last_score(scores: Iterable[trials.Score], metric: str) -> float | None:
    """A trial's score under MLGym's rule: the hidden test score of its last valid scoring.

    MLGym's score list holds only the evaluations that succeeded, so the last
    entry is the last artifact that scored, whatever came after it; here that is
    the last validate or submit without an ``error`` (a refused or failed one
    is not in MLGym's list). Its primary metric on the test data is the score;
    None when no scoring succeeded, or when the last one has no test score for
    ``metric`` (MLGym then has no value for that run either).

    Args:
        scores: the trial's validates and submits, in order (`TrialResult.scores`).
        metric: the task's primary metric.
    """
    valid = [s for s in scores if s.error is None]
    if not valid:
        return None
    return (valid[-1].test_metrics or {}).get(metric)


def check_rule(value: object, *, field: str) -> runs.BestSubmissionRule:
    """``value`` as a rule, or a `ConfigError` naming ``field``."""
    for rule in RULES:
        if value == rule:
            return rule
    raise ConfigError(
        f"unknown best-submission rule {value!r}", field=field, hint=f"use {' or '.join(RULES)}"
    )


__all__ = ["FINAL_SUBMIT", "LAST_SCORE", "RULES", "check_rule", "last_score"]
