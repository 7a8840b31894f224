"""`kubegym.local.baselines.measure`: many tasks' baselines into one table, past failures.

Real tasks (kubegym's example tasks and one-change variants, `baseline_catalog`) run
through the real bubblewrap sandbox and evaluator; nothing is mocked.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kubegym.api import baselines as baselines_api
from kubegym.local import baselines
from kubegym.tasks import catalog
from tests.unit.local import baseline_catalog


def bundles(tmp_path: Path, names: list[str]) -> list[catalog.TaskBundle]:
    folder = baseline_catalog.build(tmp_path, names)
    found = catalog.discover([folder])
    return [found[name] for name in names]


def test_the_table_goes_on_past_failures_and_skips_gpu_tasks_with_the_reason(
    tmp_path: Path,
) -> None:
    names = [
        "polyfit",
        "polyfit-no-submission",
        "polyfit-unpreparable",
        "polyfit-gpu",
        "xor-blobs",
    ]
    events: list[tuple[str, str | None]] = []
    saved: list[list[str]] = []
    table = baselines.measure(
        bundles(tmp_path, names),
        baselines.Sweep(gpus=()),
        progress=lambda i, n, task, row: events.append((task, None if row is None else row.status)),
        saved=lambda t: saved.append([r.task for r in t.rows]),
    )
    rows = {row.task: row for row in table.rows}
    assert [row.task for row in table.rows] == names
    assert {name: rows[name].status for name in names} == {
        "polyfit": "measured",
        "polyfit-no-submission": "invalid",
        "polyfit-unpreparable": "error",
        "polyfit-gpu": "skipped",
        "xor-blobs": "measured",  # after three tasks that did not measure
    }
    assert not table.interrupted

    polyfit = rows["polyfit"]
    assert polyfit.valid and polyfit.exit_reason == "submitted"
    assert polyfit.score == pytest.approx(0.4416, abs=1e-4)  # the task's recorded baseline
    assert polyfit.metrics is not None and set(polyfit.metrics) == {"r2", "rmse"}
    assert polyfit.bar == 0.4416 and polyfit.feasible is True
    assert polyfit.seconds is not None and polyfit.wall_seconds is not None
    assert 0 < polyfit.seconds <= polyfit.wall_seconds

    broken = rows["polyfit-no-submission"]
    assert not broken.valid and broken.score is None and broken.feasible is False
    assert broken.exit_reason is not None and broken.message

    unpreparable = rows["polyfit-unpreparable"]
    assert unpreparable.reason is not None and "the source is gone" in unpreparable.reason
    assert unpreparable.score is None and unpreparable.feasible is None

    gpu = rows["polyfit-gpu"]
    assert gpu.needs_gpu and gpu.gpus == 1 and not gpu.ran_without_gpu
    assert gpu.reason == "needs 1 GPU(s) and this machine has none (--include-gpu runs it anyway)"
    assert gpu.seconds is None and gpu.score is None

    # Progress: a start and an end for each task that ran, only an end for the skipped one.
    assert [e for e in events if e[0] == "polyfit-gpu"] == [("polyfit-gpu", "skipped")]
    assert events.count(("xor-blobs", None)) == 1
    # The table was handed over after every row, so a stop keeps the finished ones.
    assert saved == [names[: i + 1] for i in range(len(names))]


def test_include_gpu_runs_a_gpu_task_without_a_gpu_and_says_so(tmp_path: Path) -> None:
    (row,) = baselines.measure(
        bundles(tmp_path, ["polyfit-gpu"]), baselines.Sweep(gpus=(), include_gpu=True)
    ).rows
    assert row.status == "measured" and row.needs_gpu and row.ran_without_gpu


def test_a_skipped_task_names_the_reason_given(tmp_path: Path) -> None:
    sweep = baselines.Sweep(skip={"polyfit": "hours on a CPU", "xor-blobs": ""})
    rows = baselines.measure(bundles(tmp_path, ["polyfit", "xor-blobs"]), sweep).rows
    assert [(r.status, r.reason) for r in rows] == [
        ("skipped", "hours on a CPU"),
        ("skipped", "left out by --skip"),
    ]


def test_a_baseline_that_prints_a_perfect_score_gets_the_evaluators_score(
    tmp_path: Path,
) -> None:
    """Attack: the starter writes a poor submission and claims r2 1.0 on stdout, on every
    file descriptor it holds and in a results.json of its workspace. The table's score
    must be the evaluator's, which we compute here from the hidden labels ourselves."""
    (bundle,) = bundles(tmp_path, ["polyfit-forger"])
    (row,) = baselines.measure([bundle], baselines.Sweep()).rows
    with open(bundle.resolve("hidden/test.csv"), newline="") as f:
        truth = np.array([float(r["y"]) for r in csv.DictReader(f)])
    expected_r2 = 1.0 - float(np.sum(truth**2) / np.sum((truth - truth.mean()) ** 2))
    assert row.status == "measured" and row.score is not None
    assert row.score == pytest.approx(expected_r2, rel=1e-6)
    assert row.score < 0.4416 and row.feasible is False
    assert row.metrics is not None
    assert row.metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean(truth**2))), rel=1e-4)


@pytest.mark.parametrize(
    ("score", "bar", "maximize", "expected"),
    [
        (0.5, 0.4, True, True),
        (0.4, 0.4, True, True),  # a tie is feasible, as in MLGym
        (0.4 - 1e-12, 0.4, True, False),
        (0.3, 0.4, False, True),
        (0.5, None, True, True),  # no bar constrains nothing
        (-0.1, -0.2, True, False),  # negative scores are never feasible (Blotto)
        (None, 0.4, True, False),
    ],
)
def test_feasibility_is_the_aup_rule(
    score: float | None, bar: float | None, maximize: bool, expected: bool
) -> None:
    assert baselines.feasible(score, bar, maximize=maximize) is expected


def test_the_table_shape_is_stable() -> None:
    """Renaming or dropping a field breaks readers of baselines.json: bump FORMAT_VERSION."""
    assert baselines_api.FORMAT_VERSION == 1
    assert list(baselines_api.BaselineTable.model_fields) == [
        "format_version",
        "created",
        "kubegym_commit",
        "kubegym_version",
        "budget",
        "sandbox",
        "validation",
        "machine",
        "interrupted",
        "rows",
    ]
    assert list(baselines_api.Machine.model_fields) == ["platform", "cpus", "gpus", "python"]
    assert list(baselines_api.BaselineRow.model_fields) == [
        "task",
        "suite",
        "status",
        "primary_metric",
        "direction",
        "score",
        "metrics",
        "valid",
        "exit_reason",
        "seconds",
        "wall_seconds",
        "bar",
        "feasible",
        "gpus",
        "needs_gpu",
        "ran_without_gpu",
        "reason",
        "message",
    ]


def test_a_table_of_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"format_version": 2, "rows": []}')
    with pytest.raises(ValueError, match="format_version 1"):
        baselines_api.read(path)
