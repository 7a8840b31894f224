"""A real node's teardown leaves no pod process behind, even one whose shim died first."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubegym.devcluster.realnode import lifecycle

OURS = "2bc3c3ba-fd5d-4da7-b3c5-d17eee41dde2"
THEIRS = "9f0e1d2c-3b4a-5968-7766-554433221100"


def fake_proc(tmp_path: Path, cgroups: dict[int, str]) -> Path:
    """A /proc with each pid's ``cgroup`` file saying what the test says."""
    proc = tmp_path / "proc"
    for pid, text in cgroups.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cgroup").write_text(text)
    (proc / "self").mkdir()
    return proc


def in_pod(uid: str) -> str:
    container = "51bbbf341cd0c60dacdfb1081b97a68ccc465d993429e4d1853275a9ecda4a70"
    return (
        f"9:name=systemd:/kubepods/burstable/pod{uid}/{container}\n"
        f"8:pids:/kubepods/burstable/pod{uid}/{container}\n"
    )


def test_processes_of_this_nodes_pods_are_killed_and_no_other(tmp_path: Path) -> None:
    node = tmp_path / "node"
    (node / "kubelet" / "pods" / OURS).mkdir(parents=True)
    orphan = subprocess.Popen(["sleep", "300"])  # a container re-parented to init
    other_pod = subprocess.Popen(["sleep", "300"])  # a pod this node never ran
    host = subprocess.Popen(["sleep", "300"])  # the host's own
    try:
        proc = fake_proc(
            tmp_path,
            {
                orphan.pid: in_pod(OURS),
                other_pod.pid: in_pod(THEIRS),
                host.pid: "9:name=systemd:/user.slice\n8:pids:/\n",
            },
        )
        assert lifecycle._kill_container_processes(node, proc) == [orphan.pid]
        assert orphan.wait(timeout=10) == -9
        assert other_pod.poll() is None and host.poll() is None
    finally:
        for process in (orphan, other_pod, host):
            process.kill()
            process.wait()


def test_a_node_that_ran_no_pod_kills_nothing(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        proc = fake_proc(tmp_path, {bystander.pid: in_pod(OURS)})
        assert lifecycle._kill_container_processes(tmp_path / "node", proc) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
