"""A finished run's rollups in the store: results.csv, leaderboard.json, status.json, images.json.

The agent pods upload their own trials' artifacts (the operator never touches a
sandbox or holds a model key); once every trial has finished, the operator
writes the run's rollups next to them, in the same shapes the local runner
writes, so `kubegym report s3://bucket/prefix/run` reads a cluster run exactly
as it reads a local one. The operator writes with its own credentials (the
environment's, as the Helm chart sets them), never with a run's Secret: that
keeps its RBAC free of `get secrets`. images.json (`kubegym.api.trials.ImagesRollup`)
holds each trial's image digests from its status (the kubelet's word), for
`kubegym audit`; a local run has no images, hence no such file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kubegym.api import images as images_api
from kubegym.api import runs as runs_api
from kubegym.api import tasks
from kubegym.api import trials as trials_api
from kubegym.operator.runs import RunView
from kubegym.operator.trials import TrialView
from kubegym.scoring import columns
from kubegym.scoring import leaderboard as board_mod

RESULTS_CSV = "results.csv"
LEADERBOARD = "leaderboard.json"
STATUS = "status.json"
IMAGES = images_api.IMAGES_JSON


def trial_rows(chosen: Sequence[tasks.Task], members: Sequence[TrialView]) -> list[dict[str, Any]]:
    """One row per finished trial, in plan order (task, agent, seed)."""
    by_task = {t.name: t for t in chosen}
    order = {t.name: i for i, t in enumerate(chosen)}
    rows: list[dict[str, Any]] = []
    for t in members:
        status = t.status
        if not status.finished or t.spec.task not in by_task:
            continue
        metric = by_task[t.spec.task].spec.evaluation.metric()
        attempts = [
            s.test_metrics[metric.name]
            for s in status.scores
            if s.test_metrics and metric.name in s.test_metrics
        ]
        best = None
        if attempts:
            best = max(attempts) if metric.direction == "max" else min(attempts)
        rows.append(
            {
                "trial": t.name,
                "task": t.spec.task,
                "agent": t.spec.agent,
                "seed": t.spec.seed,
                "attempt": status.attempt,
                "phase": status.phase,
                "exit_reason": status.exit_reason,
                "failure_class": status.failure_class,
                "primary_metric": metric.name,
                "direction": metric.direction,
                "score": status.score,
                "best_attempt": best,
                "steps": status.steps,
                # validate calls the evaluator scored and refused (its record's counts)
                "validations": status.validations,
                "validations_refused": status.validations_refused,
                "prompt_tokens": status.prompt_tokens,
                "completion_tokens": status.tokens - status.prompt_tokens,
                "cost_usd": status.cost_usd,
                "seconds": _seconds(status.start_time, status.finish_time),
                # not a results.csv column: images.json's, one list per trial
                "images": list(status.images),
            }
        )
    rows.sort(key=lambda r: (order[str(r["task"])], str(r["agent"]), int(r["seed"])))
    return rows


def leaderboard(
    run: str, chosen: Sequence[tasks.Task], rows: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """leaderboard.json, computed exactly as the local runner computes it."""
    references = pd.DataFrame(
        {
            columns.TASK: [t.name for t in chosen],
            columns.DIRECTION: [t.spec.evaluation.metric().direction for t in chosen],
            board_mod.BASELINE_SCORE: [t.spec.baseline_score() for t in chosen],
        }
    )
    finished = pd.DataFrame(
        [
            {
                columns.TASK: r["task"],
                columns.DIRECTION: r["direction"],
                board_mod.AGENT: r["agent"],
                columns.SEED: r["seed"],
                columns.BEST_ATTEMPT: r["best_attempt"],
                board_mod.SCORE: r["score"],
                board_mod.FAILURE_CLASS: r["failure_class"],
            }
            for r in rows
        ],
        columns=list(board_mod.TRIAL_COLUMNS),
    )
    tidy = board_mod.tidy_trials(references, finished)
    return board_mod.compute_leaderboard(tidy).to_json(run)


def write(
    store_spec: runs_api.Store,
    run: RunView,
    status: runs_api.BenchmarkRunStatus,
    chosen: Sequence[tasks.Task],
    members: Sequence[TrialView],
) -> list[str]:
    """Write the run's rollups to its store; return the keys written.

    Raises:
        KubegymError: the store refused or stayed unreachable (the caller retries later).
    """
    from kubegym import store as store_mod

    target = store_mod.from_spec(store_spec)
    rows = trial_rows(chosen, members)
    files = {
        RESULTS_CSV: results_csv(rows),
        LEADERBOARD: json.dumps(leaderboard(run.name, chosen, rows), indent=2) + "\n",
        STATUS: json.dumps(status.model_dump(mode="json", by_alias=True), indent=2) + "\n",
        IMAGES: images_json(run.name, rows),
    }
    written = []
    with tempfile.TemporaryDirectory(prefix="kubegym-rollups-") as tmp:
        for name, text in files.items():
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            key = store_mod.keys.run_key(run.name, name)
            target.put_file(key, path, policy="newer")
            written.append(key)
    return written


def image_rollup(run: str, rows: Sequence[dict[str, Any]]) -> trials_api.ImagesRollup:
    """images.json's content: each finished trial (`trial_rows`) with the images it ran."""
    return trials_api.ImagesRollup(
        run=run,
        trials=[
            trials_api.TrialImages(
                trial=str(r["trial"]),
                task=str(r["task"]),
                agent=str(r["agent"]),
                seed=int(r["seed"]),
                attempt=int(r["attempt"]),
                phase=r["phase"],
                exit_reason=r["exit_reason"],
                failure_class=r["failure_class"],
                images=r.get("images") or [],
            )
            for r in rows
        ],
    )


def images_json(run: str, rows: Sequence[dict[str, Any]]) -> str:
    """images.json as written to the store (camelCase, digests of never-pulled images null)."""
    data = image_rollup(run, rows).model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2) + "\n"


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def results_csv(rows: Sequence[dict[str, Any]]) -> str:
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as f:
        # The local runner's columns, so a cluster run's results.csv reads the same.
        names = columns.RESULTS_CSV
        writer = csv.DictWriter(f, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in names})
        f.seek(0)
        return f.read()
