"""kubegym.report: a finished run's tables and plots, as markdown, one HTML file, or JSON.

`kubegym report` (kubegym/cli/report.py) calls these in order: open the run
(`sources`: a local folder, or S3 through `kubegym.store`), load it into
DataFrames (`loading`), lay out the report (`sections`, from `tables` and
`plots`) and render it (`render`). The scoring is `kubegym.scoring`'s, the
same the local runner used for the run's leaderboard.json.
"""

from __future__ import annotations

from kubegym.index.sources import LocalRunFolder, RunSource, open_source
from kubegym.report.loading import RunData, load_run
from kubegym.report.render import FORMATS, Format, markdown, write_report
from kubegym.report.sections import Figure, Report, Table, build_report

__all__ = [
    "FORMATS",
    "Figure",
    "Format",
    "LocalRunFolder",
    "Report",
    "RunData",
    "RunSource",
    "Table",
    "build_report",
    "load_run",
    "markdown",
    "open_source",
    "write_report",
]
