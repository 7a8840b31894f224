"""Fixtures for the image tests: real builds with buildah, real containers with runc.

The session's images come from `kubegym.images.ensure`, the code behind ``make
node-images``, in the same cache (``$KUBEGYM_CACHE/images``): a cold cache builds the
Debian bases and the pause image (about half a minute), a warm one skips them in
well under a second. Each test is marked ``images`` and skipped, with the reason,
where buildah cannot build (not root, a tool missing) or ``KUBEGYM_SKIP_IMAGE_TESTS``
is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym import images
from kubegym.devcluster import realnode

#: The images these tests build and run.
BUILT = (images.PYTHON_BASE, images.DATA_BASE, images.PAUSE)


def _skip_reason() -> str | None:
    if os.environ.get("KUBEGYM_SKIP_IMAGE_TESTS"):
        return "KUBEGYM_SKIP_IMAGE_TESTS is set"
    problem = images.cannot_build()
    if problem is not None:
        return f"cannot build images here: {problem}"
    absent = [tool for tool in ("umoci", "runc", "skopeo") if shutil.which(tool) is None]
    if absent:
        return f"missing {', '.join(absent)} (Debian: apt-get install {' '.join(absent)})"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    if reason:
        for item in items:
            if "images" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> images.Lock:
    """The lock of `BUILT`, ensured once per session in the shared cache."""
    lock = tmp_path_factory.mktemp("images") / "images.lock.yaml"
    return images.ensure(BUILT, images.BuildSettings(lock_path=lock))


def unpack(image: images.LockedImage, bundle: Path) -> dict[str, Any]:
    """An OCI runtime bundle of ``image`` (``umoci unpack``); its config, for editing."""
    layout_ref = image.oci.removeprefix("oci:")
    subprocess.run(
        ["umoci", "unpack", "--image", layout_ref, str(bundle)], check=True, capture_output=True
    )
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    return config


def write_config(bundle: Path, config: dict[str, Any]) -> None:
    (bundle / "config.json").write_text(json.dumps(config))


class Runc:
    """runc with its own state folder; every container it starts is deleted at the end."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.started: list[str] = []

    def command(self, *args: str) -> list[str]:
        return ["runc", "--root", str(self.state), *args]

    def start(self, bundle: Path) -> tuple[str, subprocess.Popen[str]]:
        """``runc run`` in the foreground: the Popen's exit status is the container's."""
        name = f"kubegym-test-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        process = subprocess.Popen(
            self.command("run", "--bundle", str(bundle), name),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return name, process

    def state_of(self, name: str) -> dict[str, Any]:
        out = subprocess.run(
            self.command("state", name), capture_output=True, text=True, check=True
        )
        state: dict[str, Any] = json.loads(out.stdout)
        return state

    def run(self, bundle: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        _, process = self.start(bundle)
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def cleanup(self) -> None:
        for name in self.started:
            subprocess.run(self.command("delete", "--force", name), capture_output=True)


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    problem = realnode.runc_problem()
    if problem is not None:
        pytest.skip(f"no containers on this machine: {problem}")
    runner = Runc(tmp_path / "runc-state")
    try:
        yield runner
    finally:
        runner.cleanup()
