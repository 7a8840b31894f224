"""A second build with nothing changed skips every image in seconds; a wiped store is refilled
from the OCI layout with the same digest, not rebuilt."""

from __future__ import annotations

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
