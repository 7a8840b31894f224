"""`kubegym report SOURCE`: a finished run's tables and plots, for reading or for a paper.

Registered lazily by `kubegym.cli`; opens the run (a local folder or an S3
URI), hands it to `kubegym.report`, prints the markdown tables to stdout and
writes the report files; where they went is said on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import structlog

from kubegym import errors
from kubegym.cli import common

if TYPE_CHECKING:
    from kubegym.index import ResultsIndex
    from kubegym.index.sources import RunSource


@click.command("report", context_settings=common.CONTEXT)
@click.argument("source")
@click.option(
    "--out",
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Folder for the report files [default: SOURCE/report for a folder, ./report-RUN for S3].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="md: report.md and PNGs; html: one self-contained report.html; json: report.json.",
)
@click.option(
    "--index",
    "index_url",
    metavar="URL",
    help="Results index to update with the run and read its trials from (a path, "
    "sqlite:///PATH or postgresql://USER@HOST/DB) [default: the default index "
    "($KUBEGYM_INDEX or ~/.cache/kubegym/index.sqlite), read only when it already holds "
    "the run as it is now].",
)
def report(source: str, out: Path | None, fmt: str, index_url: str | None) -> None:
    """Report on the finished run at SOURCE: leaderboard, scores, costs, failures, tools, plots.

    \b
    SOURCE is the folder `kubegym run --out` wrote, or the S3 URI of a run
    (s3://bucket/prefix/run). The report holds: the leaderboard (AUP of the
    best attempt and best submission with bootstrap CIs over seeds, mean rank;
    the same numbers as the run's leaderboard.json), the raw score of each
    agent on each task with the tasks' baseline row, cost and tokens per
    agent, the cost-versus-AUP Pareto front, how trials ended (exit reasons,
    infrastructure failures, retries), which tools the agents used, and the
    performance-profile and cost-versus-AUP plots. The tables are printed as
    markdown.

    \b
    With --index URL the run is first ingested into that results index and
    its trials are read from there; without it, the default index is read if
    it already holds the run as it is now. The report is the same either way.

    \b
    Examples:
      kubegym report out/quickstart                   # report.md + PNGs in out/quickstart/report
      kubegym report out/quickstart --format html     # one self-contained report.html
      kubegym report s3://bench/runs/quickstart --format json --out report/
    """
    from kubegym import report as reports
    from kubegym.index import sources

    run_source = sources.open_source(source)
    results = _index(run_source, index_url)
    try:
        run = reports.load_run(run_source, results)
    finally:
        if results is not None:
            results.close()
    document = reports.build_report(run)
    if out is None:
        if isinstance(run_source, sources.LocalRunFolder):
            out = run_source.folder / "report"
        else:
            out = Path(f"report-{run.run}")
    path = reports.write_report(document, out, fmt)  # type: ignore[arg-type]
    click.echo(reports.markdown(document, with_figures=False))
    click.echo(f"report written to {path}", err=True)


def _index(run_source: RunSource, url: str | None) -> ResultsIndex | None:
    """The index the report reads: `url`'s, brought up to date; else the default one if it exists.

    The report is the same with or without it; the index only spares reading every
    results.json. A default index that cannot be opened is passed over (it is a cache).
    """
    from kubegym import index

    if url is not None:
        results = index.open(url)
        results.ingest(run_source)
        return results
    try:
        return index.open_existing()
    except errors.KubegymError as exc:
        structlog.get_logger(__name__).debug("index_unusable", error=str(exc))
        return None


__all__ = ["report"]
