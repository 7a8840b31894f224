"""The evaluator: scores submission artifacts outside the sandbox.

`scorer` runs a task's evaluation script on one split; `judge` decides which
splits validate and submit use and what the agent is told; `server` serves them over
HTTP from the evaluator container on a cluster, and `client` calls that server.
"""

from kubegym.evaluator.judge import BoundJudge, Evaluator, Judge, Verdict
from kubegym.evaluator.scorer import EvalError, Scoring, score

__all__ = ["BoundJudge", "EvalError", "Evaluator", "Judge", "Scoring", "Verdict", "score"]
