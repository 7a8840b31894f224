"""`kubegym view run/<name>`: a BenchmarkRun's store, from its spec or the operator's default.

The resolution is tested on BenchmarkRun bodies as the API server returns them
(the dev cluster's binaries were not built when this was written); reading the
run from the cluster is `kubegym status`'s same client code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubegym.errors import ConfigError
from kubegym.viewer import cluster_runs


def _body(name: str = "sweep", store: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tasks": {"names": ["polyfit"]},
        "agents": [{"name": "baseline", "builtin": "baseline"}],
    }
    if store is not None:
        spec["store"] = store
    return {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": spec,
        "status": {"phase": "Running"},
    }


def test_the_runs_own_store_wins() -> None:
    found = cluster_runs.store_of(
        _body(
            store={
                "s3": {
                    "bucket": "results",
                    "prefix": "team/a/",
                    "endpoint": "http://minio.storage:9000",
                    "region": "eu-west-1",
                }
            }
        ),
        {"KUBEGYM_STORE_BUCKET": "default-bucket"},
    )
    assert found == cluster_runs.RunStore(
        uri="s3://results/team/a/sweep",
        endpoint="http://minio.storage:9000",
        region="eu-west-1",
        from_default=False,
    )


def test_else_the_operators_default_store() -> None:
    found = cluster_runs.store_of(
        _body(),
        {
            "KUBEGYM_STORE_BUCKET": "kg-artifacts",
            "KUBEGYM_STORE_ENDPOINT": "http://minio:9000",
        },
    )
    # the operator's default prefix, as the chart's store.s3.prefix
    assert found.uri == "s3://kg-artifacts/kubegym/sweep" and found.from_default
    assert found.endpoint == "http://minio:9000"


def test_no_store_anywhere_names_what_to_set() -> None:
    with pytest.raises(ConfigError, match=r"KUBEGYM_STORE_BUCKET.*no spec\.store"):
        cluster_runs.store_of(_body(), {})


def test_a_local_store_cannot_be_read_from_here() -> None:
    with pytest.raises(ConfigError, match="local folder"):
        cluster_runs.store_of(_body(store={"local": {"path": "/data"}}), {})


def test_a_body_that_is_no_run_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="does not read as this kubegym's model"):
        cluster_runs.store_of({"kind": "Pod", "metadata": {"name": "x"}}, {})


def test_no_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kubegym", "view", "run/sweep", "--no-open"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no")},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "no kubeconfig" in done.stderr
