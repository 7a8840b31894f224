"""`kubegym view s3://…` against a real S3 server (MinIO): a prefix of runs served over HTTP.

Under one prefix: the generated run (1,000-step trial, hostile trial) as the
store keys it (``<run>/<trial>/attempt-<n>/…``, run "alpha") and as a run
folder uploaded whole (``trials/<id>/…``, run "beta"). Next to the prefix lies
an object tree no URL may reach. The viewer reads the runs through a results
index of its own and pages trajectories from its local cache.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import minio
from kubegym.errors import ConfigError
from kubegym.store import errors as store_errors
from kubegym.viewer import catalog, store_catalog
from tests.store.conftest import admin, new_bucket
from tests.support import synthetic_run, viewer_server
from tests.viewer.conftest import get, get_json

pytestmark = pytest.mark.skipif(
    not minio.can_build(), reason="MinIO is not cached and Go is missing to build it"
)

SECRET = "SECRET-OUTSIDE-THE-PREFIX"


def _upload(client: Any, bucket: str, prefix: str, run: Path, *, store_layout: bool) -> None:
    for path in sorted(run.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(run).as_posix()
        if store_layout and relative.startswith("trials/"):
            trial, _, name = relative.removeprefix("trials/").partition("/")
            results = path.parent / "results.json"
            attempt = json.loads(results.read_text())["attempt"] if results.exists() else 0
            relative = f"{trial}/attempt-{attempt}/{name}"
        client.put_object(Bucket=bucket, Key=f"{prefix}/{relative}", Body=path.read_bytes())


@pytest.fixture(scope="session")
def store_source(
    s3_server: minio.S3Server, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, synthetic_run.SyntheticRun]:
    """``s3://<bucket>/runs`` holding runs alpha (store layout) and beta (a folder uploaded)."""
    generated = synthetic_run.write_run(
        tmp_path_factory.mktemp("viewer-s3") / "generated", trials=40, long_trial_steps=1000
    )
    client = admin(s3_server)
    bucket = new_bucket(s3_server)
    _upload(client, bucket, "runs/alpha", generated.folder, store_layout=True)
    _upload(client, bucket, "runs/beta", generated.folder, store_layout=False)
    # Beside the prefix: a run whose every file says SECRET (also a prefix sharing "runs").
    for prefix in ("private/alpha", "runs-private/alpha"):
        trial = generated.trials[0]
        for name in ("results.json", "trajectory.jsonl"):
            client.put_object(
                Bucket=bucket,
                Key=f"{prefix}/{trial}/attempt-0/{name}",
                Body=json.dumps({"thought": SECRET, "message": SECRET}).encode() + b"\n",
            )
        client.put_object(
            Bucket=bucket, Key=f"{prefix}/secret-trial/attempt-0/results.json", Body=SECRET.encode()
        )
    return f"s3://{bucket}/runs", generated


@pytest.fixture(scope="session")
def s3_env(s3_server: minio.S3Server) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_server.env().items():
            patch.setenv(name, value)
        patch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
        yield


@pytest.fixture(scope="session")
def s3_base(store_source: tuple[str, synthetic_run.SyntheticRun], s3_env: None) -> Iterator[str]:
    with viewer_server.serve(store_source[0]) as url:
        yield url


def test_runs_under_the_prefix_are_listed(
    s3_base: str, store_source: tuple[str, synthetic_run.SyntheticRun]
) -> None:
    uri, generated = store_source
    runs = get_json(s3_base + "/api/runs")["runs"]
    assert [r["run_id"] for r in runs] == ["alpha", "beta"]
    for run in runs:
        assert run["finished_trials"] == len(generated.trials)
        assert run["source"].startswith(uri + "/")
    overview = get_json(s3_base + "/api/runs/alpha")
    assert overview["leaderboard"]["agents"], "leaderboard.json read through the store"
    assert overview["profiles"]["error"] is None


@pytest.mark.parametrize("run_id", ["alpha", "beta"])
def test_every_trial_pages_through_once(
    s3_base: str, store_source: tuple[str, synthetic_run.SyntheticRun], run_id: str
) -> None:
    generated = store_source[1]
    seen: list[str] = []
    cursor = ""
    while True:
        page = get_json(f"{s3_base}/api/runs/{run_id}/trials?limit=7&cursor={cursor}")
        seen.extend(row["trial"] for row in page["trials"])
        assert page["total"] == len(generated.trials)
        if page["next"] is None:
            break
        cursor = urllib.parse.quote(page["next"])
    assert sorted(seen) == sorted(generated.trials)
    agent = generated.agents[1]
    filtered = get_json(f"{s3_base}/api/runs/{run_id}/trials?agent={agent}&limit=500")
    assert filtered["trials"] and {r["agent"] for r in filtered["trials"]} == {agent}
    facets = get_json(f"{s3_base}/api/runs/{run_id}/facets")["facets"]
    assert sum(n for _, n in facets["agent"]) == len(generated.trials)


@pytest.mark.parametrize("run_id", ["alpha", "beta"])
def test_the_long_trial_pages_from_the_cache(
    s3_base: str, store_source: tuple[str, synthetic_run.SyntheticRun], run_id: str
) -> None:
    generated = store_source[1]
    trial = generated.long_trial
    assert trial is not None
    lines = (generated.folder / "trials" / trial / "trajectory.jsonl").read_text().splitlines()
    detail = get_json(f"{s3_base}/api/runs/{run_id}/trials/{trial}")
    assert detail["has_trajectory"] and detail["row"]["trial"] == trial
    start, read = 0, 0
    while start is not None:
        page = get_json(f"{s3_base}/api/runs/{run_id}/trials/{trial}/steps?start={start}&limit=200")
        assert page["total"] == 1000
        for step in page["steps"]:
            original = json.loads(lines[step["index"]])
            assert step["thought"] == original["thought"][:2000]
            read += 1
        start = page["next"]
    assert read == 1000
    last = get_json(f"{s3_base}/api/runs/{run_id}/trials/{trial}/steps/999?field=observation")
    assert last["text"] == json.loads(lines[999])["observation"][:1_000_000]


def test_hostile_trial_is_data_not_markup(
    s3_base: str, store_source: tuple[str, synthetic_run.SyntheticRun]
) -> None:
    trial = store_source[1].hostile_trial
    assert trial is not None
    status, headers, body = get(f"{s3_base}/api/runs/alpha/trials/{trial}/steps?limit=200")
    assert status == 200 and headers["content-type"] == "application/json"
    assert "script-src 'self'" in headers["content-security-policy"]
    steps = json.loads(body)["steps"]
    assert any("<script" in (s.get("observation") or "") for s in steps)
    row = get_json(f"{s3_base}/api/runs/alpha/trials/{trial}")["row"]
    assert "<" in row["task"]  # the hostile name comes back as text, for textContent


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/alpha/trials/..%2F..%2Fprivate%2Falpha",
        "/api/runs/alpha/trials/..%2Fprivate/steps",
        "/api/runs/..%2Fprivate%2Falpha/trials",
        "/api/runs/private/trials",
        "/api/runs/alpha/trials/secret-trial",
        "/api/runs/alpha/trials/secret-trial/steps",
        "/api/runs/runs-private/trials",
    ],
)
def test_nothing_outside_the_prefix_is_served(s3_base: str, path: str) -> None:
    status, _, body = get(s3_base + path)
    assert status in (400, 404), (status, body[:200])
    assert SECRET.encode() not in body


def test_a_run_outside_the_prefix_is_not_listed(s3_base: str) -> None:
    _, _, body = get(s3_base + "/api/runs")
    assert SECRET.encode() not in body and b"private" not in body


def test_new_results_appear_at_the_next_ingest(
    s3_server: minio.S3Server,
    store_source: tuple[str, synthetic_run.SyntheticRun],
    s3_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, generated = store_source
    bucket = urllib.parse.urlsplit(uri).netloc
    client = admin(s3_server)
    live = f"runs-live-{time.time_ns()}"
    trial = generated.trials[2]
    folder = generated.folder / "trials" / trial
    client.put_object(
        Bucket=bucket,
        Key=f"{live}/one/{trial}/attempt-0/results.json",
        Body=(folder / "results.json").read_bytes(),
    )
    shown = catalog.open_catalog(f"s3://{bucket}/{live}", cache_dir=tmp_path / "cache")
    assert isinstance(shown, store_catalog.StoreCatalog)
    assert shown.trials("one", limit=10)["total"] == 1  # type: ignore[index]
    # a retried attempt of that trial and a new trial land
    retried = json.loads((folder / "results.json").read_text()) | {"attempt": 1, "score": 12.5}
    client.put_object(
        Bucket=bucket,
        Key=f"{live}/one/{trial}/attempt-1/results.json",
        Body=json.dumps(retried).encode(),
    )
    other = generated.trials[3]
    client.put_object(
        Bucket=bucket,
        Key=f"{live}/one/{other}/attempt-0/results.json",
        Body=(generated.folder / "trials" / other / "results.json").read_bytes(),
    )
    run = shown.run("one")
    assert run is not None
    # Pages ask for a new ingest (here: every time) and do not wait for it; it runs in
    # a thread of its own and the pages after it show the new results.
    monkeypatch.setattr(store_catalog, "INGEST_SECONDS", 0.0)
    deadline = time.monotonic() + 60
    while shown.trials("one", limit=10)["total"] != 2:  # type: ignore[index]
        assert time.monotonic() < deadline, "the new trial never appeared"
        time.sleep(0.1)
    deadline = time.monotonic() + 60
    while (row := run.row(trial)) is None or row["attempt"] != 1:
        assert time.monotonic() < deadline, "the new attempt never won"
        time.sleep(0.1)
    assert row["score"] == 12.5
    assert run.results(trial)["score"] == 12.5  # type: ignore[index]  (the winning attempt's)


def test_wrong_credentials_are_one_clear_error(
    store_source: tuple[str, synthetic_run.SyntheticRun], s3_server: minio.S3Server
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": "not-the-secret",
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint,
    }
    done = _view(store_source[0], env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert f"{s3_server.endpoint} denied access to bucket" in done.stderr
    assert "not-the-secret" not in done.stderr


def test_an_unreachable_endpoint_is_one_clear_error(
    store_source: tuple[str, synthetic_run.SyntheticRun], s3_server: minio.S3Server
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        **s3_server.env(),
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
    }
    done = _view(store_source[0], env)
    assert done.returncode == 1
    # The store's retries are logged as they happen (a person waits through them); the
    # last line is the error.
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in done.stderr
    assert re.search(rf"cannot reach the S3 endpoint http://127\.0\.0\.1:{port}", last)


def test_no_such_bucket_names_it(s3_env: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as raised:
        catalog.open_catalog("s3://no-such-bucket-here/runs", cache_dir=tmp_path)
    assert isinstance(raised.value, store_errors.BucketMissing)


def test_a_prefix_without_runs_says_so(
    s3_server: minio.S3Server, s3_env: None, tmp_path: Path
) -> None:
    bucket = new_bucket(s3_server)
    with pytest.raises(ConfigError, match="holds no run"):
        catalog.open_catalog(f"s3://{bucket}/empty", cache_dir=tmp_path)


def _view(source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubegym", "view", source, "--no-open", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_the_charts_command_serves_the_prefix(
    store_source: tuple[str, synthetic_run.SyntheticRun], s3_server: minio.S3Server, tmp_path: Path
) -> None:
    """The viewer Deployment's arguments and environment (helm/kubegym/templates/viewer/)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "TMPDIR": str(tmp_path),
        "KUBEGYM_INDEX_URL": f"sqlite:///{tmp_path / 'index' / 'index.sqlite'}",
        **s3_server.env(),  # the credentials Secret's keys, and store.s3.region
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint,
    }
    (tmp_path / "index").mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubegym",
            "view",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--index",
            env["KUBEGYM_INDEX_URL"],
            "--no-open",
            store_source[0],
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = viewer_server.served_url(process)
        runs = get_json(base + "/api/runs")["runs"]
        assert [r["run_id"] for r in runs] == ["alpha", "beta"]
        assert (tmp_path / "index" / "index.sqlite").is_file()  # the index it was given
        trial = store_source[1].long_trial
        steps = get_json(f"{base}/api/runs/alpha/trials/{trial}/steps?start=990")
        assert steps["total"] == 1000 and len(steps["steps"]) == 10
        # trajectories go under the temporary folder (the pod's /tmp emptyDir)
        assert any(p.suffix == ".jsonl" for p in tmp_path.rglob("*"))
    finally:
        process.terminate()
        process.wait(10)
