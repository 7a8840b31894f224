"""examples/run.yaml, the first run after `helm install`: a real GPU task, two agents, S3."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import REPO


def _documents() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((REPO / "examples" / "run.yaml").read_text())
    return {d["kind"]: d for d in docs}


def test_its_task_is_the_suite_task_with_an_image() -> None:
    task = _documents()["Task"]
    source = yaml.safe_load((REPO / "task_images" / "fashion-mnist" / "task.yaml").read_text())
    # Where a task folder's files come from is no cluster's business: the images hold them.
    assert source["spec"].pop("includes") == ["../families/image-classification"]
    spec = dict(task["spec"])
    assert spec.pop("image") == "ghcr.io/kubegym/task-fashion-mnist:0.1.0"
    assert dict(task, spec=spec) == source
    assert task["spec"]["resources"]["gpu"]["count"] >= 1


def test_its_run_has_the_baseline_a_litellm_model_and_an_s3_store() -> None:
    spec = _documents()["BenchmarkRun"]["spec"]
    assert spec["tasks"]["names"] == [_documents()["Task"]["metadata"]["name"]]
    baseline, model = spec["agents"]
    assert baseline["builtin"] == "baseline"
    assert model["model"].startswith("openai/")
    assert model["apiKeySecret"] == {"name": "openai", "key": "api-key"}
    assert spec["store"]["s3"]["credentialsSecret"] == "s3-credentials"


def test_the_chart_notes_create_the_secrets_the_run_names(helm: Any) -> None:
    from .conftest import CHART, run_helm

    notes = run_helm(
        helm, "install", "kubegym", str(CHART), "--dry-run=client", "-n", "kubegym-system"
    ).stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -f examples/run.yaml" in notes
    assert "kubectl create secret generic openai --from-literal=api-key=" in notes
    assert "kubectl create secret generic s3-credentials" in notes
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert key in notes
    assert "grafana" in notes.lower()


def test_its_gpu_is_the_one_the_dev_cluster_nodes_carry() -> None:
    """So the README's walk-through schedules on `kubegym dev-cluster`'s fake GPU nodes."""
    from kubegym.devcluster import nodes

    gpu = _documents()["Task"]["spec"]["resources"]["gpu"]
    assert gpu["product"] == nodes.GPU_PRODUCT
