"""`kubegym view`: a local web app for runs, their trials and each trial's steps.

The server (`kubegym.viewer.app`, Starlette under uvicorn) answers a small JSON
API and serves the page, plain static files under ``static/`` (vanilla JS
modules and CSS, no build step, no third-party script). Every answer is
bounded: trials come in keyset pages (`kubegym.viewer.catalog`), steps in pages
read through a byte-offset index of ``trajectory.jsonl`` (`kubegym.viewer.steps`),
big fields truncated with a separate fetch for the rest. A store prefix
(``s3://``, or a cluster run's: `cluster_runs`) is read through the results
index and a trajectory cache (`store_catalog`, `trajectory_cache`). Called by
`kubegym.cli.view`; the chart's viewer Deployment runs the same command.
"""

from __future__ import annotations

from kubegym.viewer.app import create_app
from kubegym.viewer.catalog import Catalog, open_catalog

__all__ = ["Catalog", "create_app", "open_catalog"]
