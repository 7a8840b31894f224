"""What a leaderboard was computed over, and whether two leaderboards can be compared.

An AUP is relative: each task's ratios are to the best score among the methods
scored together, infeasible scores are penalised from the worst feasible ratio
among them, and the tau grid ends where their ratios reach. One AUP next to
another means something only when both were computed over the same methods,
the same tasks, the same reference (baseline) method, the same best-submission
rule, the same suite profile (the tasks' setting: resources, limits, data) and
the same tau_max, and each method the same agent (its model, preset and
settings: `kubegym.api.runs.Agent.design`). `Scope` records those; `comparable` lists what differs. `kubegym.scoring.leaderboard` writes a run's scope into
leaderboard.json (through `kubegym.rollups` for both runtimes, and again in
`kubegym report`'s recomputation); `kubegym aup` prints the scope of a score
table and, with ``--compare``, checks it against another leaderboard's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring import submissions
from kubegym.scoring.columns import METHOD, TASK

SCOPE: Final = "scope"
"""The key of the scope in leaderboard.json and in ``kubegym aup --json``'s output."""
_SHOWN: Final = 5
"""How many names a reason lists before it counts the rest."""


@dataclass(frozen=True)
class Scope:
    """The settings and the sets a leaderboard's AUP depends on.

    Attributes:
        methods: every method scored together, the reference included, sorted.
        tasks: every task of the profiles, sorted.
        reference: the method whose score decides feasibility on each task.
        best_submission: the best-submission rule (`submissions.RULES`); None when
            unstated (a score table whose ``best_submission`` column came from elsewhere).
        tau_max: the end of the tau grid; None when there is no AUP.
        profile: the run's suite profile as `kubegym.tasks.profiles.scope_label` records
            it (its name, plus any way the run departed from it); None: kubegym's own
            setting of each task.
        designs: each agent's design by method name (`kubegym.api.runs.Agent.design`);
            None when unstated (a score table from elsewhere, a leaderboard written before
            kubegym recorded them).
    """

    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    reference: str
    best_submission: str | None
    tau_max: float | None
    profile: str | None = None
    designs: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The scope as leaderboard.json holds it."""
        return {
            "methods": list(self.methods),
            "tasks": list(self.tasks),
            "reference": self.reference,
            "best_submission": self.best_submission,
            "tau_max": self.tau_max,
            "profile": self.profile,
            "designs": None if self.designs is None else dict(sorted(self.designs.items())),
        }

    def describe(self) -> str:
        """One sentence for people: what the AUP was computed over."""
        rule = self.best_submission or "not stated"
        tau = "no AUP" if self.tau_max is None else f"tau_max {self.tau_max:g}"
        profile = self.profile or "none (kubegym's setting)"
        return (
            f"{len(self.methods)} methods ({_names(self.methods)}) over {len(self.tasks)} tasks "
            f"({_names(self.tasks)}); reference {self.reference}; best submission: {rule}; "
            f"profile: {profile}; {tau}"
        )


def scope_of(
    rows: pd.DataFrame,
    *,
    reference: str,
    best_submission: str | None,
    tau_max: float | None,
    profile: str | None = None,
    designs: Mapping[str, str] | None = None,
) -> Scope:
    """The scope of scores profiled together.

    Args:
        rows: the tidy rows or the score table the profiles were computed from
            (columns ``task`` and ``method``).
        reference: the reference method's name.
        best_submission: the rule behind the ``best_submission`` column, or None.
        tau_max: the profiles' tau_max, or None when there is no AUP.
        profile: the run's suite profile (`Scope.profile`), or None.
        designs: the run's agents' designs by name (`Scope.designs`), or None; only the
            methods scored here are kept.
    """

    def names(column: str) -> tuple[str, ...]:
        return tuple(sorted({str(v) for v in rows[column]})) if column in rows.columns else ()

    methods = names(METHOD)
    return Scope(
        methods=methods,
        tasks=names(TASK),
        reference=reference,
        best_submission=best_submission,
        tau_max=None if tau_max is None else float(tau_max),
        profile=profile,
        designs=None if designs is None else {m: designs[m] for m in methods if m in designs},
    )


def read_scope(document: Mapping[str, Any], *, name: str) -> Scope:
    """The scope a leaderboard records: leaderboard.json, ``kubegym aup --json`` or report.json.

    Args:
        document: the parsed JSON.
        name: the document's name, for errors.

    Raises:
        ConfigError: the document records no scope (written before kubegym
            recorded one) or a malformed one.
    """
    data = document.get(SCOPE)
    if data is None and isinstance(document.get("leaderboard"), Mapping):
        data = document["leaderboard"].get(SCOPE)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{name} records no {SCOPE}",
            hint="give a leaderboard.json or `kubegym aup --json` output of this kubegym "
            "(`kubegym report --format json` recomputes an older run's)",
        )
    reference, tau_max = data.get("reference"), data.get("tau_max")
    if not isinstance(reference, str):
        raise ConfigError(f"{name}: not a method name", field=f"{SCOPE}.reference")
    if tau_max is not None and (
        isinstance(tau_max, bool) or not isinstance(tau_max, int | float) or math.isnan(tau_max)
    ):
        raise ConfigError(f"{name}: not a number", field=f"{SCOPE}.tau_max")
    rule = data.get("best_submission")
    # Absent in a leaderboard written before profiles: those ran kubegym's own setting.
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ConfigError(f"{name}: not a profile name", field=f"{SCOPE}.profile")
    designs = read_designs(data.get("designs"), name=name)
    return Scope(
        methods=_read_names(data, "methods", name),
        tasks=_read_names(data, "tasks", name),
        reference=reference,
        best_submission=None
        if rule is None
        else submissions.check_rule(rule, field=f"{SCOPE}.best_submission"),
        tau_max=None if tau_max is None else float(tau_max),
        profile=profile,
        designs=designs,
    )


def read_designs(value: Any, *, name: str) -> dict[str, str] | None:
    """A recorded scope's ``designs`` (`Scope.designs`): None when unstated.

    Raises:
        ConfigError: not a map of method names to designs.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{name}: not a map of method to design", field=f"{SCOPE}.designs")
    return dict(value)


def comparable(
    first: Scope, second: Scope, *, names: tuple[str, str] = ("the first", "the second")
) -> list[str]:
    """Why two leaderboards' AUPs cannot be compared; empty when they can.

    They can when both were computed over the same methods, tasks and reference
    method, under the same stated best-submission rule and suite profile, on the same
    tau grid, and no method names another agent in one than in the other (where both
    state their designs: a score table from elsewhere states none).

    Args:
        first: one leaderboard's scope.
        second: the other's.
        names: how the reasons call the two.

    Returns:
        One sentence per difference, in the order the fields are listed above.
    """
    a, b = names
    reasons = []
    for label, mine, theirs in (
        ("methods", first.methods, second.methods),
        ("tasks", first.tasks, second.tasks),
    ):
        if mine != theirs:
            only_a = sorted(set(mine) - set(theirs))
            only_b = sorted(set(theirs) - set(mine))
            parts = [f"only in {a}: {_names(only_a)}"] if only_a else []
            parts += [f"only in {b}: {_names(only_b)}"] if only_b else []
            reasons.append(f"the {label} differ ({'; '.join(parts)})")
    if first.reference != second.reference:
        reasons.append(
            f"the reference methods differ ({a}: {first.reference}, {b}: {second.reference})"
        )
    unstated = [n for n, s in ((a, first), (b, second)) if s.best_submission is None]
    if unstated:
        reasons += [
            f"{n} does not state its best-submission rule (kubegym aup --best-submission)"
            for n in unstated
        ]
    elif first.best_submission != second.best_submission:
        reasons.append(
            f"the best-submission rules differ ({a}: {first.best_submission}, "
            f"{b}: {second.best_submission})"
        )
    if first.profile != second.profile:
        reasons.append(
            f"the suite profiles differ ({a}: {first.profile or 'none'}, "
            f"{b}: {second.profile or 'none'}): the tasks ran with other resources, limits "
            "or data"
        )
    if first.designs is not None and second.designs is not None:
        changed = sorted(
            m
            for m in set(first.designs) & set(second.designs)
            if first.designs[m] != second.designs[m]
        )
        reasons += [
            f"method {m} is another agent ({a}: {first.designs[m]}; {b}: {second.designs[m]})"
            for m in changed
        ]
    without = [n for n, s in ((a, first), (b, second)) if s.tau_max is None]
    if without:
        reasons += [f"{n} has no AUP" for n in without]
    elif first.tau_max != second.tau_max:
        reasons.append(
            f"tau_max differs ({a}: {first.tau_max:g}, {b}: {second.tau_max:g}): the profiles "
            "are integrated over different ranges"
        )
    return reasons


def _read_names(data: Mapping[str, Any], field: str, name: str) -> tuple[str, ...]:
    value = data.get(field)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}: not a list of names", field=f"{SCOPE}.{field}")
    return tuple(sorted(value))


def _names(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_SHOWN])
    return shown + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


__all__ = ["SCOPE", "Scope", "comparable", "read_designs", "read_scope", "scope_of"]
