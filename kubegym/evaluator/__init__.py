"""The evaluator: scores submission artifacts outside the sandbox.

`scorer` runs a task's evaluation script on one split; `judge` decides which
splits validate and submit use and what the agent is told.
"""

from kubegym.evaluator.judge import Judge, Verdict
from kubegym.evaluator.scorer import EvalError, Scoring, score

__all__ = ["EvalError", "Judge", "Scoring", "Verdict", "score"]
