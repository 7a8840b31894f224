"""A DPLL solver for CNF formulas whose branching is decided by a heuristic function.

The solver is fixed: the agent improves `heuristic.py` only, and the evaluation
runs its own copy of this file with the submitted heuristic. `run_local.py` (the
starter's timing script) and the task's evaluation both call `DPLL(...).solve()`.

At each node of the search the solver
  1. propagates unit clauses (a clause with one unassigned literal left forces it),
  2. stops with SAT when every clause is satisfied, or backtracks on a conflict
     (a clause whose literals are all false),
  3. otherwise asks the heuristic for the next decision, a variable and the value
     to try first, and tries the other value if the first one fails.

The heuristic is called as ``heuristic_fn(clauses, assignments, conflict_count,
assignment_history, level)`` and returns ``(variable, value)``:

- ``clauses``: the unresolved clauses (no literal true yet), each a tuple of
  non-zero ints; literal ``v`` means "variable v is True", ``-v`` "v is False".
  A clause keeps all its literals, including those already false.
- ``assignments``: variable → bool for every variable assigned so far.
- ``conflict_count``: variable → how many conflicting clauses it has appeared in.
- ``assignment_history``: the assigned variables in the order they were assigned.
- ``level``: one list per decision level, the variables assigned at that level
  (``level[0]`` holds what propagation forced before any decision).

These are the solver's own objects: read them, never change them (a changed
state leads to a wrong answer, and a wrong answer fails the evaluation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

Clause = tuple[int, ...]
Heuristic = Callable[..., Any]


class HeuristicError(Exception):
    """The heuristic returned something the solver cannot use."""


class DPLL:
    """Decides one CNF formula with DPLL search, branching as ``heuristic_function`` says.

    Args:
        clauses: the formula, an iterable of clauses (iterables of non-zero ints).
        heuristic_function: ``heuristic_fn`` from `heuristic.py` (see the module docstring).
    """

    def __init__(self, clauses: Iterable[Iterable[int]], heuristic_function: Heuristic):
        self.clauses: list[Clause] = [tuple(int(lit) for lit in clause) for clause in clauses]
        self.heuristic_function = heuristic_function
        self.variables: set[int] = {abs(lit) for clause in self.clauses for lit in clause}
        self.assignments: dict[int, bool] = {}
        self.conflict_count: dict[int, int] = {}
        self.assignment_history: list[int] = []
        self.level: list[list[int]] = []
        self.unresolved_clauses: list[Clause] = list(self.clauses)
        self.num_decisions = 0
        """How many times the heuristic was asked for a decision."""

    def solve(self) -> bool:
        """True when the formula is satisfiable; then `model()` gives a satisfying assignment.

        Raises:
            HeuristicError: the heuristic returned an unusable decision.
        """
        self.level = [[]]
        return self._search()

    def model(self) -> dict[int, bool]:
        """The assignment found by `solve` (variables it left free are set to True)."""
        return {var: self.assignments.get(var, True) for var in sorted(self.variables)}

    # The search ------------------------------------------------------------

    def _search(self) -> bool:
        if not self._propagate():
            return False
        if not self.unresolved_clauses:
            return True
        variable, value = self._decide()
        # Propagation builds new lists, so the list seen here is what a backtrack restores.
        saved = self.unresolved_clauses
        for choice in (value, not value):
            self.level.append([])
            self._assign(variable, choice)
            if self._search():
                return True
            self._undo_level()
            self.unresolved_clauses = saved
        return False

    def _decide(self) -> tuple[int, bool]:
        decision = self.heuristic_function(
            self.unresolved_clauses,
            self.assignments,
            self.conflict_count,
            self.assignment_history,
            self.level,
        )
        self.num_decisions += 1
        try:
            variable, value = decision
        except (TypeError, ValueError):
            raise HeuristicError(
                f"heuristic_fn must return (variable, value), got {decision!r}"
            ) from None
        if variable is None:
            raise HeuristicError(
                f"heuristic_fn returned no variable while {len(self.unresolved_clauses)} "
                "clauses are unresolved"
            )
        if isinstance(variable, bool) or not isinstance(variable, int):
            try:
                variable = int(variable)  # numpy integers and the like
            except (TypeError, ValueError):
                raise HeuristicError(f"heuristic_fn returned the variable {variable!r}") from None
        if variable not in self.variables:
            raise HeuristicError(f"heuristic_fn returned {variable}, which is not in the formula")
        if variable in self.assignments:
            raise HeuristicError(f"heuristic_fn returned {variable}, which is already assigned")
        if value not in (True, False):
            raise HeuristicError(f"heuristic_fn returned the value {value!r}; expected a bool")
        return variable, bool(value)

    def _assign(self, variable: int, value: bool) -> None:
        self.assignments[variable] = value
        self.assignment_history.append(variable)
        self.level[-1].append(variable)

    def _undo_level(self) -> None:
        undone = self.level.pop()
        for variable in undone:
            del self.assignments[variable]
        del self.assignment_history[len(self.assignment_history) - len(undone) :]

    def _propagate(self) -> bool:
        """Unit propagation to a fixed point; False on a conflict."""
        assignments = self.assignments
        clauses = self.unresolved_clauses
        while True:
            remaining: list[Clause] = []
            units: list[int] = []
            for clause in clauses:
                free = 0
                last = 0
                satisfied = False
                for lit in clause:
                    value = assignments.get(lit if lit > 0 else -lit)
                    if value is None:
                        free += 1
                        last = lit
                    elif value is (lit > 0):
                        satisfied = True
                        break
                if satisfied:
                    continue
                if free == 0:
                    self._count_conflict(clause)
                    return False
                if free == 1:
                    units.append(last)
                remaining.append(clause)
            self.unresolved_clauses = remaining
            if not units:
                return True
            for lit in units:
                variable = lit if lit > 0 else -lit
                value = assignments.get(variable)
                if value is None:
                    self._assign(variable, lit > 0)
                elif value is not (lit > 0):  # two unit clauses force opposite values
                    self._count_conflict((lit,))
                    return False
            clauses = remaining

    def _count_conflict(self, clause: Sequence[int]) -> None:
        for lit in clause:
            variable = abs(lit)
            self.conflict_count[variable] = self.conflict_count.get(variable, 0) + 1


def satisfies(clauses: Iterable[Iterable[int]], model: dict[int, bool]) -> bool:
    """True when ``model`` makes every clause true."""
    return all(any(model.get(abs(lit)) is (lit > 0) for lit in clause) for clause in clauses)
