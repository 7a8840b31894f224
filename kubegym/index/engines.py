"""Which database an index lives in: the URL rules, and the engine set up for it.

`url_for` turns what a user gives (nothing, a path, ``sqlite:///…``,
``postgresql://…``) into a SQLAlchemy URL; `engine_for` builds the engine:
SQLite in WAL mode (a viewer reads while an ingest writes) with a busy timeout,
PostgreSQL through psycopg 3. Called by `kubegym.index.results_index.open`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kubegym.errors import ConfigError

#: The environment variable naming the default index (a path or a URL).
ENV: Final = "KUBEGYM_INDEX"
#: How long to wait for a PostgreSQL server to answer a connection (seconds).
CONNECT_TIMEOUT_S: Final = 10
#: A SQLite writer waits this long for another writer before failing (milliseconds).
BUSY_TIMEOUT_MS: Final = 30_000

_HINT = "give a path, sqlite:///PATH, or postgresql://USER@HOST/DB"


def default_path() -> Path:
    """Where the index lives when nothing says otherwise: ``~/.cache/kubegym/index.sqlite``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kubegym" / "index.sqlite"


def url_for(url: str | None) -> sa.URL:
    """The SQLAlchemy URL of an index: `url`, else ``$KUBEGYM_INDEX``, else `default_path`.

    A plain path means a SQLite file; ``postgresql://`` and ``postgres://`` mean
    psycopg 3.

    Raises:
        ConfigError: a URL of another database, or one that does not parse.
    """
    given = url or os.environ.get(ENV) or str(default_path())
    if "://" not in given:
        return sa.URL.create("sqlite", database=str(Path(given).expanduser().resolve()))
    try:
        parsed = make_url(given)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not a database URL: {exc}", field="index", hint=_HINT) from exc
    # Split by hand: SQLAlchemy's own getters load the dialect, and "postgres" has none.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigError(
                f"SQLite driver {parsed.drivername!r} is not supported", field="index"
            )
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("an index needs a SQLite file, not memory", field="index", hint=_HINT)
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ConfigError(
                f"PostgreSQL driver {parsed.drivername!r} is not supported",
                field="index",
                hint="use postgresql:// or postgresql+psycopg:// (psycopg 3)",
            )
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigError(f"{backend!r} is not a database the index runs on", field="index", hint=_HINT)


def shown(url: sa.URL) -> str:
    """The URL for messages, password hidden."""
    return url.render_as_string(hide_password=True)


def engine_for(url: sa.URL) -> sa.Engine:
    """An engine for the index at `url` (its SQLite folder created).

    Raises:
        ConfigError: psycopg is not installed for a PostgreSQL URL.
    """
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        import psycopg  # noqa: F401  (only to say clearly when it is missing)
    except ImportError as exc:
        raise ConfigError(
            f"cannot open {shown(url)}: PostgreSQL needs psycopg ({exc})",
            hint="pip install 'kubegym[postgres]'",
        ) from exc
    # A bounded connect: `kubegym report` tries the default index on its way, and an
    # unreachable server must cost seconds, not hang the report.
    return sa.create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )


#: The execution option a writing transaction sets (`kubegym.index.ingest`).
WRITE: Final = "kubegym_write"


@contextlib.contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a writing transaction (committed at the end, rolled back on an error)."""
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        yield connection


def _sqlite_begin(connection: sa.Connection) -> None:
    # pysqlite's own BEGIN is deferred: a transaction that reads, then writes, fails with
    # "database is locked" when another writer got in between, whatever the busy timeout.
    # A writer takes the lock up front (IMMEDIATE) and waits its turn; readers never do.
    immediate = connection.get_execution_options().get(WRITE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # pysqlite's transaction handling off: `_sqlite_begin` starts every transaction.
    connection.isolation_level = None
    # WAL: readers (the viewer) never wait for a writer (an ingest), and a commit is
    # one append. synchronous=NORMAL is durable across application crashes in WAL
    # mode, which is all a cache rebuilt from the store needs.
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


__all__ = ["ENV", "WRITE", "default_path", "engine_for", "shown", "url_for", "writing"]
