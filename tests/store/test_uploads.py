"""Uploads to a real S3 server: round trips, multipart, sha256 checks, idempotence, the overwrite rule."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import pytest

from kubegym.devcluster import minio
from kubegym.store import errors, keys
from tests.store.conftest import SMALL_PARTS, admin, make_store

KEY = keys.attempt_key("run", "run-task-agent-s0-0a1b2c3d", 0, keys.RESULTS)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_file_goes_up_and_comes_back(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket)
    source = write(tmp_path / "results.json", b'{"score": 0.9}\n')
    log = write(tmp_path / "agent.log", b"step 1\n")
    log_key = keys.attempt_key("run", "run-task-agent-s0-0a1b2c3d", 0, "agent.log")

    assert store.put_file(KEY, source) == "uploaded"
    assert store.put_file(log_key, log) == "uploaded"

    assert store.list_keys() == sorted([KEY, log_key])
    assert log_key.endswith("/attempt-0/logs/agent.log")
    assert store.read_bytes(KEY) == source.read_bytes()
    info = store.stat(KEY)
    assert info is not None and info.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    head = admin(s3_server).head_object(Bucket=bucket, Key=f"kubegym/{KEY}", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == info.sha256
    assert (
        head["ChecksumSHA256"]
        == base64.b64encode(hashlib.sha256(source.read_bytes()).digest()).decode()
    )

    copied = store.download(tmp_path / "copy")
    assert [p.read_bytes() for p in copied] == [store.read_bytes(k) for k in sorted([KEY, log_key])]
    with pytest.raises(FileNotFoundError):
        store.read_bytes("run/nothing-here")


def test_a_large_file_goes_up_in_parts(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket, transfer=SMALL_PARTS)
    data = os.urandom(12 * 1024 * 1024)  # 5 + 5 + 2 MiB
    source = write(tmp_path / keys.WORKSPACE, data)
    key = keys.attempt_key("run", "trial", 0, keys.WORKSPACE)

    assert store.put_file(key, source) == "uploaded"

    info = store.stat(key)
    assert info is not None and info.etag is not None and info.etag.endswith("-3")
    head = admin(s3_server).head_object(Bucket=bucket, Key=f"kubegym/{key}", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"].endswith("-3")  # the server's own checksum of the 3 parts
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    target = tmp_path / "back" / "workspace.tar.gz"
    store.download(tmp_path / "back2", prefix="run/")
    assert (tmp_path / "back2" / key).read_bytes() == data
    assert not target.exists()


def test_uploading_the_same_bytes_again_changes_nothing(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket)
    source = write(tmp_path / "results.json", b"same\n")
    store.put_file(KEY, source)
    before = admin(s3_server).head_object(Bucket=bucket, Key=f"kubegym/{KEY}")
    time.sleep(1.1)  # S3's Last-Modified has one-second steps

    assert store.put_file(KEY, source) == "unchanged"
    os.utime(source, (time.time() + 60, time.time() + 60))
    assert store.put_file(KEY, source, policy="newer") == "unchanged"

    after = admin(s3_server).head_object(Bucket=bucket, Key=f"kubegym/{KEY}")
    assert after["LastModified"] == before["LastModified"]


def test_an_attempts_artifact_is_never_replaced(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket)
    store.put_file(KEY, write(tmp_path / "a.json", b'{"score": 0.9, "steps": 12}\n'))

    with pytest.raises(errors.OverwriteRefused, match="written once"):
        store.put_file(KEY, write(tmp_path / "b.json", b"{}\n"))

    assert store.read_bytes(KEY) == b'{"score": 0.9, "steps": 12}\n'


def test_a_rollup_is_replaced_by_a_newer_file_only(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket)
    key = keys.run_key("run", keys.LEADERBOARD)
    store.put_file(key, write(tmp_path / "v1.json", b'{"trials": 1}'), policy="newer", mtime=100.0)

    assert (
        store.put_file(
            key, write(tmp_path / "v2.json", b'{"trials": 2}'), policy="newer", mtime=200.0
        )
        == "uploaded"
    )
    with pytest.raises(errors.OverwriteRefused, match="newer"):
        store.put_file(key, tmp_path / "v1.json", policy="newer", mtime=100.0)

    assert store.read_bytes(key) == b'{"trials": 2}'


def test_reading_an_object_whose_bytes_do_not_match_its_sha256_fails(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_server, bucket)
    wrong = hashlib.sha256(b"something else").hexdigest()
    admin(s3_server).put_object(
        Bucket=bucket, Key=f"kubegym/{KEY}", Body=b"tampered", Metadata={"sha256": wrong}
    )

    with pytest.raises(errors.ChecksumMismatch):
        store.read_bytes(KEY)
    with pytest.raises(errors.ChecksumMismatch):
        store.download(tmp_path / "copy")
    assert not (tmp_path / "copy" / KEY).exists()


def test_a_reader_opens_a_run_by_its_uri(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubegym import store as kstore

    writer = make_store(s3_server, bucket, prefix="kubegym")
    writer.put_file(keys.run_key("run", keys.RESULTS_CSV), write(tmp_path / "r.csv", b"trial\n"))
    writer.put_file(keys.run_key("run2", keys.RESULTS_CSV), write(tmp_path / "r2.csv", b"other\n"))
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)

    reader = kstore.open_uri(f"s3://{bucket}/kubegym/run")

    assert reader.list_keys() == [keys.RESULTS_CSV]
    assert reader.read_bytes(keys.RESULTS_CSV) == b"trial\n"


def test_uploads_are_counted_in_the_store_metrics(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    from kubegym import metrics

    def sample(name: str) -> float:
        value = metrics.REGISTRY.get_sample_value(name, {"backend": "s3"})
        return value or 0.0

    before = sample("kubegym_store_upload_bytes_total")
    count = sample("kubegym_store_upload_duration_seconds_count")
    store = make_store(s3_server, bucket)
    data = b"x" * 12345
    assert store.put_file(KEY, write(tmp_path / "results.json", data)) == "uploaded"
    assert sample("kubegym_store_upload_bytes_total") - before == len(data)
    assert sample("kubegym_store_upload_duration_seconds_count") - count == 1
