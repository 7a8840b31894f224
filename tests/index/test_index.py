"""The results index on SQLite and on a real PostgreSQL: ingest, incremental updates, queries, hostile runs.

Every test taking `index_url` runs on both databases (see conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kubegym import index
from kubegym.errors import ConfigError
from kubegym.index import schema
from tests.unit.report.tiny_run import MISSING, RUN, trial, write_tiny_run


def _write_marker(idx: index.ResultsIndex) -> Any:
    """Something that changes whenever anything is written to the index."""
    if idx.engine.dialect.name == "sqlite":
        database = Path(str(idx.engine.url.database))
        idx.engine.dispose()  # no open connection keeps a half-checkpointed WAL around
        return [
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (database, database.with_name(database.name + "-wal"))
            if p.exists()
        ]
    with idx.engine.connect() as connection:
        return [
            sorted(connection.execute(sa.text(f"SELECT xmin::text FROM {table}")).scalars())
            for table in ("runs", "trials", "files", "meta")
        ]


def _results(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "results.json").read_text())
    return data


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_tiny_run(tmp_path / "runs" / RUN)


def test_a_run_is_indexed_and_a_second_ingest_writes_nothing(index_url: str, run: Path) -> None:
    with index.open(index_url) as idx:
        first = idx.ingest(str(run))
        assert (first.added, first.read, first.skipped) == (7, 7, [])
        rid = idx.run_id(str(run))
        row = idx.run(rid)
        assert row is not None
        assert (row.name, row.status, row.trials, row.finished_trials, row.failed_trials) == (
            RUN,
            "Running",
            8,
            7,
            2,
        )
        assert row.agents == ("A", "B") and row.tasks == ("acc", "loss")
        assert row.cost_usd == pytest.approx(0.28)
        before = _write_marker(idx)
        again = idx.ingest(str(run))
        assert (again.added, again.updated, again.read, again.unchanged) == (0, 0, 0, 7)
        assert _write_marker(idx) == before
        assert idx.trial(rid, MISSING) is None
        one = idx.trial(rid, f"{RUN}-acc-A-s0")
        assert one is not None and one.score == 0.8 and one.best_attempt == 0.9
        assert one.trajectory == f"trials/{RUN}-acc-A-s0/trajectory.jsonl" and one.complete


def test_a_live_run_ingests_only_what_changed(index_url: str, run: Path) -> None:
    with index.open(index_url) as idx:
        idx.ingest(str(run))
        rid = idx.run_id(str(run))
        # the missing trial finishes
        (run / "trials" / MISSING / "results.json").write_text(
            json.dumps(trial("loss", "B", 1, score=1.8, steps=1))
        )
        finished = idx.ingest(str(run))
        assert (finished.added, finished.read, finished.unchanged) == (1, 1, 7)
        assert idx.trial(rid, MISSING) is not None
        # one result is rewritten (same size or not, its fingerprint changes)
        folder = run / "trials" / f"{RUN}-acc-A-s1"
        (folder / "results.json").write_text(json.dumps({**_results(folder), "score": 0.75}))
        rewritten = idx.ingest(str(run))
        assert (rewritten.updated, rewritten.read) == (1, 1)
        row = idx.trial(rid, f"{RUN}-acc-A-s1")
        assert row is not None and row.score == 0.75
        # one disappears
        shutil.rmtree(folder)
        gone = idx.ingest(str(run))
        assert gone.removed == 1 and idx.trial(rid, f"{RUN}-acc-A-s1") is None
        run_row = idx.run(rid)
        assert run_row is not None and run_row.finished_trials == 7


def test_the_store_layout_keeps_the_highest_attempt(index_url: str, tmp_path: Path) -> None:
    store_run = tmp_path / "store-run"
    first = store_run / "t1" / "attempt-0"
    first.mkdir(parents=True)
    (first / "results.json").write_text(
        json.dumps(trial("acc", "A", 0, trial="t1", exit_reason="infra_error", attempt=0))
    )
    with index.open(index_url) as idx:
        idx.ingest(str(store_run))
        rid = idx.run_id(str(store_run))
        second = store_run / "t1" / "attempt-1"
        second.mkdir()
        (second / "results.json").write_text(
            json.dumps(trial("acc", "A", 0, trial="t1", score=0.7, attempt=1))
        )
        assert idx.ingest(str(store_run)).updated == 1
        row = idx.trial(rid, "t1")
        assert row is not None and (row.attempt, row.score) == (1, 0.7)
        # the newer attempt's result turns unreadable: the older one stands again
        (second / "results.json").write_text("{")
        report = idx.ingest(str(store_run))
        assert any("t1/attempt-1/results.json: not readable JSON" in n for n in report.skipped)
        row = idx.trial(rid, "t1")
        assert row is not None and (row.attempt, row.exit_reason) == (0, "infra_error")


def test_hostile_results_are_bounded_named_and_never_run_as_sql(index_url: str, run: Path) -> None:
    evil_task = "acc'); DROP TABLE trials; --"
    evil_agent = 'A" OR 1=1 --'
    hostile = run / "trials" / "hostile"
    hostile.mkdir()
    (hostile / "results.json").write_text(
        json.dumps(
            {
                **trial(
                    "acc",
                    "A",
                    3,
                    trial="someone-else",
                    message="<script>alert(1)</script>" + "x" * 1_000_000,
                ),
                "task": evil_task,
                "agent": evil_agent,
            }
        )
    )
    broken = run / "trials" / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"format_version": 1, "trial": [')
    with index.open(index_url) as idx:
        report = idx.ingest(str(run))
        rid = idx.run_id(str(run))
        assert report.added == 8  # the tiny run's 7 trials and the hostile one
        assert any(n.startswith("skipped trials/broken/results.json") for n in report.skipped)
        assert any(
            "trials/hostile/results.json: it claims the trial 'someone-else'" in n
            for n in report.skipped
        )
        row = idx.trial(rid, "hostile")  # the path's id, not the file's
        assert row is not None and idx.trial(rid, "someone-else") is None
        assert row.task == evil_task and row.agent == evil_agent
        assert len(row.message) == schema.MESSAGE_LIMIT and not row.complete
        page = idx.trials(rid, task=evil_task, agent=evil_agent)
        assert [t.trial for t in page.rows] == ["hostile"]
        assert idx.trials(rid, agent="A' OR '1'='1").total == 0
        assert [r.run_id for r in idx.runs(task=evil_task)] == [rid]
        assert idx.trials(rid).total == 8  # the table is still there, every row in it


def test_pages_cover_every_trial_once_in_order(index_url: str, run: Path) -> None:
    with index.open(index_url) as idx:
        idx.ingest(str(run))
        rid = idx.run_id(str(run))
        seen, cursor = [], None
        while True:
            page = idx.trials(rid, cursor=cursor, limit=2)
            assert page.total == 7
            seen += [(t.task, t.agent, t.seed, t.trial) for t in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted(seen) and len(seen) == 7
        failed = idx.trials(rid, failure_class="agent")
        assert [t.trial for t in failed.rows] == [f"{RUN}-loss-A-s1"]
        assert idx.trials(rid, seed=1, agent="A").total == 2
        assert idx.trials(rid, exit_reason="infra_error").rows[0].attempt == 2
        with pytest.raises(ConfigError, match="cursor"):
            idx.trials(rid, cursor="not-a-cursor")
        facets = idx.facets(rid)
        assert facets["agent"] == [("A", 4), ("B", 3)]
        assert ("", 5) in facets["failure_class"]


def test_runs_and_history_answer_across_runs(index_url: str, tmp_path: Path) -> None:
    parent = tmp_path / "runs"
    write_tiny_run(parent / "one")
    write_tiny_run(parent / "two")
    later = parent / "two" / "trials" / f"{RUN}-acc-A-s0"
    (later / "results.json").write_text(
        json.dumps({**_results(later), "finished": "2026-12-01T10:00:00Z", "score": 0.95})
    )
    earlier = parent / "one" / "trials" / f"{RUN}-acc-A-s0"
    (earlier / "results.json").write_text(
        json.dumps({**_results(earlier), "finished": "2026-11-01T10:00:00+00:00"})
    )
    with index.open(index_url) as idx:
        report = idx.ingest(str(parent))  # a folder of runs: both in one call
        assert len(report.runs) == 2 and report.added == 14
        assert len(idx.runs(agent="A", task="acc")) == 2
        assert idx.runs(agent="nobody") == []
        points = idx.history("acc", agent="A", since="2026-10-01")
        assert [(p.finished, p.score) for p in points] == [
            ("2026-11-01T10:00:00+00:00", 0.8),
            ("2026-12-01T10:00:00Z", 0.95),
        ]
        assert len(idx.history("acc", agent="A", since="2026-11-15T00:00:00")) == 1
        # rebuild from one of them only: the index is what the store holds, nothing else
        rebuilt = idx.rebuild([str(parent / "one")])
        assert rebuilt.added == 7 and [r.source for r in idx.runs()] == [str(parent / "one")]


def test_an_index_of_another_version_is_refused_until_rebuilt(index_url: str, run: Path) -> None:
    with index.open(index_url) as idx:
        idx.ingest(str(run))
        with idx.engine.begin() as connection:
            connection.execute(sa.update(schema.meta).values(value="0"))
    with pytest.raises(ConfigError, match=r"schema version 0.*kubegym index rebuild"):
        index.open(index_url)
    with index.open(index_url, any_version=True) as idx:
        assert idx.rebuild([str(run)]).added == 7
    with index.open(index_url) as idx:
        assert len(idx.runs()) == 1


def test_urls() -> None:
    assert index.engines.url_for("/tmp/x.sqlite").drivername == "sqlite"
    assert index.engines.url_for("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert index.engines.url_for("postgresql+psycopg://u@h/db").database == "db"
    with pytest.raises(ConfigError, match="'mysql' is not a database the index runs on"):
        index.engines.url_for("mysql://u@h/db")
    with pytest.raises(ConfigError, match="not supported"):
        index.engines.url_for("postgresql+psycopg2://u@h/db")
    with pytest.raises(ConfigError, match="not memory"):
        index.engines.url_for("sqlite://")


def test_concurrent_ingests_and_reads(index_url: str, tmp_path: Path) -> None:
    """Writers wait for each other (SQLite: BEGIN IMMEDIATE, WAL); readers never fail meanwhile."""
    runs = [write_tiny_run(tmp_path / "runs" / f"run-{n}") for n in range(3)]
    with index.open(index_url) as setup:
        setup.ingest(str(runs[0]))
    handles = [index.open(index_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            jobs = [
                pool.submit(handles[0].ingest, str(runs[1])),
                pool.submit(handles[1].ingest, str(runs[2])),
                pool.submit(handles[2].ingest, str(runs[2])),  # the same run twice at once
                pool.submit(lambda: [handles[3].runs() for _ in range(20)]),
            ]
            for job in jobs:
                job.result(timeout=120)
        found = handles[3].runs()
        assert len(found) == 3 and all(r.finished_trials == 7 for r in found)
        assert handles[3].trials(handles[3].run_id(str(runs[2]))).total == 7
    finally:
        for handle in handles:
            handle.close()


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the index at postgresql"):
        index.open(f"postgresql://nobody:secret@/db?host={tmp_path}&port=1")
    try:
        index.open(f"postgresql://nobody:secret@/db?host={tmp_path}&port=1")
    except ConfigError as exc:
        assert "secret" not in str(exc)  # the password is never shown
