"""Filling the results index from one run: read what changed since last time, write only that.

`ingest_run` lists the run (one listing: a folder walk or one S3 LIST), takes
each results.json's fingerprint (size and mtime, or ETag), and compares it with
the ``files`` table: an unchanged run costs no write at all, and a live run
whose trials are finishing costs one read and one row per new result. A trial
with several attempts (the store's ``<id>/attempt-<n>/``) keeps its highest one,
as `kubegym.index.records.choose` picks it for the report. A file that is not a
result is skipped with a note naming its path; nothing in a file aborts an
ingest. Called by `kubegym.index.results_index.ResultsIndex.ingest`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from kubegym.api import results as results_api
from kubegym.index import engines, records, rows, schema, sources

LEADERBOARD: Final = "leaderboard.json"
STATUS: Final = "status.json"
#: The run's own files the run row is built from (besides its trials).
RUN_FILES: Final = (LEADERBOARD, STATUS)


def run_id(location: str) -> str:
    """The index's id of the run at `location` (a resolved path or an ``s3://`` URI)."""
    return hashlib.sha256(location.rstrip("/").encode()).hexdigest()[:16]


def now() -> str:
    """The current time as the index writes it: UTC, ISO 8601, microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def epoch(when: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (naive means UTC); None when unreadable."""
    if not isinstance(when, str) or not when:
        return None
    try:
        parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


@dataclass(frozen=True)
class _Known:
    fingerprint: str
    trial: str | None
    attempt: int | None


def ingest_run(engine: sa.Engine, source: sources.RunSource) -> rows.RunIngest:
    """Bring the index's copy of the run at `source` up to date; write nothing when it is.

    Returns:
        What was added, updated, removed, left alone and skipped.
    """
    files = source.list_files()
    present = set(files)
    results = records.results_paths(files)
    run_files: list[str] = [p for p in RUN_FILES if p in present]
    tags = source.fingerprints([*results, *run_files])
    results = [p for p in results if p in tags]  # gone between the listing and now
    rid = run_id(source.location)
    report = rows.RunIngest(run_id=rid, name=source.name, source=source.location)

    with engine.connect() as connection:
        known = {
            r.path: _Known(r.fingerprint, r.trial, r.attempt)
            for r in connection.execute(
                sa.select(
                    schema.files.c.path,
                    schema.files.c.fingerprint,
                    schema.files.c.trial,
                    schema.files.c.attempt,
                ).where(schema.files.c.run_id == rid)
            )
        }
        indexed = connection.execute(
            sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == rid)
        ).first()

    changed = [p for p in results if p not in known or known[p].fingerprint != tags[p]]
    gone = [p for p in known if p not in tags]
    run_changed = [p for p in run_files if p not in known or known[p].fingerprint != tags[p]]
    report.unchanged = len(results) - len(changed)
    if indexed is not None and not changed and not gone and not run_changed:
        return report

    parsed = {p: records.read(source, p) for p in changed}
    report.read = len(parsed)
    for one in parsed.values():
        report.skipped.extend(one.notes)

    by_trial: dict[str, list[str]] = {}
    for path in results:
        by_trial.setdefault(_trial_of(path), []).append(path)
    affected = {_trial_of(p) for p in (*changed, *gone) if p not in RUN_FILES}

    winners: dict[str, records.TrialRecord] = {}
    for trial in affected:
        winner = _winner(by_trial.get(trial, []), parsed, known)
        if winner is not None and winner not in parsed:
            parsed[winner] = records.read(source, winner)  # an older attempt wins again
        record = parsed[winner].record if winner is not None else None
        if record is not None:
            winners[trial] = record

    with engines.writing(engine) as connection:
        held = (
            {
                r.trial
                for r in connection.execute(
                    sa.select(schema.trials.c.trial).where(
                        schema.trials.c.run_id == rid,
                        schema.trials.c.trial.in_(sorted(affected)),
                    )
                )
            }
            if affected
            else set()
        )
        report.added = len(set(winners) - held)
        report.updated = len(set(winners) & held)
        dropped = sorted(held - set(winners))
        report.removed = len(dropped)
        schema.upsert(
            connection,
            schema.trials,
            [_trial_row(rid, r, present) for r in winners.values()],
        )
        for chunk in _chunks(dropped):
            connection.execute(
                sa.delete(schema.trials).where(
                    schema.trials.c.run_id == rid, schema.trials.c.trial.in_(chunk)
                )
            )
        schema.upsert(
            connection,
            schema.files,
            [_file_row(rid, path, tags[path], parsed[path]) for path in changed]
            + [
                {"run_id": rid, "path": p, "fingerprint": tags[p], "trial": None}
                | {"attempt": None, "note": None}
                for p in run_changed
            ],
        )
        for chunk in _chunks(gone):
            connection.execute(
                sa.delete(schema.files).where(
                    schema.files.c.run_id == rid, schema.files.c.path.in_(chunk)
                )
            )
        run_row = _run_row(connection, rid, source, run_files, report)
        schema.upsert(connection, schema.runs, [run_row])
        report.name = run_row["name"]
    return report


def _trial_of(path: str) -> str:
    return sources.trial_of(path.rpartition("/")[0])[0]


def _winner(
    paths: Iterable[str], parsed: Mapping[str, records.Parsed], known: Mapping[str, _Known]
) -> str | None:
    """The path whose result stands for its trial: the highest attempt, the later folder on a tie."""
    best: tuple[int, str] | None = None
    for path in paths:  # folder order
        if path in parsed:
            record = parsed[path].record
            attempt = record.attempt if record is not None else None
        else:
            attempt = known[path].attempt
        if attempt is not None and (best is None or attempt >= best[0]):
            best = (attempt, path)
    return best[1] if best else None


def _file_row(rid: str, path: str, tag: str, parsed: records.Parsed) -> dict[str, Any]:
    record = parsed.record
    return {
        "run_id": rid,
        "path": path,
        "fingerprint": tag,
        "trial": _trial_of(path),
        "attempt": record.attempt if record is not None else None,
        "note": "\n".join(parsed.notes) or None,
    }


def _cut(value: Any, limit: int) -> tuple[Any, bool]:
    """`value` cut to `limit` characters when it is a longer string, and whether it was."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit], True
    return value, False


def _trial_row(rid: str, record: records.TrialRecord, present: set[str]) -> dict[str, Any]:
    """A trials row; bounded, with ``complete`` False when anything had to be cut."""
    row: dict[str, Any] = dict(zip(records.RESULT_COLUMNS, record.values, strict=False))
    cut = False
    for column in ("task", "agent", "exit_reason", "failure_class", "primary_metric", "direction"):
        row[column], was_cut = _cut(row[column], schema.NAME_LIMIT)
        cut = cut or was_cut
    row["message"], was_cut = _cut(row["message"], schema.MESSAGE_LIMIT)
    cut = cut or was_cut
    audit: str | None = records.audit_json(record.audit)
    if len(audit or "") > schema.AUDIT_LIMIT:
        audit, cut = None, True
    trajectory = f"{record.folder}/{results_api.TRAJECTORY_JSONL}"
    return {
        **row,
        "run_id": rid,
        "trial": record.trial,
        "last_score": record.last_score,
        "validations": record.validations,
        "started": _cut(record.started, schema.NAME_LIMIT)[0],
        "finished": _cut(record.finished, schema.NAME_LIMIT)[0],
        "finished_at": epoch(record.finished),
        "folder": record.folder,
        "trajectory": trajectory if trajectory in present else None,
        "audit": audit,
        "complete": not cut,
    }


def _run_row(
    connection: sa.Connection,
    rid: str,
    source: sources.RunSource,
    run_files: list[str],
    report: rows.RunIngest,
) -> dict[str, Any]:
    """The run's row from its trials in the index and its leaderboard.json and status.json."""
    t = schema.trials.c
    mine = t.run_id == rid
    count, failed, cost, first = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(t.failure_class),
            sa.func.coalesce(sa.func.sum(t.cost_usd), 0.0),
            sa.func.min(sa.case((t.started != "", t.started))),
        ).where(mine)
    ).one()
    agents = sorted(connection.scalars(sa.select(t.agent).where(mine).distinct()))
    tasks = sorted(connection.scalars(sa.select(t.task).where(mine).distinct()))
    board = _json_file(source, LEADERBOARD, run_files, report)
    status = _json_file(source, STATUS, run_files, report)
    counters = status.get("counters")
    total = counters.get("total") if isinstance(counters, dict) else None
    name = board.get("run")
    started = _text(status.get("startTime")) or first
    return {
        "run_id": rid,
        "name": name[: schema.NAME_LIMIT] if isinstance(name, str) and name else source.name,
        "source": source.location,
        "status": _text(status.get("phase")),
        "started": started,
        "finished": _text(status.get("completionTime")),
        "started_at": epoch(started),
        "trials": max(count, total if isinstance(total, int) else 0),
        "finished_trials": count,
        "failed_trials": failed,
        "agents": json.dumps(agents, ensure_ascii=False),
        "tasks": json.dumps(tasks, ensure_ascii=False),
        "cost_usd": float(cost),
        "updated": now(),
    }


def _json_file(
    source: sources.RunSource, path: str, present: list[str], report: rows.RunIngest
) -> dict[str, Any]:
    """A run file's JSON object; {} when absent or unreadable (with a note)."""
    if path not in present:
        return {}
    try:
        data = json.loads(source.read_bytes(path))
    except (ValueError, OSError) as exc:
        report.skipped.append(f"skipped {path}: not readable JSON ({exc})")
        return {}
    if not isinstance(data, dict):
        report.skipped.append(f"skipped {path}: not a JSON object")
        return {}
    return data


def _text(value: Any) -> str | None:
    return value[: schema.NAME_LIMIT] if isinstance(value, str) and value else None


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = ["RUN_FILES", "epoch", "ingest_run", "now", "run_id"]
