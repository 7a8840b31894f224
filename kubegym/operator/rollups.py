"""A cluster run's rollups in the store: results.csv, leaderboard.json, status.json, images.json.

Once every trial has finished, the controller writes the run's rollup files:
`kubegym.rollups`'s texts, from the Trials as `TrialResult`s
(`kubegym.operator.results`), the same computation the local runner uses, so
`kubegym report s3://bucket/prefix/run` reads a cluster run exactly as it reads
a local one.

The agent pods upload their own trials' artifacts (the operator never touches a
sandbox or holds a model key); the operator writes the rollups with its own
credentials (the environment's, as the Helm chart sets them), never with a run's
Secret: that keeps its RBAC free of `get secrets`. images.json holds each
trial's image digests from its status (the kubelet's word), for `kubegym audit`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from kubegym import rollups, store
from kubegym.api import runs as runs_api
from kubegym.api import tasks
from kubegym.operator import results
from kubegym.operator.runs import RunView
from kubegym.operator.trials import TrialView


def write(
    store_spec: runs_api.Store,
    run: RunView,
    status: runs_api.BenchmarkRunStatus,
    chosen: Sequence[tasks.Task],
    members: Sequence[TrialView],
) -> list[str]:
    """Write the run's rollups (`kubegym.rollups.files`) to its store; return the keys written.

    Raises:
        KubegymError: the store refused or stayed unreachable (the caller retries later).
    """
    target = store.from_spec(store_spec)
    agents = [a.name for a in run.spec.agents]
    texts = rollups.files(
        run.name,
        chosen,
        agents,
        results.results_of(chosen, members),
        status,
        best_submission=run.spec.best_submission,
        images=True,
        profile=run.profile_label,
        designs=rollups.designs_of(run.spec.agents),
    )
    written = []
    with tempfile.TemporaryDirectory(prefix="kubegym-rollups-") as tmp:
        for name, text in texts.items():
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            key = store.keys.run_key(run.name, name)
            target.put_file(key, path, policy="newer")
            written.append(key)
    return written
