"""A run's overview for the viewer: leaderboard with CIs, performance profiles, raw scores, spend, failures.

Called by `kubegym.viewer.app` for a run's page. The leaderboard and the raw
scores per task are the run's own ``leaderboard.json`` (written by both
runtimes with `kubegym.scoring`); the profiles are recomputed from its score
table with `kubegym.scoring.profiles.compute_aup`, so the curves drawn are the
ones the AUP integrates. Cost, tokens, failures and validate counts are
summed over the trials' rows (`kubegym.viewer.catalog`). Everything is cached
until the run changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring import columns, profiles
from kubegym.scoring import leaderboard as leaderboards
from kubegym.viewer import catalog

PROFILE_POINTS: Final = 120
"""Points per profile curve sent to the page (a step function reads fine at this size)."""


def overview(run: catalog.AnyRun) -> dict[str, Any]:
    """Everything a run's page shows above its trials table."""
    run.refresh()
    rows = [r for r in run.rows.values() if r["state"] == "finished"]
    board = run.read_json(catalog.LEADERBOARD) or {}
    return {
        "run": run.summary(),
        "leaderboard": _leaderboard(board),
        "profiles": _profiles(board, rows),
        "scores": _raw_scores(board),
        "spend": _spend(rows),
        "failures": _failures(rows),
        "validations": _validations(rows),
    }


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _leaderboard(board: dict[str, Any]) -> dict[str, Any]:
    agents = board.get("agents")
    entries: list[dict[str, Any]] = []
    if isinstance(agents, dict):
        for agent, entry in agents.items():
            if not isinstance(entry, dict):
                continue
            row: dict[str, Any] = {"agent": str(agent)[:200]}
            for profile in columns.SCORE_COLUMNS:
                row[profile] = _float(entry.get(profile))
                ci = entry.get(f"{profile}_ci")
                row[f"{profile}_ci"] = (
                    [_float(ci[0]), _float(ci[1])]
                    if isinstance(ci, list) and len(ci) == 2
                    else None
                )
            entries.append(row)
    entries.sort(key=lambda r: -(r[columns.BEST_ATTEMPT] or 0.0))
    error = board.get("error")
    return {
        "agents": entries,
        "tau_max": _float(board.get("tau_max")),
        "error": None if error is None else str(error)[:500],
    }


def _table(
    board: dict[str, Any], rows: Iterable[dict[str, Any]]
) -> tuple[pd.DataFrame | None, list[str]]:
    """The leaderboard's score table with each task's direction, and the tasks left out.

    A task's direction comes from its trials' results; a task no finished trial
    names (leaderboard.json lists every task of the run) cannot be profiled.
    """
    tasks = board.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        return None, []
    directions = {r["task"]: r["direction"] for r in rows if r["task"] and r["direction"]}
    records = []
    left_out: list[str] = []
    for task, methods in tasks.items():
        if not isinstance(methods, dict) or task not in directions:
            left_out.append(str(task)[:200])
            continue
        for method, scores in methods.items():
            if isinstance(scores, dict):
                records.append(
                    {
                        columns.TASK: task,
                        columns.DIRECTION: directions[task],
                        columns.METHOD: method,
                        **{p: _float(scores.get(p)) for p in columns.SCORE_COLUMNS},
                    }
                )
    if not records:
        return None, left_out
    return pd.DataFrame(records, columns=list(columns.TABLE_COLUMNS)), left_out


def _profiles(board: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    table, left_out = _table(board, rows)
    if table is None:
        return {"error": "no leaderboard.json with scores yet", "curves": {}, "left_out": left_out}
    try:
        result = profiles.compute_aup(table, baseline=leaderboards.REFERENCE)
    except ConfigError as exc:
        return {"error": str(exc)[:500], "curves": {}, "left_out": left_out}
    step = max(1, len(result.tau) // PROFILE_POINTS)
    picks = list(range(0, len(result.tau), step))
    if picks[-1] != len(result.tau) - 1:
        picks.append(len(result.tau) - 1)
    curves: dict[str, dict[str, list[float]]] = {}
    for name, frame in result.profiles.items():
        values = frame.to_numpy()
        curves[name] = {
            str(method): [round(float(values[i, m]), 4) for i in picks]
            for m, method in enumerate(frame.columns)
        }
    return {
        "error": None,
        "tau": [round(float(result.tau[i]), 4) for i in picks],
        "tau_max": float(result.tau_max),
        "curves": curves,
        "left_out": left_out,
    }


def _raw_scores(board: dict[str, Any]) -> dict[str, Any]:
    tasks = board.get("tasks")
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    if isinstance(tasks, dict):
        for task, methods in tasks.items():
            if isinstance(methods, dict):
                out[str(task)[:200]] = {
                    str(m)[:200]: {p: _float(s.get(p)) for p in columns.SCORE_COLUMNS}
                    for m, s in methods.items()
                    if isinstance(s, dict)
                }
    return out


def _spend(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = agents.setdefault(
            r["agent"] or "",
            {
                "agent": r["agent"] or "",
                "trials": 0,
                "cost_usd": 0.0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "steps": 0,
            },
        )
        entry["trials"] += 1
        entry["cost_usd"] += r["cost_usd"] or 0.0
        for name in ("prompt_tokens", "completion_tokens", "steps"):
            entry[name] += r[name] or 0
    for entry in agents.values():
        entry["cost_usd"] = round(entry["cost_usd"], 6)
    return sorted(agents.values(), key=lambda e: str(e["agent"]))


def _failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["exit_reason"] or "", r["failure_class"] or "")
        counts[key] = counts.get(key, 0) + 1
    return [
        {"exit_reason": reason, "failure_class": klass or None, "trials": n}
        for (reason, klass), n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]


def _validations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = agents.setdefault(
            r["agent"] or "", {"agent": r["agent"] or "", "validations": 0, "trials_counted": 0}
        )
        if r["validations"] is not None:
            entry["validations"] += r["validations"]
            entry["trials_counted"] += 1
    return sorted(agents.values(), key=lambda e: str(e["agent"]))
