"""Checking score tables and folding seeds: from trial rows to one row per task × method.

`validate_scores` is the single gate every scoring entry point goes through (the
CLI, `compute_aup`, `bootstrap_aup`, `mean_rank`); `best_over_seeds` turns tidy
trial results (one row per trial) into the score table the profiles need.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kubegym.errors import ConfigError
from kubegym.scoring.columns import (
    BASELINE,
    DIRECTION,
    DIRECTION_ALIASES,
    DIRECTIONS,
    MAXIMIZE,
    METHOD,
    SCORE_COLUMNS,
    TABLE_COLUMNS,
    TASK,
)


def normalize_direction(value: object, *, row: object = None) -> str:
    """Map a spelling of a task's direction to ``max`` or ``min``.

    Args:
        value: ``max``/``min``, or MLGym's ``maximize``/``minimize`` (any case).
        row: the row the value came from, named in the error.

    Returns:
        ``columns.MAXIMIZE`` or ``columns.MINIMIZE``.

    Raises:
        ConfigError: the value is not a known direction.
    """
    key = str(value).strip().lower()
    if key not in DIRECTION_ALIASES:
        where = f"row {row}: " if row is not None else ""
        raise ConfigError(
            f"{where}unknown direction {value!r}",
            field=DIRECTION,
            hint=f"use one of {', '.join(DIRECTIONS)}",
        )
    return DIRECTION_ALIASES[key]


def _to_scores(column: pd.Series, name: str) -> pd.Series:
    """Parse one score column: numbers stay, empty cells become NaN, text is an error.

    Text goes through Python's ``float`` (correctly rounded, so a CSV written
    with full precision reads back bit for bit).
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        parsed = column.astype(float)
    else:
        values: list[float] = []
        for row, cell in column.items():
            text = "" if cell is None or cell is pd.NA else str(cell).strip()
            if text == "":
                values.append(math.nan)
                continue
            try:
                values.append(float(text))
            except ValueError:
                raise ConfigError(
                    f"row {row}: {text!r} is not a number",
                    field=name,
                    hint="leave the cell empty when there is no valid score",
                ) from None
        parsed = pd.Series(values, index=column.index, dtype=float)
    infinite = np.isinf(parsed.to_numpy())
    if infinite.any():
        row = parsed.index[infinite][0]
        raise ConfigError(f"row {row}: scores must be finite", field=name)
    return parsed


def validate_scores(frame: pd.DataFrame, *, baseline: str = BASELINE) -> pd.DataFrame:
    """Check a score table (or tidy trial rows) and return a clean copy.

    Rows are named in errors by the frame's index; `kubegym.scoring.loader` sets
    it to the CSV line numbers.

    Args:
        frame: columns ``task, direction, method, best_attempt, best_submission``
            (and ``seed`` for trial rows, not required). Scores may be numbers or
            text; an empty cell or NaN means no valid score.
        baseline: the method every task must have a row for.

    Returns:
        A copy with ``task``/``method`` as text, ``direction`` as ``max``/``min``
        and float scores (NaN where missing).

    Raises:
        ConfigError: a column is missing, a direction is unknown, a task's rows
            disagree on its direction, a score is not a number or not finite, a
            task or method name is empty, or a task has no baseline row.
    """
    missing = [name for name in TABLE_COLUMNS if name not in frame.columns]
    if missing:
        raise ConfigError(
            f"missing column(s) {', '.join(missing)}",
            field=missing[0],
            hint=f"the columns are {','.join(TABLE_COLUMNS)}",
        )
    if frame.empty:
        raise ConfigError("there are no score rows", hint="add one row per task and method")

    clean = frame.copy()
    for name in (TASK, METHOD):
        text = clean[name].astype("string").str.strip()
        empty = text.isna() | (text == "")
        if empty.any():
            raise ConfigError(f"row {text.index[empty.to_numpy()][0]}: empty {name}", field=name)
        clean[name] = text.astype(str)
    clean[DIRECTION] = [
        normalize_direction(value, row=row) for row, value in clean[DIRECTION].items()
    ]
    for name in SCORE_COLUMNS:
        clean[name] = _to_scores(clean[name], name)

    directions = clean.groupby(TASK, sort=False)[DIRECTION].nunique()
    if (directions > 1).any():
        task = str(directions.index[(directions > 1).to_numpy()][0])
        raise ConfigError(
            f"task {task!r} has rows with different directions",
            field=DIRECTION,
            hint="a task is either maximized or minimized",
        )
    with_baseline = set(clean.loc[clean[METHOD] == baseline, TASK])
    lacking = [task for task in clean[TASK].unique() if task not in with_baseline]
    if lacking:
        raise ConfigError(
            f"task {lacking[0]!r} has no row for the baseline method {baseline!r}",
            field=METHOD,
            hint="every task needs a baseline row (or pass --baseline NAME)",
        )
    return clean


def best_over_seeds(trials: pd.DataFrame, *, baseline: str = BASELINE) -> pd.DataFrame:
    """Fold tidy trial rows into a score table: per task and method, the best over seeds.

    Each row is one trial (one seed): ``best_attempt`` is the best of every
    validate and submit score of that trial, ``best_submission`` its final
    score. Per task × method the table keeps the best of each column over the
    seeds, in the task's direction, ignoring seeds with no valid score (MLGym's
    ``process_task_results`` does the same). A score table that already has one
    row per task × method passes through unchanged.

    Args:
        trials: rows as `validate_scores` accepts them; ``seed`` is optional.
        baseline: the baseline method's name.

    Returns:
        One row per task × method, columns `columns.TABLE_COLUMNS`, tasks and
        methods in order of first appearance.

    Raises:
        ConfigError: from `validate_scores`.
    """
    clean = validate_scores(trials, baseline=baseline)
    sign = np.where(clean[DIRECTION] == MAXIMIZE, 1.0, -1.0)
    signed = clean[[TASK, METHOD, *SCORE_COLUMNS]].copy()
    for name in SCORE_COLUMNS:
        signed[name] = signed[name] * sign
    best = signed.groupby([TASK, METHOD], sort=False)[list(SCORE_COLUMNS)].max()
    best = best.reset_index()
    directions = clean.groupby(TASK, sort=False)[DIRECTION].first()
    best.insert(1, DIRECTION, best[TASK].map(directions))
    back = np.where(best[DIRECTION] == MAXIMIZE, 1.0, -1.0)
    for name in SCORE_COLUMNS:
        best[name] = best[name] * back
    return best[list(TABLE_COLUMNS)]


def to_matrix(clean: pd.DataFrame, score: str) -> tuple[pd.DataFrame, pd.Series]:
    """Spread one score column of a validated table into a tasks × methods frame.

    Args:
        clean: the output of `validate_scores`, one row per task × method.
        score: ``best_attempt`` or ``best_submission``.

    Returns:
        ``(wide, maximize)``: scores with index task and columns method, both in
        order of first appearance (NaN where a method has no row or no score),
        and per task whether higher is better.

    Raises:
        ConfigError: the score column is unknown, or a task × method has two rows.
    """
    if score not in SCORE_COLUMNS:
        raise ConfigError(
            f"unknown score column {score!r}", hint=f"use {' or '.join(SCORE_COLUMNS)}"
        )
    doubled = clean.duplicated([TASK, METHOD])
    if doubled.any():
        at = int(np.flatnonzero(doubled.to_numpy())[0])
        raise ConfigError(
            f"row {clean.index[at]}: a second row for task {clean[TASK].iloc[at]!r} and method "
            f"{clean[METHOD].iloc[at]!r}",
            field=METHOD,
            hint="fold seeds first with best_over_seeds",
        )
    tasks = list(pd.unique(clean[TASK]))
    methods = list(pd.unique(clean[METHOD]))
    wide = clean.pivot(index=TASK, columns=METHOD, values=score).reindex(
        index=pd.Index(tasks, name=TASK), columns=pd.Index(methods, name=METHOD)
    )
    maximize = clean.groupby(TASK, sort=False)[DIRECTION].first().reindex(wide.index) == MAXIMIZE
    return wide.astype(float), maximize
