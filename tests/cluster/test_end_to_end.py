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
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import cluster, minio, prometheus
from tests.support.kube import wait_for

from . import stack
from .harness import G, V

pytestmark = pytest.mark.cluster


def test_a_run_ends_with_its_artifacts_in_s3_its_metrics_in_prometheus_and_a_report(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    kubegym_crds: list[str],
    namespace: str,
    repo_root: Path,
    s3_server: minio.S3Server,
    tmp_path: Path,
) -> None:
    with stack.running(api_client, dev_cluster, namespace, repo_root, s3_server, tmp_path) as st:
        custom = st.custom
        run = stack.polyfit_run("e2e", repo_root, stack.s3_store(st, s3_server.endpoint))
        custom.create_namespaced_custom_object(
            G, V, namespace, "tasks", stack.polyfit_task(repo_root)
        )
        custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)

        def finished() -> dict[str, Any] | None:
            for pod in st.kubelet.running_agents():
                st.kubelet.run_attempt(pod)
            return stack.stored_status(st, namespace, "e2e")

        status = wait_for(finished, timeout=240, interval=0.5)
        trials = custom.list_namespaced_custom_object(G, V, namespace, "trials")["items"]
        outcomes = {t["metadata"]["name"]: t["status"].get("message") for t in trials}
        assert status["phase"] == "Succeeded", outcomes
        assert status["counters"]["succeeded"] == 2

        # Every trial's evidence and the run's rollups are in the bucket.
        listing = st.s3.list_objects_v2(Bucket=st.bucket, Prefix="runs/e2e/")
        keys = {o["Key"] for o in listing.get("Contents", [])}
        for trial in trials:
            name = trial["metadata"]["name"]
            for file in ("trajectory.jsonl", "results.json", "workspace.tar.gz"):
                assert f"runs/e2e/{name}/attempt-0/{file}" in keys, sorted(keys)
        for file in ("results.csv", "leaderboard.json", "status.json", "images.json"):
            assert f"runs/e2e/{file}" in keys, sorted(keys)
        # The process kubelet pulls no images: each container is there, its digest null.
        rollup = json.loads(
            st.s3.get_object(Bucket=st.bucket, Key="runs/e2e/images.json")["Body"].read()
        )
        assert len(rollup["trials"]) == 2
        for entry in rollup["trials"]:
            ran = {(i["pod"], i["container"]): i.get("digest") for i in entry["images"]}
            assert ("agent", "agent") in ran and ("sandbox", "evaluator") in ran, ran
            assert set(ran.values()) == {None}
        scores = {t["spec"]["agent"]: t["status"]["score"] for t in trials}
        assert scores["replay"] > scores["baseline"] > 0, scores

        # Prometheus scraped the operator and evaluated the recording rules.
        selector = f'namespace="{namespace}",run="e2e"'
        st.prom.wait_for(f"kubegym_run:progress:ratio{{{selector}}} == 1", timeout=60)
        best = st.prom.query(f'kubegym_best_score{{{selector},agent="replay"}}')
        assert prometheus.value(best[0]) >= scores["replay"]

    # A report read back from S3 agrees with the run's status.
    out = tmp_path / "report"
    env = {**os.environ, **s3_server.env(), "AWS_ENDPOINT_URL": s3_server.endpoint}
    source = f"s3://{st.bucket}/runs/e2e"
    report = subprocess.run(
        [sys.executable, "-m", "kubegym", "report", source, "--out", str(out), "--format", "json"],
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
        expected = board[agent]["bestSubmissionAup"]
        assert agents[agent]["best_submission"] == pytest.approx(expected, abs=1e-6)
