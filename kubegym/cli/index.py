"""`kubegym index`: fill the results index from runs, and ask it across runs.

Registered lazily by `kubegym.cli`; the work is `kubegym.index`'s. Output is a
plain table for people, or JSON lines' worth of JSON with ``--json``; names
from results files are printed as data, never as markup.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import click

from kubegym.cli import common

if TYPE_CHECKING:
    from kubegym.index import IngestReport, ResultsIndex

_INDEX = click.option(
    "--index",
    "index_url",
    metavar="URL",
    help="The index: a path, sqlite:///PATH or postgresql://USER@HOST/DB "
    "[default: $KUBEGYM_INDEX, else ~/.cache/kubegym/index.sqlite].",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _open(url: str | None, **options: Any) -> ResultsIndex:
    from kubegym import index

    return index.open(url, **options)


@click.group(context_settings=common.CONTEXT)
def index() -> None:
    """Index runs into a database and ask it across runs (SQLite by default, or PostgreSQL).

    The index is a copy of what the store holds: `kubegym index rebuild` fills
    it again from the store at any time. `kubegym view` and `kubegym report
    --index` read it.
    """


@index.command("ingest")
@click.argument("sources", nargs=-1, required=True)
@_INDEX
@_JSON
def ingest(sources: tuple[str, ...], index_url: str | None, as_json: bool) -> None:
    """Add or update the runs at SOURCES (run folders, s3:// runs, or folders/prefixes of runs).

    Only what changed since the last ingest is read; an unchanged run is not written.

    \b
    Examples:
      kubegym index ingest out/quickstart
      kubegym index ingest s3://bench/runs --index postgresql://kubegym@db/kubegym
    """
    with _open(index_url) as idx:
        for source in sources:
            _say(idx.ingest(source), as_json)


@index.command("rebuild")
@click.argument("sources", nargs=-1, required=True)
@_INDEX
@_JSON
def rebuild(sources: tuple[str, ...], index_url: str | None, as_json: bool) -> None:
    """Empty the index and fill it again from SOURCES (the store is the truth).

    Also what to do with an index of an older kubegym (another schema version).

    \b
    Examples:
      kubegym index rebuild s3://bench/runs
    """
    with _open(index_url, any_version=True) as idx:
        _say(idx.rebuild(sources), as_json)


@index.command("runs")
@click.option("--agent", help="Only runs with a trial of this agent.")
@click.option("--task", help="Only runs with a trial of this task.")
@click.option("--since", metavar="TIME", help="Only runs started since (ISO 8601: 2026-12-01).")
@_INDEX
@_JSON
def runs(
    agent: str | None, task: str | None, since: str | None, index_url: str | None, as_json: bool
) -> None:
    """The indexed runs, newest first.

    \b
    Examples:
      kubegym index runs --agent gpt4o --task house-price --since 2026-12-01
    """
    with _open(index_url) as idx:
        found = idx.runs(agent=agent, task=task, since=since)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in found], indent=2))
        return
    _table(
        ["run", "status", "started", "trials", "finished", "failed", "cost_usd", "id", "source"],
        [
            [
                r.name,
                r.status or "",
                r.started or "",
                r.trials,
                r.finished_trials,
                r.failed_trials,
                f"{r.cost_usd:.2f}",
                r.run_id,
                r.source,
            ]
            for r in found
        ],
    )


@index.command("history")
@click.argument("task")
@click.option("--agent", help="Only this agent's trials.")
@click.option("--since", metavar="TIME", help="Only trials finished since (ISO 8601).")
@_INDEX
@_JSON
def history(
    task: str, agent: str | None, since: str | None, index_url: str | None, as_json: bool
) -> None:
    """TASK's scores over every indexed run, oldest first.

    \b
    Examples:
      kubegym index history house-price --agent gpt4o
    """
    with _open(index_url) as idx:
        points = idx.history(task, agent=agent, since=since)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(p) for p in points], indent=2))
        return
    _table(
        ["finished", "run", "agent", "seed", "score", "best_attempt", "exit_reason", "trial"],
        [
            [p.finished, p.run, p.agent, p.seed, p.score, p.best_attempt, p.exit_reason, p.trial]
            for p in points
        ],
    )


def _say(report: IngestReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in report.runs], indent=2))
        return
    for run in report.runs:
        click.echo(
            f"{run.name} ({run.source}): {run.added} added, {run.updated} updated, "
            f"{run.removed} removed, {run.unchanged} unchanged, {len(run.skipped)} notes"
        )
        for note in run.skipped:
            click.echo(f"  note: {note}", err=True)


def _table(header: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table (values shown with repr-free str, newlines escaped)."""
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A name from a results file must not break the table or the terminal.
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\x1b", "\\e")


__all__ = ["index"]
