"""The folder backend, the overwrite rule, checksums and the spool, without a server."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.store import FolderStore, base, checksums, errors, from_spec, open_uri, spool


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_files_go_in_and_come_back(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    source = write(tmp_path / "r.json", b"{}")

    assert store.put_file("run/t/attempt-0/results.json", source) == "uploaded"
    assert store.put_file("run/t/attempt-0/results.json", source) == "unchanged"
    assert store.put_file("run/results.csv", write(tmp_path / "c", b"a\n")) == "uploaded"

    assert store.list_keys() == ["run/results.csv", "run/t/attempt-0/results.json"]
    assert store.list_keys("run/t/") == ["run/t/attempt-0/results.json"]
    assert store.read_bytes("run/results.csv") == b"a\n"
    info = store.stat("run/t/attempt-0/results.json")
    assert info is not None and info.sha256 == hashlib.sha256(b"{}").hexdigest()
    copied = store.download(tmp_path / "copy", "run/t/")
    assert [p.relative_to(tmp_path / "copy").as_posix() for p in copied] == [
        "run/t/attempt-0/results.json"
    ]
    with pytest.raises(ValueError):
        store.put_file("../outside", source)


def test_the_overwrite_rule() -> None:
    stored = base.ObjectInfo("k", 10, "aa", mtime=100.0)
    assert base.decide(None, base.ObjectInfo("k", 1, "bb"), "once", "k")
    assert not base.decide(stored, base.ObjectInfo("k", 10, "aa", 500.0), "once", "k")
    with pytest.raises(errors.OverwriteRefused):
        base.decide(stored, base.ObjectInfo("k", 99, "bb", 500.0), "once", "k")
    assert base.decide(stored, base.ObjectInfo("k", 5, "bb", 200.0), "newer", "k")
    with pytest.raises(errors.OverwriteRefused):
        base.decide(stored, base.ObjectInfo("k", 99, "bb", 50.0), "newer", "k")


def test_a_folder_store_refuses_to_replace_an_attempts_file(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    store.put_file("run/t/attempt-0/results.json", write(tmp_path / "a", b"long content"))

    with pytest.raises(errors.OverwriteRefused):
        store.put_file("run/t/attempt-0/results.json", write(tmp_path / "b", b"x"))
    assert store.read_bytes("run/t/attempt-0/results.json") == b"long content"


def test_multipart_checksums_are_the_sha256_of_the_parts_digests(tmp_path: Path) -> None:
    data = os.urandom(2500)
    path = write(tmp_path / "f", data)
    parts = [data[0:1000], data[1000:2000], data[2000:]]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()

    digest = checksums.digest_file(path, part_size=1000)
    single = checksums.digest_file(path)

    assert digest.parts == 3 and digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.s3_checksum == base64.b64encode(composite).decode() + "-3"
    assert single.s3_checksum == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_later_spool_entry_for_a_key_replaces_the_earlier(tmp_path: Path) -> None:
    waiting = spool.Spool(tmp_path / "spool")
    first = waiting.add("run/leaderboard.json", write(tmp_path / "a", b"1"), "newer")
    second = waiting.add("run/leaderboard.json", write(tmp_path / "b", b"22"), "newer")

    assert [e.token for e in waiting.entries()] == [second.token]
    assert not waiting.remove(first)  # an upload of the old copy does not drop the new one
    assert waiting.data_path(second).read_bytes() == b"22"
    assert waiting.remove(second) and waiting.entries() == []


def test_stores_are_built_from_a_run_spec_or_a_uri(tmp_path: Path) -> None:
    local = from_spec(runs.Store(local=runs.LocalStore(path="out")), base_dir=tmp_path)
    assert isinstance(local, FolderStore) and local.root == (tmp_path / "out").resolve()
    assert isinstance(open_uri(str(tmp_path)), FolderStore)
    secret = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
    s3 = from_spec(
        runs.Store(s3=runs.S3Store(bucket="bucket", prefix="p/", endpoint="http://127.0.0.1:9")),
        secret=secret,
    )
    assert s3.uri == "s3://bucket/p"
    assert open_uri("s3://bucket/a/run", secret=secret).uri == "s3://bucket/a/run"
    with pytest.raises(ConfigError):
        open_uri("gs://bucket/run")
