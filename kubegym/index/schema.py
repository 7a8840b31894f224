"""The results index's tables (SQLAlchemy Core), their version, and the one upsert both databases run.

Three tables and a version row:

- ``runs``: one row per run (its rollup: counts, agents, tasks, spend);
- ``trials``: one row per finished trial (the result the report reads, bounded
  in size, plus where its trajectory is);
- ``files``: every results.json, leaderboard.json and status.json seen, with the
  fingerprint it had (size and mtime, or ETag), so a second ingest reads only
  what changed, and the note a skipped file got;
- ``meta``: ``schema_version``. An index of another version is refused with a
  message to rebuild it (the store is the truth; the index is a cache of it).

Names a keyset page is ordered by use the binary collation on both databases
(SQLite's default; PostgreSQL's ``"C"``), so a cursor means the same thing on
either. Used by `kubegym.index.results_index`, `ingest` and `queries`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

SCHEMA_VERSION: Final = 1
"""Raised whenever a table or column changes meaning; an index of another version is rebuilt."""

#: How much of a trial's message the index keeps (the whole file stays in the store).
MESSAGE_LIMIT: Final = 4000
#: How long a name (task, agent, exit reason) may be in the index.
NAME_LIMIT: Final = 256
#: The largest audit record kept; a larger one is left for the reader to take from the store.
AUDIT_LIMIT: Final = 64 * 1024


def _name() -> sa.types.TypeEngine[str]:
    # Binary order on both databases: keyset cursors and facets sort the same way.
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", _name(), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("started", sa.Text, nullable=True),
    sa.Column("finished", sa.Text, nullable=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("trials", sa.Integer, nullable=False),
    sa.Column("finished_trials", sa.Integer, nullable=False),
    sa.Column("failed_trials", sa.Integer, nullable=False),
    sa.Column("agents", sa.Text, nullable=False),
    sa.Column("tasks", sa.Text, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("updated", sa.Text, nullable=False),
    sa.Index("ix_runs_name", "name"),
    sa.Index("ix_runs_started_at", "started_at"),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("trial", _name(), primary_key=True),
    sa.Column("task", _name(), nullable=False),
    sa.Column("agent", _name(), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("exit_reason", _name(), nullable=False),
    sa.Column("failure_class", _name(), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("primary_metric", sa.Text, nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("best_attempt", sa.Float, nullable=True),
    sa.Column("last_score", sa.Float, nullable=True),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=True),
    sa.Column("validations", sa.Integer, nullable=True),
    sa.Column("started", sa.Text, nullable=False),
    sa.Column("finished", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("trajectory", sa.Text, nullable=True),
    sa.Column("audit", sa.Text, nullable=True),
    # False when something was cut to fit (a huge message, name or audit record): a
    # reader that needs the exact result (the report) reads that one file from the store.
    sa.Column("complete", sa.Boolean, nullable=False),
    # The keyset page's order: task, agent, seed, trial within a run.
    sa.Index("ix_trials_page", "run_id", "task", "agent", "seed", "trial"),
    sa.Index("ix_trials_exit_reason", "run_id", "exit_reason"),
    sa.Index("ix_trials_failure_class", "run_id", "failure_class"),
    sa.Index("ix_trials_history", "task", "agent", "finished_at"),
    sa.Index("ix_trials_agent", "agent", "run_id"),
)

files = sa.Table(
    "files",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column(
        "path", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), primary_key=True
    ),
    sa.Column("fingerprint", sa.Text, nullable=False),
    # For a results.json: the trial its folder names, and its attempt when it was read.
    sa.Column("trial", sa.Text, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=True),
    # Why it was skipped, or what was doubtful in it (notes joined by newlines).
    sa.Column("note", sa.Text, nullable=True),
)


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch: int = 500,
) -> None:
    """Insert `rows`, replacing those whose primary key exists: the same statement twice is a no-op.

    Uses the database's own ``INSERT … ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL
    spell it alike), with bound parameters only.
    """
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    insert = (
        postgresql.insert(table)
        if connection.dialect.name == "postgresql"
        else sqlite.insert(table)
    )
    statement = insert.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    for start in range(0, len(rows), batch):
        connection.execute(statement, list(rows[start : start + batch]))


__all__ = [
    "AUDIT_LIMIT",
    "MESSAGE_LIMIT",
    "NAME_LIMIT",
    "SCHEMA_VERSION",
    "files",
    "meta",
    "metadata",
    "runs",
    "trials",
    "upsert",
]
