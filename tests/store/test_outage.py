"""S3 goes away in the middle of a run and comes back: the spool keeps everything, nothing is lost."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from kubegym.devcluster import minio
from kubegym.store import keys, uploader
from tests.store.conftest import SMALL_PARTS, make_store, new_bucket


def artifact(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def test_the_spool_holds_artifacts_while_s3_is_down(
    own_server: minio.S3Server, tmp_path: Path
) -> None:
    bucket = new_bucket(own_server)
    store = make_store(own_server, bucket, transfer=SMALL_PARTS)
    up = uploader.Uploader(store, tmp_path / "spool")
    trial = keys.trial_prefix("run", "trial-a")
    first = artifact(tmp_path, "trajectory.jsonl", 1000)
    assert up.put(keys.attempt_key("run", "trial-a", 0, keys.TRAJECTORY), first) == "uploaded"

    minio.stop(own_server.state_dir)
    files = {
        keys.attempt_key("run", "trial-a", 0, keys.WORKSPACE): artifact(tmp_path, "ws", 6 << 20),
        keys.attempt_key("run", "trial-a", 0, keys.RESULTS): artifact(tmp_path, "results", 300),
        keys.run_key("run", keys.LEADERBOARD): artifact(tmp_path, "board", 200),
    }
    outcomes = [up.put(key, path) for key, path in files.items()]
    digests = {key: hashlib.sha256(path.read_bytes()).hexdigest() for key, path in files.items()}
    for path in files.values():
        path.unlink()  # the working copy may go: the spool has its own copies

    assert outcomes == ["spooled"] * 3
    assert not up.durable(trial)
    assert sorted(up.pending()) == sorted(files)
    assert up.flush().pending == 3  # still down: nothing lost, nothing sent

    minio.start(own_server.state_dir)
    report = up.flush()

    assert report == uploader.FlushReport(uploaded=3, pending=0, refused=0)
    assert up.durable(trial) and up.pending() == []
    for key, digest in digests.items():
        assert hashlib.sha256(store.read_bytes(key)).hexdigest() == digest
    info = store.stat(keys.attempt_key("run", "trial-a", 0, keys.WORKSPACE))
    assert info is not None and info.etag is not None and info.etag.endswith("-2")


def test_the_background_flusher_sends_the_spool_when_s3_returns(
    own_server: minio.S3Server, tmp_path: Path
) -> None:
    bucket = new_bucket(own_server)
    store = make_store(own_server, bucket)
    up = uploader.Uploader(store, tmp_path / "spool", quiet_seconds=0.1)
    minio.stop(own_server.state_dir)
    key = keys.attempt_key("run", "trial-b", 1, keys.RESULTS)
    assert up.put(key, artifact(tmp_path, "results", 100)) == "spooled"
    up.start_background(interval=0.1)
    try:
        minio.start(own_server.state_dir)
        deadline = time.monotonic() + 30
        while not up.durable(keys.trial_prefix("run", "trial-b")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        up.close()

    assert up.durable(keys.trial_prefix("run", "trial-b"))
    assert store.list_keys() == [key]


def test_an_older_rollup_in_the_spool_does_not_replace_a_newer_one(
    own_server: minio.S3Server, tmp_path: Path
) -> None:
    bucket = new_bucket(own_server)
    store = make_store(own_server, bucket)
    up = uploader.Uploader(store, tmp_path / "spool")
    key = keys.run_key("run", keys.RESULTS_CSV)
    minio.stop(own_server.state_dir)
    old = artifact(tmp_path, "old.csv", 10)
    assert up.put(key, old, policy="newer", mtime=100.0) == "spooled"
    minio.start(own_server.state_dir)
    store.put_file(key, artifact(tmp_path, "new.csv", 20), policy="newer", mtime=200.0)

    report = up.flush()

    assert report.refused == 1 and up.pending() == []
    assert len(store.read_bytes(key)) == 20
    assert list((tmp_path / "spool" / "refused").glob("*.json"))
