"""The whole stack for a real run on the dev cluster: MinIO, the operator, Prometheus, a kubelet.

Shared by the end-to-end and the dashboard tests: a bucket and the `s3-creds`
Secret a run names, the operator as a subprocess with its ServiceAccount's
token (and the S3 credentials for the run's rollups), Prometheus scraping it
with kubegym's rules, and `ProcessKubelet` to run the pods' programs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import cluster, minio, prometheus
from kubegym.metrics import rules

from .harness import G, OperatorProcess, V, apply_cluster_role, operator_kubeconfig
from .process_kubelet import ProcessKubelet

#: The Secret a run's `store.s3.credentialsSecret` names.
S3_SECRET = "s3-creds"


@dataclass
class Stack:
    """The running pieces, and the bucket the run stores into."""

    operator: OperatorProcess
    kubelet: ProcessKubelet
    prom: prometheus.Prometheus
    custom: Any
    s3: Any
    bucket: str


def s3_keys(server: minio.S3Server) -> dict[str, str]:
    """boto3's keyword arguments for the server's root credentials."""
    return {
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        "region_name": server.region,
    }


def polyfit_task(repo: Path) -> dict[str, Any]:
    """examples/tasks/polyfit as a Task a cluster runs: with an image (the kubelet maps it)."""
    task: dict[str, Any] = yaml.safe_load(
        (repo / "examples" / "tasks" / "polyfit" / "task.yaml").read_text()
    )
    task["spec"]["image"] = "registry.invalid/kubegym/task-polyfit:0.1"
    task["spec"]["resources"] = {"cpu": "1", "memory": "1Gi"}
    return task


def polyfit_run(name: str, repo: Path, store: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A run of polyfit × the built-in baseline and a replay that beats it, one seed."""
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": name},
        "spec": {
            "tasks": {"names": ["polyfit"]},
            "agents": [
                {"name": "baseline", "builtin": "baseline"},
                {
                    "name": "replay",
                    "builtin": "replay",
                    "replayPath": str(repo / "examples" / "replays" / "polyfit.jsonl"),
                },
            ],
            "seeds": 1,
            "parallelism": 2,
            "store": store,
            **spec,
        },
    }


def s3_store(stack: Stack, endpoint: str) -> dict[str, Any]:
    """The run's store: the stack's bucket on the S3 server, credentials from `S3_SECRET`."""
    return {
        "s3": {
            "bucket": stack.bucket,
            "prefix": "runs",
            "endpoint": endpoint,
            "credentialsSecret": S3_SECRET,
        }
    }


@contextmanager
def running(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    namespace: str,
    repo_root: Path,
    s3_server: minio.S3Server,
    tmp_path: Path,
) -> Iterator[Stack]:
    """Start the stack in `namespace`; stop the operator and Prometheus at the end."""
    import boto3
    from kubernetes import client

    if prometheus.binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus, or make test)")
    bucket = f"run-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, **s3_keys(s3_server))
    s3.create_bucket(Bucket=bucket)
    client.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": S3_SECRET},
            "stringData": {
                "AWS_ACCESS_KEY_ID": s3_server.access_key,
                "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            },
        },
    )
    apply_cluster_role(api_client, repo_root)
    kubeconfig = operator_kubeconfig(
        api_client, Path(dev_cluster.kubeconfig), namespace, tmp_path / "operator.kubeconfig"
    )
    operator = OperatorProcess(
        kubeconfig, namespace, tmp_path / "operator.log", env=s3_server.env()
    ).start()
    kubelet = ProcessKubelet(api_client, namespace, repo_root, tmp_path / "node")
    target = f"127.0.0.1:{operator.metrics_port}"
    try:
        with prometheus.running(tmp_path / "prom", [target], job=rules.OPERATOR_JOB) as prom:
            yield Stack(operator, kubelet, prom, client.CustomObjectsApi(api_client), s3, bucket)
    finally:
        operator.stop()
        print(operator.log()[-4000:])


def stored_status(stack: Stack, namespace: str, run: str) -> dict[str, Any] | None:
    """The run's status once its rollups are in the store, else None."""
    body = stack.custom.get_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)
    status: dict[str, Any] = body.get("status") or {}
    stored = any(
        c["type"] == "Stored" and c["status"] == "True" for c in status.get("conditions", [])
    )
    return status if stored else None
