"""The models' own behaviour: defaults, wire names, quantities, GPU scheduling, trial names."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from kubegym.api import common, runs, tasks, trials


def test_wire_round_trip_keeps_camel_case(task: dict[str, Any], run: dict[str, Any]) -> None:
    t = tasks.Task.model_validate(task)
    wire = t.to_wire()
    assert wire["spec"]["evaluation"]["primaryMetric"] == "r2"
    assert wire["spec"]["limits"]["trainingTimeoutSeconds"] == 1800
    assert tasks.Task.model_validate(wire) == t
    r = runs.BenchmarkRun.model_validate(run)
    assert runs.BenchmarkRun.model_validate(r.to_wire()) == r


def test_defaults_are_mlgym_like(run: dict[str, Any]) -> None:
    spec = runs.BenchmarkRun.model_validate(run).spec
    assert spec.validation == "heldout"
    assert spec.parallelism == 1
    assert spec.agents[1].history_window == 5
    assert spec.retry_policy.infra_retries == 3
    assert not spec.suspend


@pytest.mark.parametrize(
    ("given", "stored"),
    [(2, "2"), (0.5, "0.5"), ("500m", "500m"), ("16Gi", "16Gi"), ("1e3", "1e3")],
)
def test_quantities_accept_numbers_and_strings(given: object, stored: str) -> None:
    assert tasks.Resources(cpu=given).cpu == stored  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["lots", "16 Gi", "-", True])
def test_quantities_refuse_garbage(bad: object) -> None:
    with pytest.raises(pydantic.ValidationError):
        tasks.Resources(memory=bad)  # type: ignore[arg-type]


def test_cpu_tasks_get_no_gpu_scheduling() -> None:
    resources = tasks.Resources()
    assert resources.node_selector() == {}
    assert resources.tolerations() == []


def test_gpu_product_becomes_a_node_selector_and_a_toleration() -> None:
    resources = tasks.Resources(gpu=tasks.GPU(count=1, product="NVIDIA-A100-SXM4-80GB"))
    assert resources.node_selector() == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert [t.to_wire() for t in resources.tolerations()] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_custom_gpu_labels_and_tolerations_win() -> None:
    gpu = tasks.GPU(
        count=2,
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
        tolerations=[tasks.Toleration(key="dedicated", operator="Equal", value="gpu")],
    )
    resources = tasks.Resources(gpu=gpu)
    assert resources.node_selector() == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert [t.key for t in resources.tolerations()] == ["dedicated"]


def test_baseline_score_is_the_primary_metric(task: dict[str, Any]) -> None:
    spec = tasks.Task.model_validate(task).spec
    assert spec.baseline_score() == 0.5
    assert spec.evaluation.metric().direction == "max"
    assert spec.evaluation.metric("rmse").direction == "min"


def test_retry_backoff_doubles_up_to_the_cap() -> None:
    policy = runs.RetryPolicy(backoff_seconds=10, max_backoff_seconds=60)
    assert [policy.delay(n) for n in range(6)] == [0, 10, 20, 40, 60, 60]


def test_trial_names_are_stable_dns_labels() -> None:
    name = trials.trial_name("demo", "house-price", "gpt-4o", 3)
    assert name == trials.trial_name("demo", "house-price", "gpt-4o", 3)
    assert name.startswith("demo-house-price-gpt-4o-s3-")
    assert re.fullmatch(common.DNS_LABEL_PATTERN, name)


def test_long_trial_names_are_cut_without_collisions() -> None:
    long_task = "a-very-long-task-name-that-goes-on-and-on-for-a-while"
    names = {trials.trial_name("run-with-a-long-name", long_task, "agent", s) for s in range(50)}
    assert len(names) == 50
    for name in names:
        assert len(name) <= 63 and re.fullmatch(common.DNS_LABEL_PATTERN, name)


def test_trial_status_records_scores_in_order() -> None:
    status = trials.TrialStatus.model_validate(
        {
            "phase": "Succeeded",
            "scores": [
                {
                    "step": 3,
                    "action": "validate",
                    "metrics": {"r2": 0.7},
                    "testMetrics": {"r2": 0.69},
                },
                {"step": 9, "action": "submit", "metrics": {"r2": 0.72}},
            ],
            "final": {"r2": 0.72},
            "score": 0.72,
            "exitReason": "submitted",
        }
    )
    assert [s.action for s in status.scores] == ["validate", "submit"]
    assert status.finished
    assert status.to_wire()["scores"][0]["testMetrics"] == {"r2": 0.69}


def test_conditions_have_the_metav1_shape() -> None:
    with pytest.raises(pydantic.ValidationError):
        common.Condition.model_validate(
            {
                "type": "Ready",
                "status": "Yes",
                "reason": "Done",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        )
    cond = common.Condition.model_validate(
        {
            "type": "Ready",
            "status": "True",
            "reason": "AllTrialsDone",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    )
    assert cond.to_wire()["lastTransitionTime"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("2Gi", 2 * 2**30), ("16M", 16e6), ("1e3", 1000.0)],
)
def test_quantities_parse_to_numbers(quantity: str, value: float) -> None:
    assert common.parse_quantity(quantity) == value


@pytest.mark.parametrize("name", ["research-high", "team.a.high", "p0"])
def test_a_workload_priority_class_is_a_dns_subdomain(run: dict[str, Any], name: str) -> None:
    run["spec"]["workloadPriorityClass"] = name
    assert runs.BenchmarkRun.model_validate(run).spec.workload_priority_class == name


@pytest.mark.parametrize("name", ["Research_High", "-high", "high.", "a" * 254])
def test_a_bad_workload_priority_class_names_the_field(run: dict[str, Any], name: str) -> None:
    run["spec"]["workloadPriorityClass"] = name
    with pytest.raises(pydantic.ValidationError) as caught:
        runs.BenchmarkRun.model_validate(run)
    assert caught.value.errors()[0]["loc"][-1] == "workloadPriorityClass"
