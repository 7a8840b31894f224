"""The 3-SAT task's adapter: the submitted heuristic drives the task's DPLL solver, in the jail.

Run by ``kubegym_eval serve`` inside the scorer's jail (or a plain child process
when evaluate.py runs by hand), with a copy of ``starter/solver.py`` beside it.
Each request is one formula (``{"clauses": [[1, -2, 3], ...]}``); each reply is
what the solver found: ``satisfiable``, the variables set ``true`` and the
number of ``decisions``. evaluate.py times every answer on its own clock and
checks it against the formula and its label, which never enter the jail.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import kubegym_eval

SOLVER = Path(__file__).resolve().parent / "starter" / "solver.py"


def _short(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def setup(submission: Path, options: dict[str, Any]) -> kubegym_eval.Handler:
    """Load the solver and the heuristic; the handler solves one formula per request."""
    solver = kubegym_eval.load_module("solver", SOLVER)  # `import solver` works as in the starter
    sys.path.insert(0, str(submission.parent))
    try:
        heuristic = kubegym_eval.load_module("heuristic", submission)
    except BaseException as exc:  # any failure to import is the submission's
        raise kubegym_eval.Refusal(f"importing {submission.name} failed: {_short(exc)}") from None
    heuristic_fn = getattr(heuristic, "heuristic_fn", None)
    if not callable(heuristic_fn):
        raise kubegym_eval.Refusal(f"{submission.name} defines no function heuristic_fn")

    def solve(header: dict[str, Any], arrays: kubegym_eval.Arrays) -> Any:
        dpll = solver.DPLL(header["clauses"], heuristic_fn)
        try:
            satisfiable = dpll.solve()
        except solver.HeuristicError as exc:
            raise kubegym_eval.Refusal(str(exc)) from None
        except BaseException as exc:
            raise kubegym_eval.Refusal(
                f"the solver failed with your heuristic: {_short(exc)}"
            ) from None
        model = [v for v, value in dpll.model().items() if value] if satisfiable else None
        answer = {"satisfiable": bool(satisfiable), "true": model}
        return {**answer, "decisions": int(dpll.num_decisions)}, []

    return solve
