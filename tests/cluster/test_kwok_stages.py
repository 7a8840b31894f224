"""kubegym's KWOK stages on the dev cluster: a `kwok-scored…` Task's trials run to the end alone.

No test plays the kubelet here: KWOK's stages (kubegym/devcluster/kwok_stages/trial.yaml)
run the pods, end the evaluator with its record and the agent with its summary, and the
operator reads each trial as Succeeded with the score `kwok_stages.score` gives. A pod of
any other task, bound at the same time, stays as KWOK's defaults leave it: running.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.api import tasks
from kubegym.devcluster import kwok_stages
from kubegym.devcluster.kwok_stages import expected
from tests.support.kube import wait_for

from .harness import G, OperatorProcess, V

pytestmark = pytest.mark.cluster

TASK = f"{kwok_stages.TASK_PREFIX}-unit"


def bystander_pod() -> dict[str, Any]:
    """A pod labelled as an evaluator of another task: KWOK's defaults alone must play it."""
    return {
        "metadata": {
            "name": "bystander",
            "labels": {"kubegym.io/task": "plain-task", "kubegym.io/role": "sandbox"},
        },
        "spec": {
            "containers": [
                {"name": "sandbox", "image": "registry.invalid/plain:1"},
                {"name": "evaluator", "image": "registry.invalid/plain:1"},
            ]
        },
    }


def test_a_scored_tasks_trials_finish_through_the_stages_with_their_scores(
    api_client: Any, namespace: str, operator: OperatorProcess
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    core.create_namespaced_pod(namespace, bystander_pod())
    wait_for(lambda: core.read_namespaced_pod("bystander", namespace).status.phase == "Running")
    task = kwok_stages.task(TASK)
    custom.create_namespaced_custom_object(G, V, namespace, "tasks", task)
    run = {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": "staged"},
        "spec": {
            "tasks": {"names": [TASK]},
            "agents": [{"name": n, "builtin": "baseline"} for n in ("alpha", "beta")],
            "seeds": 2,
            "parallelism": 4,
        },
    }
    custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = custom.get_namespaced_custom_object(
            G, V, namespace, "benchmarkruns", "staged"
        )
        phase = (body.get("status") or {}).get("phase")
        return body if phase in ("Succeeded", "Failed") else None

    body = wait_for(finished, timeout=180, interval=0.5)
    members = custom.list_namespaced_custom_object(
        G, V, namespace, "trials", label_selector="kubegym.io/run=staged"
    )["items"]
    chosen = [tasks.Task.model_validate(task)]
    assert expected.differences(body, members, chosen) == []
    assert {m["status"]["score"] for m in members} == {
        kwok_stages.score(TASK, a, s) for a in ("alpha", "beta") for s in range(2)
    }
    assert body["status"]["leaderboard"], "the run's leaderboard is empty"

    # Every scored evaluator ended after the bystander was running; it still runs.
    bystander = core.read_namespaced_pod("bystander", namespace).to_dict()
    assert bystander["status"]["phase"] == "Running"
    states = {c["name"]: c["state"] for c in bystander["status"]["container_statuses"]}
    assert states["evaluator"]["running"] and not states["evaluator"]["terminated"]
