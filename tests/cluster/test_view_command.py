"""`kubegym view run/<name>` against the real control plane: the run's store from its spec.

A BenchmarkRun naming a MinIO bucket in ``spec.store.s3`` is created (no
operator is needed: only its spec is read), a run is uploaded to
``<prefix>/<name>/`` as the agent pods key it, and `kubegym view run/<name>`
serves it; a run that does not exist, or an account that may not read runs, is
one line and exit 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from kubegym.devcluster import cluster
from tests.support import synthetic_run, viewer_server
from tests.viewer.conftest import get_json

from .resources import apply, benchmark_run, task
from .test_status_command import _account_kubeconfig

pytestmark = pytest.mark.cluster


def _view(kubeconfig: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubegym",
            "view",
            *args,
            "--no-open",
            "--port",
            "0",
            "--kubeconfig",
            kubeconfig,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_view_reads_a_cluster_runs_store(
    custom: Any,
    api_client: Any,
    kubegym_crds: list[str],
    namespace: str,
    dev_cluster: cluster.ClusterInfo,
    s3_server: Any,
    tmp_path: Path,
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=s3_server.region,
    )
    bucket = f"view-{namespace}"[:63]
    client.create_bucket(Bucket=bucket)
    generated = synthetic_run.write_run(tmp_path / "shown", trials=6, long_trial_steps=0)
    for path in sorted(generated.folder.rglob("*")):
        relative = path.relative_to(generated.folder).as_posix()
        if not path.is_file() or (relative.startswith("trials/") and "results" not in relative):
            continue
        if relative.startswith("trials/"):
            trial, _, name = relative.removeprefix("trials/").partition("/")
            relative = f"{trial}/attempt-0/{name}"
        client.put_object(Bucket=bucket, Key=f"team/shown/{relative}", Body=path.read_bytes())
    store = {"s3": {"bucket": bucket, "prefix": "team", "endpoint": s3_server.endpoint}}
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run("shown", ["alpha"], ["a1"], seeds=1, store=store),
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **s3_server.env()}
    process = _view(dev_cluster.kubeconfig, env, "run/shown", "-n", namespace)
    try:
        base = viewer_server.served_url(process)
        runs = get_json(base + "/api/runs")["runs"]
        assert [(r["run_id"], r["source"]) for r in runs] == [
            ("shown", f"s3://{bucket}/team/shown")
        ]
        assert runs[0]["finished_trials"] == len(generated.trials)
    finally:
        process.terminate()
        process.wait(10)

    def one_line(kubeconfig: str, *args: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubegym",
                "view",
                *args,
                "--no-open",
                "--kubeconfig",
                kubeconfig,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        return done.stderr.strip()

    missing = one_line(dev_cluster.kubeconfig, "run/nope", "-n", namespace)
    assert missing.startswith(f"error: BenchmarkRun 'nope' not found in namespace '{namespace}'")
    nobody = _account_kubeconfig(
        api_client, Path(dev_cluster.kubeconfig), namespace, "nobody", tmp_path / "nobody", []
    )
    refused = one_line(nobody, "run/shown")
    assert "not allowed to read BenchmarkRun 'shown'" in refused
