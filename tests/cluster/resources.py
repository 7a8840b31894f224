"""The cluster tests' vocabulary for runs: Task and BenchmarkRun bodies, applying and reading them.

Shared by the operator's tests (test_operator, test_operator_ha, test_kueue, test_helm and
the rest): a Task with a hidden-data evaluation, a baseline-agent grid, the run's status,
its Trials, an agent summary for a score, and `play`, which answers running agent pods the
way a finished agent would. The fixtures that start the operator are in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegym.api.summary import TrialSummary
from kubegym.api.trials import Score
from tests.support.kube import wait_for

from .harness import G, Kubelet, V


def task(
    name: str, metric: str = "r2", baseline: float = 0.5, gpu: dict[str, Any] | None = None
) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": "1", "memory": "1Gi"}
    if gpu:
        resources["gpu"] = gpu
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {
            "description": f"Task {name}.",
            "image": f"registry.invalid/task-{name}:1",
            "datasets": [{"name": "train", "path": "data/train.csv"}],
            "evaluation": {
                "script": "evaluate.py",
                "metrics": [{"name": metric, "direction": "max"}],
                "primaryMetric": metric,
                "submission": {"path": "submission.csv"},
                "testData": [{"name": "labels", "path": "hidden/test.csv"}],
            },
            "baselineScores": {metric: baseline},
            "resources": resources,
        },
    }


def benchmark_run(
    name: str, tasks: list[str], agents: list[str], seeds: int, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": name},
        "spec": {
            "tasks": {"names": tasks},
            "agents": [{"name": a, "builtin": "baseline"} for a in agents],
            "seeds": seeds,
            **spec,
        },
    }


def apply(custom: Any, namespace: str, *docs: dict[str, Any]) -> None:
    plurals = {"Task": "tasks", "BenchmarkRun": "benchmarkruns"}
    for doc in docs:
        custom.create_namespaced_custom_object(G, V, namespace, plurals[doc["kind"]], doc)


def get_run(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    run: dict[str, Any] = custom.get_namespaced_custom_object(
        G, V, namespace, "benchmarkruns", name
    )
    return run


def trials_of(custom: Any, namespace: str, run: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = custom.list_namespaced_custom_object(
        G, V, namespace, "trials", label_selector=f"kubegym.io/run={run}"
    )["items"]
    return items


def summary_for(score: float) -> TrialSummary:
    return TrialSummary(
        exit="submitted",
        scores=[
            Score(
                step=3,
                action="validate",
                metrics={"r2": score - 0.05},
                test_metrics={"r2": score - 0.04},
            ),
            Score(step=5, action="submit", metrics={"r2": score}, test_metrics={"r2": score}),
        ],
        final={"r2": score},
        steps=5,
        tokens=1000,
        cost_usd=0.25,
    )


def sample(text: str, name: str, **wanted: str) -> float:
    """The value of the sample `name` whose labels include `wanted`, from a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in wanted.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name}{wanted} in /metrics")


def play(
    kubelet: Kubelet,
    until: Callable[[], bool],
    answer: Callable[[dict[str, Any]], None],
    timeout: float = 120,
) -> None:
    """Answer every running agent pod with `answer` until `until()` holds."""

    def step() -> bool:
        for pod in kubelet.running_agents():
            answer(pod)
        return until()

    wait_for(step, timeout=timeout, interval=0.3)


def phase_is(custom: Any, namespace: str, name: str, *phases: str) -> Callable[[], bool]:
    return lambda: (get_run(custom, namespace, name).get("status") or {}).get("phase") in phases
