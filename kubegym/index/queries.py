"""Questions to the results index: runs, one run's trials a page at a time, facets, score history.

Every query is SQLAlchemy Core with bound parameters (no text is ever pasted
into SQL, whatever a task or agent is called). Trials page by keyset, not by
offset: a cursor holds the last row's (task, agent, seed, trial), so the
thousandth page costs what the first does. Called by
`kubegym.index.results_index.ResultsIndex`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, Final

import sqlalchemy as sa

from kubegym.errors import ConfigError
from kubegym.index import ingest, rows, schema

#: The most trials one page holds.
PAGE_LIMIT: Final = 1000
#: The columns `facets` counts values of.
FACETS: Final = ("task", "agent", "seed", "exit_reason", "failure_class")

_T = schema.trials.c
_R = schema.runs.c


def since_epoch(since: dt.datetime | str | float | None) -> float | None:
    """A ``since`` bound as seconds since the epoch (a naive time means UTC).

    Raises:
        ConfigError: a string that is not an ISO 8601 time.
    """
    if since is None or isinstance(since, int | float):
        return since
    if isinstance(since, str):
        seconds = ingest.epoch(since)
        if seconds is None:
            raise ConfigError(f"{since!r} is not an ISO 8601 time", field="since")
        return seconds
    when = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    return when.timestamp()


def runs(
    connection: sa.Connection,
    *,
    agent: str | None = None,
    task: str | None = None,
    since: dt.datetime | str | float | None = None,
    name: str | None = None,
) -> list[rows.RunRow]:
    """Runs newest first; with `agent`/`task`, only runs holding a trial of them."""
    query = sa.select(schema.runs)
    if agent is not None or task is not None:
        held = sa.select(_T.run_id).where(_T.run_id == _R.run_id)
        if agent is not None:
            held = held.where(_T.agent == agent)
        if task is not None:
            held = held.where(_T.task == task)
        query = query.where(held.exists())
    after = since_epoch(since)
    if after is not None:
        query = query.where(_R.started_at >= after)
    if name is not None:
        query = query.where(_R.name == name)
    query = query.order_by(_R.started_at.desc().nulls_last(), _R.name, _R.run_id)
    return [run_row(r) for r in connection.execute(query).mappings()]


def run(connection: sa.Connection, run_id: str) -> rows.RunRow | None:
    found = connection.execute(sa.select(schema.runs).where(_R.run_id == run_id)).mappings().first()
    return run_row(found) if found is not None else None


def trials(
    connection: sa.Connection,
    run_id: str,
    *,
    task: str | None = None,
    agent: str | None = None,
    seed: int | None = None,
    exit_reason: str | None = None,
    failure_class: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> rows.TrialPage:
    """One page of a run's trials matching every filter given, in (task, agent, seed, trial) order.

    Raises:
        ConfigError: a cursor this index did not hand out, or a limit out of 1…`PAGE_LIMIT`.
    """
    if not 1 <= limit <= PAGE_LIMIT:
        raise ConfigError(f"{limit} is not between 1 and {PAGE_LIMIT}", field="limit")
    where = [_T.run_id == run_id]
    for column, value in (
        (_T.task, task),
        (_T.agent, agent),
        (_T.seed, seed),
        (_T.exit_reason, exit_reason),
        (_T.failure_class, failure_class),
    ):
        if value is not None:
            where.append(column == value)
    total = connection.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
    order = (_T.task, _T.agent, _T.seed, _T.trial)
    page = sa.select(schema.trials).where(*where)
    if cursor is not None:
        page = page.where(sa.tuple_(*order) > sa.tuple_(*_read_cursor(cursor)))
    found = [
        trial_row(r) for r in connection.execute(page.order_by(*order).limit(limit + 1)).mappings()
    ]
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    next_cursor = (
        _write_cursor(last.task, last.agent, last.seed, last.trial) if more and last else None
    )
    return rows.TrialPage(rows=found, next_cursor=next_cursor, total=total)


def trial(connection: sa.Connection, run_id: str, trial_id: str) -> rows.TrialRow | None:
    found = (
        connection.execute(
            sa.select(schema.trials).where(_T.run_id == run_id, _T.trial == trial_id)
        )
        .mappings()
        .first()
    )
    return trial_row(found) if found is not None else None


def facets(connection: sa.Connection, run_id: str) -> dict[str, list[tuple[str, int]]]:
    """Each filter's values in the run with how many trials have each (a missing class is ``""``)."""
    answer: dict[str, list[tuple[str, int]]] = {}
    for name in FACETS:
        column = _T[name]
        counted = connection.execute(
            sa.select(column, sa.func.count())
            .where(_T.run_id == run_id)
            .group_by(column)
            .order_by(column)
        )
        answer[name] = [("" if value is None else str(value), n) for value, n in counted]
    return answer


def history(
    connection: sa.Connection,
    task: str,
    *,
    agent: str | None = None,
    since: dt.datetime | str | float | None = None,
) -> list[rows.ScorePoint]:
    """Every indexed trial of `task` (of `agent`), oldest first: the task's score history."""
    query = (
        sa.select(
            _T.run_id,
            _R.name,
            _T.trial,
            _T.agent,
            _T.seed,
            _T.finished,
            _T.score,
            _T.best_attempt,
            _T.exit_reason,
        )
        .join(schema.runs, _R.run_id == _T.run_id)
        .where(_T.task == task)
    )
    if agent is not None:
        query = query.where(_T.agent == agent)
    after = since_epoch(since)
    if after is not None:
        query = query.where(_T.finished_at >= after)
    query = query.order_by(_T.finished_at.asc().nulls_first(), _R.name, _T.trial)
    return [
        rows.ScorePoint(
            run_id=r.run_id,
            run=r.name,
            trial=r.trial,
            agent=r.agent,
            seed=r.seed,
            finished=r.finished,
            score=r.score,
            best_attempt=r.best_attempt,
            exit_reason=r.exit_reason,
        )
        for r in connection.execute(query)
    ]


def run_row(r: Any) -> rows.RunRow:
    return rows.RunRow(
        run_id=r["run_id"],
        name=r["name"],
        source=r["source"],
        status=r["status"],
        started=r["started"],
        finished=r["finished"],
        trials=r["trials"],
        finished_trials=r["finished_trials"],
        failed_trials=r["failed_trials"],
        agents=tuple(json.loads(r["agents"])),
        tasks=tuple(json.loads(r["tasks"])),
        cost_usd=r["cost_usd"],
        updated=r["updated"],
    )


def trial_row(r: Any) -> rows.TrialRow:
    return rows.TrialRow(
        run_id=r["run_id"],
        trial=r["trial"],
        task=r["task"],
        agent=r["agent"],
        seed=r["seed"],
        attempt=r["attempt"],
        exit_reason=r["exit_reason"],
        failure_class=r["failure_class"],
        message=r["message"],
        primary_metric=r["primary_metric"],
        direction=r["direction"],
        score=r["score"],
        best_attempt=r["best_attempt"],
        last_score=r["last_score"],
        steps=r["steps"],
        prompt_tokens=r["prompt_tokens"],
        completion_tokens=r["completion_tokens"],
        cost_usd=r["cost_usd"],
        seconds=r["seconds"],
        validations=r["validations"],
        started=r["started"],
        finished=r["finished"],
        folder=r["folder"],
        trajectory=r["trajectory"],
        complete=bool(r["complete"]),
    )


def _write_cursor(task: str, agent: str, seed: int, trial_id: str) -> str:
    raw = json.dumps([task, agent, seed, trial_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[str, str, int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        task, agent, seed, trial_id = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError("not a cursor this index handed out", field="cursor") from exc
    if not (
        isinstance(task, str)
        and isinstance(agent, str)
        and isinstance(seed, int)
        and isinstance(trial_id, str)
    ):
        raise ConfigError("not a cursor this index handed out", field="cursor")
    return task, agent, seed, trial_id


__all__ = [
    "FACETS",
    "PAGE_LIMIT",
    "facets",
    "history",
    "run",
    "run_row",
    "runs",
    "since_epoch",
    "trial",
    "trial_row",
    "trials",
]
