"""A real node's teardown leaves no container process behind, even one whose shim died first."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubegym.devcluster.realnode import lifecycle


def fake_proc(tmp_path: Path, roots: dict[int, Path]) -> Path:
    """A /proc with each pid's ``root`` link pointing where the test says."""
    proc = tmp_path / "proc"
    for pid, root in roots.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "root").symlink_to(root)
    (proc / "self").mkdir()
    return proc


def test_processes_rooted_in_the_node_are_killed_and_no_other(tmp_path: Path) -> None:
    node = tmp_path / "node"
    rootfs = (
        node / "containerd-state" / "io.containerd.runtime.v2.task" / "k8s.io" / "c0" / "rootfs"
    )
    rootfs.mkdir(parents=True)
    orphan = subprocess.Popen(["sleep", "300"])  # a container re-parented to init
    bystander = subprocess.Popen(["sleep", "300"])  # the host's, or another node's
    try:
        proc = fake_proc(
            tmp_path, {orphan.pid: rootfs, bystander.pid: tmp_path / "elsewhere" / "rootfs"}
        )
        assert lifecycle._kill_container_processes(node, proc) == [orphan.pid]
        assert orphan.wait(timeout=10) == -9
        assert bystander.poll() is None
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()


def test_a_node_folder_that_merely_shares_a_prefix_is_not_the_node(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    (tmp_path / "node-old" / "rootfs").mkdir(parents=True)
    other = subprocess.Popen(["sleep", "300"])
    try:
        proc = fake_proc(tmp_path, {other.pid: tmp_path / "node-old" / "rootfs"})
        assert lifecycle._kill_container_processes(node, proc) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
