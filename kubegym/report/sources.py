"""Where a finished run's files are read from: the names `kubegym report` has always used.

The run sources moved down to `kubegym.index.sources` (the results index reads runs
the same way and sits below the report); this module keeps the report's names.
"""

from __future__ import annotations

from kubegym.index.sources import (
    ATTEMPT_FOLDER,
    S3_SCHEME,
    LocalRunFolder,
    PrefixedRunSource,
    RunSource,
    StoreRunSource,
    open_source,
    split_runs,
    trial_folders,
    trial_of,
)

__all__ = [
    "ATTEMPT_FOLDER",
    "S3_SCHEME",
    "LocalRunFolder",
    "PrefixedRunSource",
    "RunSource",
    "StoreRunSource",
    "open_source",
    "split_runs",
    "trial_folders",
    "trial_of",
]
