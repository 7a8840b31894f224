"""`kubegym run` with an S3 store: every artifact lands in the bucket; with S3 down, a re-run delivers them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from kubegym.devcluster import minio
from kubegym.store import keys
from tests.store.conftest import admin, new_bucket


def run_file(tmp_path: Path, repo: Path, server: minio.S3Server, bucket: str) -> Path:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "s3run"},
        "spec": {
            "tasks": {"names": ["polyfit"]},
            "agents": [{"name": "baseline", "builtin": "baseline"}],
            "seeds": 2,
            "parallelism": 2,
            "store": {"s3": {"bucket": bucket, "prefix": "runs", "endpoint": server.endpoint}},
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    return path


def kubegym_run(path: Path, out: Path, server: minio.S3Server) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(path), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **server.env()},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def objects(server: minio.S3Server, bucket: str) -> set[str]:
    listing = admin(server).list_objects_v2(Bucket=bucket, Prefix="runs/")
    return {item["Key"] for item in listing.get("Contents", [])}


def expected(summary: dict) -> set[str]:
    wanted = {
        f"runs/{keys.run_key('s3run', n)}"
        for n in ("results.csv", "leaderboard.json", "status.json")
    }
    for trial in summary["trials"]:
        for name in keys.ATTEMPT_FILES:
            wanted.add(f"runs/{keys.attempt_key('s3run', trial['id'], 0, name)}")
    return wanted


def test_every_artifact_of_a_run_lands_in_the_bucket(
    s3_server: minio.S3Server, repo: Path, tmp_path: Path
) -> None:
    bucket = new_bucket(s3_server)
    out = tmp_path / "out"

    summary = kubegym_run(run_file(tmp_path, repo, s3_server, bucket), out, s3_server)

    assert summary["phase"] == "Succeeded" and summary["pending_uploads"] == 0
    assert len(summary["trials"]) == 2 and all(t["durable"] for t in summary["trials"])
    assert expected(summary) <= objects(s3_server, bucket)
    for trial in summary["trials"]:
        key = f"runs/{keys.attempt_key('s3run', trial['id'], 0, keys.RESULTS)}"
        stored = admin(s3_server).get_object(Bucket=bucket, Key=key)["Body"].read()
        assert stored == (out / "trials" / trial["id"] / "results.json").read_bytes()


def test_a_run_goes_on_while_s3_is_down_and_a_rerun_delivers_everything(
    own_server: minio.S3Server, repo: Path, tmp_path: Path
) -> None:
    bucket = new_bucket(own_server)
    path = run_file(tmp_path, repo, own_server, bucket)
    out = tmp_path / "out"
    minio.stop(own_server.state_dir)

    during = kubegym_run(path, out, own_server)

    assert during["phase"] == "Running" and during["pending_uploads"] == 2
    assert not any(t["durable"] for t in during["trials"])
    assert list((out / ".spool").glob("*.json"))

    minio.start(own_server.state_dir)
    after = kubegym_run(path, out, own_server)

    assert after["phase"] == "Succeeded" and after["pending_uploads"] == 0
    assert after["resumed"] == 2  # nothing ran twice
    assert expected(after) <= objects(own_server, bucket)
    assert not list((out / ".spool").glob("*.json"))
