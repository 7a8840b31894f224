"""Locked images pushed into a real registry keep the lock's digests, and can be pulled by them.

The registry is Debian's docker-registry (the distribution project's server), started
on a free loopback port with its storage in the test's folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym import images
from kubegym.devcluster.processes import free_port
from kubegym.images import _lock

pytestmark = pytest.mark.images

PUSHED = (images.PAUSE, images.PYTHON_BASE)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """``host:port`` of a docker-registry serving plain HTTP on loopback."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is missing (Debian: apt-get install docker-registry)")
    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "registry.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
                "http": {"addr": address},
            }
        )
    )
    log = (tmp_path / "registry.log").open("w")
    server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry never answered"
            time.sleep(0.1)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _inspect(reference: str, *flags: str) -> str:
    done = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *flags, f"docker://{reference}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_pushed_images_are_in_the_registry_by_the_locks_digest(
    built: images.Lock, registry: str
) -> None:
    pushed = images.push(built, registry, names=PUSHED)
    assert set(pushed) == set(PUSHED)
    for name in PUSHED:
        locked = built.image(name)
        assert pushed[name] == f"{registry}/{locked.path}@{locked.digest}"
        # By digest: the manifest the registry serves is the very one the lock names.
        raw = _inspect(pushed[name], "--raw")
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == locked.digest
        # By tag: the same image.
        by_tag = json.loads(_inspect(f"{registry}/{locked.path}:{locked.tag}"))
        assert by_tag["Digest"] == locked.digest


def test_a_lock_the_cache_no_longer_matches_is_refused_before_pushing(
    built: images.Lock, registry: str
) -> None:
    stale = built.model_copy(deep=True)
    entry = stale.images[images.PAUSE]
    entry.digest = "sha256:" + "0" * 64  # what an older build would have recorded
    with pytest.raises(images.ImageError, match="build again"):
        images.push(stale, registry, names=[images.PAUSE])
    # Nothing went to the registry under the stale name.
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog", timeout=5) as answer:
        assert json.loads(answer.read())["repositories"] == []


def test_the_push_command_line_prints_pullable_references(
    built: images.Lock, registry: str, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.yaml"
    _lock.write_lock(built, lock)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegym.images",
            "push",
            "--lock",
            str(lock),
            "--registry",
            registry,
            "--only",
            images.PAUSE,
        ],
        capture_output=True,
        text=True,
        cwd=images.REPO,
    )
    assert done.returncode == 0, done.stderr
    name, reference = done.stdout.strip().split("\t")
    assert name == images.PAUSE and reference.endswith(built.image(images.PAUSE).digest)
    json.loads(_inspect(reference))


def test_a_node_gets_the_pause_image_by_digest(registry: str, tmp_path: Path) -> None:
    reference = images.pushed_pause_image(registry, lock_path=tmp_path / "lock.yaml")
    locked = images.load_lock(tmp_path / "lock.yaml").image(images.PAUSE)
    assert reference == f"{registry}/kubegym/pause@{locked.digest}"
    assert json.loads(_inspect(reference))["Digest"] == locked.digest
