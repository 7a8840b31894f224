"""The 3-SAT task's adapter: a heuristic drives the task's DPLL solver, in the jail.

Run by ``kubegym_eval serve`` inside the scorer's jail (or a plain child process
when evaluate.py runs by hand), with copies of ``starter/solver.py`` and
``starter/heuristic.py`` beside it. The option ``heuristic`` says which heuristic
drives the solver: ``submission`` (the default), the submitted file, or
``reference``, the task's own starter heuristic, which evaluate.py times in jails
of their own to score the submission relative to it; a reference jail never
imports the submission.

Each request is one formula (``{"clauses": [[1, -2, 3], ...]}``); each reply is
what the solver found: ``satisfiable``, the variables set ``true``, the
number of ``decisions``, and the decisions themselves as one int32 array
(``+v``: variable v tried True first, ``-v``: False). evaluate.py times every
answer on its own clock, replays the decisions through its own copy of the
solver (the count it reports is the replay's, never the jail's) and checks
the result against the formula and its label, which never enter the jail.
"""

from __future__ import annotations

import array
import sys
import traceback
from pathlib import Path
from typing import Any

import kubegym_eval

SOLVER = Path(__file__).resolve().parent / "starter" / "solver.py"
REFERENCE = Path(__file__).resolve().parent / "starter" / "heuristic.py"


def _short(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _load_heuristic(submission: Path, which: object) -> Any:
    """The ``heuristic_fn`` that drives the solver: the submission's, or the task's reference."""
    if which == "reference":
        # The task's trusted copy, never the submission: its folder leaves the import path,
        # so nothing of the agent's is imported in this jail.
        folder = submission.parent.resolve()
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != folder]
        return kubegym_eval.load_module("heuristic", REFERENCE).heuristic_fn
    if which != "submission":
        raise ValueError(f"the heuristic option is {which!r}: submission or reference")
    sys.path.insert(0, str(submission.parent))
    try:
        heuristic = kubegym_eval.load_module("heuristic", submission)
    except BaseException as exc:  # any failure to import is the submission's
        raise kubegym_eval.Refusal(f"importing {submission.name} failed: {_short(exc)}") from None
    heuristic_fn = getattr(heuristic, "heuristic_fn", None)
    if not callable(heuristic_fn):
        raise kubegym_eval.Refusal(f"{submission.name} defines no function heuristic_fn")
    return heuristic_fn


def setup(submission: Path, options: dict[str, Any]) -> kubegym_eval.Handler:
    """Load the solver and the heuristic (option ``heuristic``: ``submission`` or
    ``reference``); the handler solves one formula per request."""
    solver = kubegym_eval.load_module("solver", SOLVER)  # `import solver` works as in the starter
    heuristic_fn = _load_heuristic(submission, options.get("heuristic", "submission"))

    class Recording(solver.DPLL):  # type: ignore[name-defined,misc]
        """The task's solver, keeping each decision as the solver accepted it."""

        def __init__(self, clauses: Any, heuristic: Any) -> None:
            super().__init__(clauses, heuristic)
            self.trace: list[int] = []

        def _decide(self) -> tuple[int, bool]:
            variable, value = super()._decide()
            self.trace.append(variable if value else -variable)
            return variable, value

    def solve(header: dict[str, Any], arrays: kubegym_eval.Arrays) -> Any:
        dpll = Recording(header["clauses"], heuristic_fn)
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
        trace = array.array("i", dpll.trace)
        if sys.byteorder != "little":
            trace.byteswap()
        return {**answer, "decisions": int(dpll.num_decisions)}, [
            ("<i4", (len(trace),), trace.tobytes())
        ]

    return solve
