"""A BenchmarkRun from `kubectl apply` to `kubegym report s3://…`, with every program real.

The control plane, the operator (with its ServiceAccount's token), MinIO and
Prometheus are real servers; the pods' programs — the sandbox server, the
evaluator server and the agent runner — run as processes on this machine
(`ProcessKubelet`) because KWOK's nodes run nothing. The test then finds every
trial's artifacts in the bucket, the run's rollups next to them, the
operator's series in Prometheus with the recording rules evaluated, and a report
read back from S3 that agrees with the run's status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import cluster, minio, prometheus
from kubegym.metrics import rules

from .conftest import wait_for
from .harness import G, OperatorProcess, V, apply_cluster_role, operator_kubeconfig
from .process_kubelet import ProcessKubelet

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[minio.S3Server]:
    if not minio.is_built() and not minio.can_build():
        pytest.skip("MinIO is not built and Go is missing to build it")
    state = tmp_path_factory.mktemp("minio")
    server = minio.start(state)
    try:
        yield server
    finally:
        minio.stop(state)


def _polyfit(repo: Path) -> dict[str, Any]:
    task: dict[str, Any] = yaml.safe_load(
        (repo / "examples" / "tasks" / "polyfit" / "task.yaml").read_text()
    )
    # On a cluster a task runs from its image; the process kubelet maps it to the folder.
    task["spec"]["image"] = "registry.invalid/kubegym/task-polyfit:0.1"
    task["spec"]["resources"] = {"cpu": "1", "memory": "1Gi"}
    return task


def test_a_run_ends_with_its_artifacts_in_s3_its_metrics_in_prometheus_and_a_report(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    kubegym_crds: list[str],
    namespace: str,
    repo_root: Path,
    s3_server: minio.S3Server,
    tmp_path: Path,
) -> None:
    import boto3
    from kubernetes import client

    if prometheus.binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus, or make test)")
    bucket = f"e2e-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, **_keys(s3_server))
    s3.create_bucket(Bucket=bucket)
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "s3-creds"},
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
            run = {
                "apiVersion": f"{G}/{V}",
                "kind": "BenchmarkRun",
                "metadata": {"name": "e2e"},
                "spec": {
                    "tasks": {"names": ["polyfit"]},
                    "agents": [
                        {"name": "baseline", "builtin": "baseline"},
                        {
                            "name": "replay",
                            "builtin": "replay",
                            "replayPath": str(repo_root / "examples" / "replays" / "polyfit.jsonl"),
                        },
                    ],
                    "seeds": 1,
                    "parallelism": 2,
                    "store": {
                        "s3": {
                            "bucket": bucket,
                            "prefix": "runs",
                            "endpoint": s3_server.endpoint,
                            "credentialsSecret": "s3-creds",
                        }
                    },
                },
            }
            custom.create_namespaced_custom_object(G, V, namespace, "tasks", _polyfit(repo_root))
            custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)

            def finished() -> dict[str, Any] | None:
                for pod in kubelet.running_agents():
                    kubelet.run_attempt(pod)
                body = custom.get_namespaced_custom_object(G, V, namespace, "benchmarkruns", "e2e")
                status = body.get("status") or {}
                stored = any(
                    c["type"] == "Stored" and c["status"] == "True"
                    for c in status.get("conditions", [])
                )
                return status if stored else None

            status = wait_for(finished, timeout=240, interval=0.5)
            trials = custom.list_namespaced_custom_object(G, V, namespace, "trials")["items"]
            outcomes = {t["metadata"]["name"]: t["status"].get("message") for t in trials}
            assert status["phase"] == "Succeeded", outcomes
            assert status["counters"]["succeeded"] == 2

            # Every trial's evidence and the run's rollups are in the bucket.
            keys = {
                o["Key"]
                for o in s3.list_objects_v2(Bucket=bucket, Prefix="runs/e2e/").get("Contents", [])
            }
            for trial in trials:
                name = trial["metadata"]["name"]
                for file in ("trajectory.jsonl", "results.json", "workspace.tar.gz"):
                    assert f"runs/e2e/{name}/attempt-0/{file}" in keys, sorted(keys)
            for file in ("results.csv", "leaderboard.json", "status.json"):
                assert f"runs/e2e/{file}" in keys, sorted(keys)
            scores = {t["spec"]["agent"]: t["status"]["score"] for t in trials}
            assert scores["replay"] > scores["baseline"] > 0, scores

            # Prometheus scraped the operator and evaluated the recording rules.
            selector = f'namespace="{namespace}",run="e2e"'
            prom.wait_for(f"kubegym_run:progress:ratio{{{selector}}} == 1", timeout=60)
            best = prom.query(f'kubegym_best_score{{{selector},agent="replay"}}')
            assert prometheus.value(best[0]) >= scores["replay"]

        # A report read back from S3 agrees with the run's status.
        out = tmp_path / "report"
        env = {**os.environ, **s3_server.env(), "AWS_ENDPOINT_URL": s3_server.endpoint}
        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubegym",
                "report",
                f"s3://{bucket}/runs/e2e",
                "--out",
                str(out),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        assert report.returncode == 0, report.stderr
        data = json.loads((out / "report.json").read_text())
        agents = data["leaderboard"]["agents"]
        board = {row["agent"]: row for row in status["leaderboard"]}
        for agent in ("baseline", "replay"):
            assert agents[agent]["best_submission"] == pytest.approx(
                board[agent]["bestSubmissionAup"], abs=1e-6
            )
    finally:
        operator.stop()
        print(operator.log()[-4000:])


def _keys(server: minio.S3Server) -> dict[str, str]:
    return {
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        "region_name": server.region,
    }
