"""A second build with nothing changed skips every image in seconds; a wiped store is refilled
from the OCI layout with the same digest, not rebuilt."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kubegym import images
from kubegym.images import _buildah

from .conftest import BUILT

pytestmark = pytest.mark.images


def _outcomes(err: str) -> dict[str, str]:
    found = {}
    for line in err.splitlines():
        # images: [1/3] python-base: unchanged in 0.0 s (sha256:…)
        if line.startswith("images: [") and " in " in line:
            name, _, rest = line.split("] ", 1)[1].partition(": ")
            found[name] = rest.split(" in ")[0]
    return found


def test_nothing_changed_nothing_built(
    built: images.Lock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    started = time.monotonic()
    again = images.ensure(BUILT, images.BuildSettings(lock_path=tmp_path / "lock.yaml"))
    took = time.monotonic() - started
    assert _outcomes(capsys.readouterr().err) == dict.fromkeys(BUILT, "unchanged")
    assert {n: i.digest for n, i in again.images.items()} == {
        n: built.image(n).digest for n in BUILT
    }
    assert took < 30, took
    # Every run is timed in the cache, skips included.
    times = (images.images_cache() / "times.jsonl").read_text().splitlines()
    assert len(times) >= len(BUILT)


def test_an_image_gone_from_the_store_comes_back_from_the_layout(
    built: images.Lock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _buildah.storage(images.images_cache())
    pause = built.image(images.PAUSE)
    subprocess.run(store.buildah("rmi", "--force", pause.reference), capture_output=True)
    assert pause.reference not in _buildah.images(store)
    capsys.readouterr()
    again = images.ensure([images.PAUSE], images.BuildSettings(lock_path=tmp_path / "lock.yaml"))
    assert _outcomes(capsys.readouterr().err) == {images.PAUSE: "restored"}
    assert again.image(images.PAUSE).digest == pause.digest
    assert pause.reference in _buildah.images(store)


def test_keep_going_builds_what_does_not_need_the_failure_then_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repository of two copies of polyfit, one whose dataset no longer matches its
    sha256: with ``keep_going`` the good data image (and pause) are built and locked,
    and the error names only the bad one. Another version tag keeps the shared cache's
    real images untouched."""
    repo = tmp_path / "repo"
    shutil.copytree(images.REPO / "task_images" / "base", repo / "task_images" / "base")
    shutil.copy(images.REPO / "Dockerfile", repo / "Dockerfile")
    polyfit = images.REPO / "examples" / "tasks" / "polyfit"
    for name in ("good", "bad"):
        folder = repo / "task_images" / name
        shutil.copytree(polyfit, folder, ignore=shutil.ignore_patterns("__pycache__"))
        text = (folder / "task.yaml").read_text().replace("name: polyfit", f"name: {name}")
        if name == "bad":
            train = images.task_bundles()["polyfit"].task.spec.datasets[0].sha256
            assert train is not None
            text = text.replace(train, "f" * 64)
        (folder / "task.yaml").write_text(text)
    settings = images.BuildSettings(
        version="0.0.0-keep-going",
        registry="localhost/kubegym-test",
        lock_path=tmp_path / "lock.yaml",
        repo=repo,
        revision="test",
        keep_going=True,
    )
    wanted = ["task-bad-data", "task-good-data", images.PAUSE]
    try:
        with pytest.raises(images.ImageError) as caught:
            images.ensure(wanted, settings)
        assert "task-bad-data" in str(caught.value)
        assert "task-good-data" not in str(caught.value)
        assert "FAILED" in capsys.readouterr().err
        lock = images.load_lock(tmp_path / "lock.yaml")
        assert set(lock.images) == {images.DATA_BASE, images.PAUSE, "task-good-data"}
    finally:
        store = _buildah.storage(images.images_cache())
        for build in images.planned(wanted, settings):
            subprocess.run(store.buildah("rmi", "--force", build.reference), capture_output=True)
