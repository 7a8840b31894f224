"""`ResultsIndex`: one open results index, the object the viewer, the report and ``kubegym index`` hold.

`open` picks the database (`kubegym.index.engines`), creates the schema on
first use and refuses an index of another schema version (rebuild it: the
store is the truth). Ingesting is `kubegym.index.ingest`'s; questions are
`kubegym.index.queries`'. `trials_for` hands the report a run's trial records
when the index holds that run exactly as its source has it now.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from kubegym.errors import ConfigError
from kubegym.index import engines, ingest, queries, records, rows, schema, sources


class ResultsIndex:
    """The results index in one database.

    Args:
        engine: its database (`open` builds it).
    """

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @property
    def url(self) -> str:
        """Where the index is (password hidden)."""
        return engines.shown(self.engine.url)

    def close(self) -> None:
        """Let go of the database's connections."""
        self.engine.dispose()

    def __enter__(self) -> ResultsIndex:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Filling it.

    def ingest(self, source: str | sources.RunSource) -> rows.IngestReport:
        """Index the run at `source`, or every run under it (a folder or prefix of runs).

        Idempotent and incremental: unchanged results are not read again, and an
        unchanged run writes nothing.

        Raises:
            ConfigError: the source does not exist or holds no run.
        """
        opened = sources.open_source(source) if isinstance(source, str) else source
        report = rows.IngestReport()
        for run in sources.split_runs(opened):
            report.runs.append(ingest.ingest_run(self.engine, run))
        return report

    def rebuild(self, sources_: Iterable[str | sources.RunSource]) -> rows.IngestReport:
        """Empty the index and fill it again from `sources_` (the store is the truth).

        Every source is opened first, so a wrong one leaves the index as it was.

        Raises:
            ConfigError: a source does not exist.
        """
        opened = [sources.open_source(s) if isinstance(s, str) else s for s in sources_]
        with engines.writing(self.engine) as connection:
            schema.metadata.drop_all(connection)
            _create(connection)
        report = rows.IngestReport()
        for source in opened:
            report.runs.extend(self.ingest(source).runs)
        return report

    # Asking it.

    def runs(
        self,
        agent: str | None = None,
        task: str | None = None,
        since: dt.datetime | str | float | None = None,
        *,
        name: str | None = None,
    ) -> list[rows.RunRow]:
        """Runs, newest first: those with a trial of `agent` and/or `task`, started since `since`."""
        with self.engine.connect() as connection:
            return queries.runs(connection, agent=agent, task=task, since=since, name=name)

    def run(self, run_id: str) -> rows.RunRow | None:
        """One run by id."""
        with self.engine.connect() as connection:
            return queries.run(connection, run_id)

    def trials(
        self,
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
        """One page of a run's trials (keyset paging: pass the page's ``next_cursor`` on)."""
        with self.engine.connect() as connection:
            return queries.trials(
                connection,
                run_id,
                task=task,
                agent=agent,
                seed=seed,
                exit_reason=exit_reason,
                failure_class=failure_class,
                cursor=cursor,
                limit=limit,
            )

    def trial(self, run_id: str, trial: str) -> rows.TrialRow | None:
        """One trial of a run."""
        with self.engine.connect() as connection:
            return queries.trial(connection, run_id, trial)

    def facets(self, run_id: str) -> dict[str, list[tuple[str, int]]]:
        """Each trial filter's values in the run, with counts."""
        with self.engine.connect() as connection:
            return queries.facets(connection, run_id)

    def history(
        self,
        task: str,
        agent: str | None = None,
        since: dt.datetime | str | float | None = None,
    ) -> list[rows.ScorePoint]:
        """A task's scores over every indexed run, oldest first."""
        with self.engine.connect() as connection:
            return queries.history(connection, task, agent=agent, since=since)

    def run_id(self, source: str | sources.RunSource) -> str:
        """The id the run at `source` has (or would have) in the index."""
        opened = sources.open_source(source) if isinstance(source, str) else source
        return ingest.run_id(opened.location)

    # For the report.

    def trials_for(self, source: sources.RunSource, files: list[str]) -> records.Trials | None:
        """The run's trial records and notes, as `records.load` would read them from `source`.

        None unless the index holds this run exactly as `files` (its listing) and
        the files' fingerprints show it now. A trial whose row was cut to fit is
        read from the source.
        """
        paths = records.results_paths(files)
        tags = source.fingerprints(paths)
        rid = ingest.run_id(source.location)
        f, t = schema.files.c, schema.trials.c
        with self.engine.connect() as connection:
            known = {
                r.path: (r.fingerprint, r.note)
                for r in connection.execute(
                    sa.select(f.path, f.fingerprint, f.note).where(
                        f.run_id == rid, f.trial.is_not(None)
                    )
                )
            }
            if len(tags) != len(paths) or {p: fp for p, (fp, _) in known.items()} != tags:
                return None
            found = list(
                connection.execute(sa.select(schema.trials).where(t.run_id == rid)).mappings()
            )
        loaded = records.Trials()
        for path in paths:
            note = known[path][1]
            if note:
                loaded.notes.extend(note.split("\n"))
        for row in found:
            if row["complete"] and row["audit"] is not None:
                record: records.TrialRecord | None = _record(row)
            else:
                record = records.read(source, f"{row['folder']}/results.json").record
            if record is None:  # changed under us: let the caller read it all
                return None
            loaded.records[record.trial] = record
        return loaded


def _record(row: sa.RowMapping) -> records.TrialRecord:
    """The trial record a complete trials row holds."""
    values = tuple(row[c] for c in records.RESULT_COLUMNS)
    return records.TrialRecord(
        trial=row["trial"],
        attempt=row["attempt"],
        folder=row["folder"],
        values=(*values, row["last_score"]),
        audit=json.loads(row["audit"]),
        validations=row["validations"],
        started=row["started"],
        finished=row["finished"],
    )


def open(  # the contract's name: `index.open(url)`
    url: str | None = None, *, create: bool = True, any_version: bool = False
) -> ResultsIndex:
    """The results index at `url` (None: ``$KUBEGYM_INDEX``, else ``~/.cache/kubegym/index.sqlite``).

    Args:
        url: a path or ``sqlite:///PATH`` (a SQLite file), or ``postgresql://USER@HOST/DB``.
        create: make the tables when the database has none (else ConfigError).
        any_version: open an index of another schema version too (to `rebuild` it).

    Raises:
        ConfigError: a URL no index runs on, a database that cannot be reached, or an
            index of another schema version (rebuild it).
    """
    database = engines.url_for(url)
    engine = engines.engine_for(database)
    try:
        _prepare(engine, create=create, any_version=any_version)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot open the index at {engines.shown(database)}: {exc.orig or exc}",
            field="index",
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return ResultsIndex(engine)


def open_existing(url: str | None = None) -> ResultsIndex | None:
    """The SQLite index at `url` (default: the default index) when its file exists, else None.

    What a reader that only hopes for an index calls (``kubegym report`` without
    ``--index``): it never creates one. A PostgreSQL URL is opened as `open` does.
    """
    database = engines.url_for(url)
    if database.get_backend_name() == "sqlite":
        assert database.database is not None
        if not Path(database.database).is_file():
            return None
    return open(url, create=False)


def _prepare(engine: sa.Engine, *, create: bool, any_version: bool) -> None:
    with engine.connect() as connection:
        has_meta = sa.inspect(connection).has_table(schema.meta.name)
        if has_meta:
            version = connection.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).scalar()
            if version != str(schema.SCHEMA_VERSION) and not any_version:
                raise ConfigError(
                    f"the index at {engines.shown(engine.url)} has schema version {version}; "
                    f"this kubegym writes version {schema.SCHEMA_VERSION}",
                    field="index",
                    hint="run `kubegym index rebuild SOURCE...` to fill it again from the store",
                )
            return
    if not create:
        raise ConfigError(f"{engines.shown(engine.url)} holds no results index", field="index")
    with engines.writing(engine) as connection:
        _create(connection)


def _create(connection: sa.Connection) -> None:
    schema.metadata.create_all(connection, checkfirst=True)
    schema.upsert(
        connection, schema.meta, [{"key": "schema_version", "value": str(schema.SCHEMA_VERSION)}]
    )


__all__ = ["ResultsIndex", "open", "open_existing"]
