"""The pause image built here holds a container up, stops cleanly and reaps orphans.

Each test unpacks the image from the cache's OCI layout into a runtime bundle
(``umoci unpack``) and runs it with runc, the way a node's containerd would.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kubegym import images

from .conftest import Runc, unpack, write_config

pytestmark = pytest.mark.images


def _wait_running(runc: Runc, name: str, process: subprocess.Popen[str]) -> int:
    """The container's host pid once runc says it is running."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            state = runc.state_of(name)
        except subprocess.CalledProcessError:
            state = {}
        if state.get("status") == "running":
            return int(state["pid"])
        time.sleep(0.05)
    raise AssertionError(f"{name} never ran")


def test_the_image_is_the_static_binary_alone(built: images.Lock, tmp_path: Path) -> None:
    pause = built.image(images.PAUSE)
    config = unpack(pause, tmp_path / "bundle")
    rootfs = tmp_path / "bundle" / "rootfs"
    assert sorted(p.name for p in rootfs.iterdir()) == ["pause"]
    assert config["process"]["args"] == ["/pause"]
    # Kubernetes' own pause runs as 65535 too: no root needed to hold namespaces.
    assert config["process"]["user"] == {"uid": 65535, "gid": 65535}
    kind = subprocess.run(["file", str(rootfs / "pause")], capture_output=True, text=True)
    if kind.returncode == 0:
        assert "statically linked" in kind.stdout


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_stays_up_until_told_to_stop_then_exits_0(
    built: images.Lock, tmp_path: Path, runc: Runc, stop: signal.Signals
) -> None:
    config = unpack(built.image(images.PAUSE), tmp_path / "bundle")
    write_config(tmp_path / "bundle", config)
    name, process = runc.start(tmp_path / "bundle")
    _wait_running(runc, name, process)
    time.sleep(1.0)
    assert process.poll() is None, "pause exited by itself"
    subprocess.run(runc.command("kill", name, stop.name), check=True)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"{stop.name}, exiting" in err


def _zombies_of(pid: int) -> list[int]:
    """The zombie processes whose parent is ``pid`` (host pids, from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _orphans_in(runc: Runc, name: str) -> None:
    """Start two short children in the container whose parent exits at once: orphans of PID 1."""
    subprocess.run(
        runc.command("exec", name, "/bin/sh", "-c", "sleep 0.2 & sleep 0.2 & exit 0"),
        check=True,
        timeout=20,
    )
    time.sleep(1.5)


@pytest.mark.parametrize(
    ("init", "reaps"), [(["/pause"], True), (["/bin/sleep", "60"], False)], ids=["pause", "sleep"]
)
def test_as_pid_1_it_reaps_the_orphans_a_plain_sleep_leaves_as_zombies(
    built: images.Lock, tmp_path: Path, runc: Runc, init: list[str], reaps: bool
) -> None:
    # The data base's busybox gives the container a shell to make orphans with; the
    # pause binary comes from the pause image. The `sleep` case shows the check can fail.
    bundle = tmp_path / "bundle"
    config = unpack(built.image(images.DATA_BASE), bundle)
    unpack(built.image(images.PAUSE), tmp_path / "pause")
    shutil.copy2(tmp_path / "pause" / "rootfs" / "pause", bundle / "rootfs" / "pause")
    config["process"]["args"] = init
    write_config(bundle, config)
    name, process = runc.start(bundle)
    pid = _wait_running(runc, name, process)
    _orphans_in(runc, name)
    zombies = _zombies_of(pid)
    assert (zombies == []) if reaps else (len(zombies) == 2), zombies
    subprocess.run(runc.command("kill", name, "KILL"), check=False)
    process.communicate(timeout=20)
