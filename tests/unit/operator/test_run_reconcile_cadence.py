"""A run's reconcile through the controller: a rollup skipped for its cost is made later.

The leaderboard in a run's status is rolled up after a hundred times what the last
rollup cost (`runs.RollupCadence`). A trial that finishes inside that wait is counted
at once but reaches the leaderboard only with the next rollup, so the reconcile that
skipped it must come back when it is due: else a run whose other trials are quiet (long
agents, nothing else changing) shows a stale leaderboard until its next trial ends.

The controller runs against its own informer cache, filled here as the watches would;
its writes go to a recorder in place of the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.operator import controller as controller_mod
from kubegym.operator import informer
from kubegym.operator import runs as run_logic
from kubegym.operator.settings import Settings
from tests.unit.operator.builders import NAMESPACE, NOW, run_view, task


class RecordingKube:
    """What the controller writes, kept instead of sent."""

    def __init__(self) -> None:
        self.observer: Any = None
        self.statuses: list[tuple[str, str, Any]] = []

    def create(self, manifest: dict[str, Any]) -> bool:
        return True

    def annotate(self, *args: Any) -> None:
        pass

    def patch_status(
        self, plural: str, namespace: str, name: str, status: Any, version: Any = None
    ) -> None:
        self.statuses.append((plural, name, status))

    def event(self, *args: Any, **kwargs: Any) -> None:
        pass


def _bodies(seeds: int) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    run = run_view(seeds=seeds, parallelism=seeds)
    run_body = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {
            "name": run.name,
            "namespace": NAMESPACE,
            "uid": run.uid,
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": run.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    toy = task()
    task_body = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": toy.name, "namespace": NAMESPACE, "resourceVersion": "1"},
        "spec": toy.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    manifests = run_logic.decide(run, [toy], [], NOW).create
    trial_bodies = []
    for i, manifest in enumerate(manifests):
        meta = {
            **manifest["metadata"],
            "uid": f"trial-{i}",
            "resourceVersion": "2",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        }
        trial_bodies.append({**manifest, "metadata": meta, "status": {"phase": "Running"}})
    return run_body, task_body, trial_bodies


def _finish(body: dict[str, Any], score: float) -> dict[str, Any]:
    meta = {**body["metadata"], "resourceVersion": "3"}
    status = {
        "phase": "Succeeded",
        "exitReason": "submitted",
        "score": score,
        "final": {"r2": score},
        "costUsd": 0.0,
    }
    return {**body, "metadata": meta, "status": status}


@pytest.fixture
def controller() -> controller_mod.Controller:
    return controller_mod.Controller(RecordingKube(), Settings())  # type: ignore[arg-type]


def test_a_rollup_skipped_for_its_cost_is_made_when_due_though_nothing_else_changes(
    controller: controller_mod.Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_body, task_body, trial_bodies = _bodies(seeds=2)
    cache = controller.cache
    cache.upsert(informer.TASKS, task_body)
    cache.upsert(informer.RUNS, run_body)
    for body in trial_bodies:
        cache.upsert(informer.TRIALS, body)
    key = (NAMESPACE, "demo")
    kube: RecordingKube = controller.kube  # type: ignore[assignment]

    clock = [1000.0]
    monkeypatch.setattr(controller_mod.time, "monotonic", lambda: clock[0])
    cadence = controller._rollups
    controller.reconcile_run(key)  # the first rollup, with no trial finished
    # Make the next rollup wait 5 s, as a costly one would.
    cadence.rolled_up(key, clock[0], cpu=0.05)

    clock[0] += 1.0
    cache.upsert(informer.TRIALS, _finish(trial_bodies[0], 0.8))
    again = controller.reconcile_run(key)
    status = kube.statuses[-1][2]
    assert status.counters.succeeded == 1, "counted at once, rollup or not"
    assert not status.leaderboard, "the rollup was not due: the leaderboard waits"
    assert again == pytest.approx(4.0), "the reconcile comes back when the rollup is due"

    clock[0] += 4.0
    controller.reconcile_run(key)
    status = kube.statuses[-1][2]
    assert [row.agent for row in status.leaderboard] == ["gpt"], "rolled up when due"


def test_a_due_rollup_asks_for_no_extra_reconcile(
    controller: controller_mod.Controller,
) -> None:
    run_body, task_body, trial_bodies = _bodies(seeds=2)
    cache = controller.cache
    cache.upsert(informer.TASKS, task_body)
    cache.upsert(informer.RUNS, run_body)
    cache.upsert(informer.TRIALS, _finish(trial_bodies[0], 0.8))
    cache.upsert(informer.TRIALS, trial_bodies[1])
    again = controller.reconcile_run((NAMESPACE, "demo"))
    assert again is None, "rolled up: nothing to come back for"
