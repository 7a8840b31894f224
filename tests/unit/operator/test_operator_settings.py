"""The operator's cluster-wide defaults: a Kueue queue for runs that name none, GPU placement."""

from __future__ import annotations

import json

import pytest

from kubegym.errors import ConfigError
from kubegym.operator import objects
from kubegym.operator.settings import Settings

from .builders import attempt, run_spec, task

H100 = "NVIDIA-H100-80GB-HBM3"
PRODUCTS = {
    H100: {
        "nodeSelector": {"cloud.example.com/pool": "h100"},
        "tolerations": [
            {"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
        ],
    }
}


def settings(**env: str) -> Settings:
    return Settings.from_env({"KUBEGYM_AGENT_IMAGE": "registry.example/kubegym:1.0", **env})


def test_a_run_without_a_queue_gets_the_operators_default_queue() -> None:
    queued = settings(KUBEGYM_DEFAULT_QUEUE="team-a")
    pod = objects.sandbox_pod(attempt(settings=queued))
    assert pod["metadata"]["labels"][objects.KUEUE_QUEUE] == "team-a"
    own = objects.sandbox_pod(attempt(settings=queued, run=run_spec(queueName="mine")))
    assert own["metadata"]["labels"][objects.KUEUE_QUEUE] == "mine"
    plain = objects.sandbox_pod(attempt(settings=settings()))
    assert objects.KUEUE_QUEUE not in plain["metadata"]["labels"]


def test_a_gpu_product_is_placed_as_the_cluster_says() -> None:
    placed = settings(KUBEGYM_GPU_PRODUCTS=json.dumps(PRODUCTS))
    gpu_task = task(resources={"gpu": {"count": 1, "product": H100}})
    pod = objects.sandbox_pod(attempt(task_obj=gpu_task, settings=placed))
    assert pod["spec"]["nodeSelector"] == {"cloud.example.com/pool": "h100"}
    assert pod["spec"]["tolerations"] == PRODUCTS[H100]["tolerations"]


def test_a_task_s_own_selector_and_tolerations_win_over_the_cluster_s() -> None:
    placed = settings(KUBEGYM_GPU_PRODUCTS=json.dumps(PRODUCTS))
    own = [{"key": "mine", "operator": "Exists"}]
    gpu_task = task(
        resources={
            "gpu": {"count": 1, "product": H100, "nodeSelector": {"zone": "a"}, "tolerations": own}
        }
    )
    pod = objects.sandbox_pod(attempt(task_obj=gpu_task, settings=placed))
    assert pod["spec"]["nodeSelector"] == {"cloud.example.com/pool": "h100", "zone": "a"}
    assert pod["spec"]["tolerations"] == own


def test_an_unlisted_product_keeps_the_default_placement() -> None:
    placed = settings(KUBEGYM_GPU_PRODUCTS=json.dumps(PRODUCTS))
    a100 = "NVIDIA-A100-SXM4-80GB"
    pod = objects.sandbox_pod(
        attempt(task_obj=task(resources={"gpu": {"count": 1, "product": a100}}), settings=placed)
    )
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": a100}
    assert pod["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", '{"x": {"nodeSelector": 3}}'])
def test_bad_gpu_products_are_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(KUBEGYM_GPU_PRODUCTS=text)
    assert caught.value.field == "KUBEGYM_GPU_PRODUCTS"
