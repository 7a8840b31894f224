"""kubegym.index: the results index, runs and trials in a database, so questions across runs are queries.

Filled from the store (a run folder, an ``s3://`` run, or a prefix holding many
runs) and rebuilt from it at any time: the store is the truth, the index a
fast copy. SQLite by default (one file, WAL mode, nothing to start), PostgreSQL
when configured. Read by the viewer (`kubegym.viewer`), `kubegym report` and
``kubegym index``::

    from kubegym import index
    idx = index.open()                       # $KUBEGYM_INDEX or ~/.cache/kubegym/index.sqlite
    idx.ingest("out/quickstart")             # idempotent, incremental
    page = idx.trials(idx.run_id("out/quickstart"), agent="gpt", limit=50)

Modules: `engines` (URLs), `schema` (tables), `sources` (reading runs),
`records` (reading results.json), `ingest`, `queries`, `rows` (the answers),
`results_index` (the object tying them together).
"""

from __future__ import annotations

from kubegym.index.engines import default_path
from kubegym.index.ingest import run_id
from kubegym.index.results_index import ResultsIndex, open, open_existing
from kubegym.index.rows import IngestReport, RunIngest, RunRow, ScorePoint, TrialPage, TrialRow

__all__ = [
    "IngestReport",
    "ResultsIndex",
    "RunIngest",
    "RunRow",
    "ScorePoint",
    "TrialPage",
    "TrialRow",
    "default_path",
    "open",
    "open_existing",
    "run_id",
]
