"""`kubegym report SOURCE`: a finished run's tables and plots, for reading or for a paper.

Registered lazily by `kubegym.cli`; opens the run (a local folder or an S3
URI), hands it to `kubegym.report`, prints the markdown tables to stdout and
writes the report files; where they went is said on stderr.
"""

from __future__ import annotations

from pathlib import Path

import click

from kubegym.cli import common


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
def report(source: str, out: Path | None, fmt: str) -> None:
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
    Examples:
      kubegym report out/quickstart                   # report.md + PNGs in out/quickstart/report
      kubegym report out/quickstart --format html     # one self-contained report.html
      kubegym report s3://bench/runs/quickstart --format json --out report/
    """
    from kubegym import report as reports
    from kubegym.report import sources

    run_source = sources.open_source(source)
    run = reports.load_run(run_source)
    document = reports.build_report(run)
    if out is None:
        if isinstance(run_source, sources.LocalRunFolder):
            out = run_source.folder / "report"
        else:
            out = Path(f"report-{run.run}")
    path = reports.write_report(document, out, fmt)  # type: ignore[arg-type]
    click.echo(reports.markdown(document, with_figures=False))
    click.echo(f"report written to {path}", err=True)


__all__ = ["report"]
