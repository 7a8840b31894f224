"""The workspace quota's life cycle: files kept across apply and release, and a quota left
mounted by a killed run reclaimed before the workspace is reused."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kubegym.sandbox import quota

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="an enforced quota needs root")


def test_files_survive_apply_and_release(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "a.txt").write_text("a")
    os.symlink("sub/a.txt", workspace / "link")
    disk = quota.apply(workspace, 64 << 20, owner=None, name="t")
    assert disk is not None and disk.mechanism == "loop-ext4" and os.path.ismount(workspace)
    assert sorted(os.listdir(workspace)) == ["link", "sub"]  # no lost+found for the agent
    (workspace / "b.txt").write_text("b")
    disk.release()
    disk.release()  # idempotent
    assert not os.path.ismount(workspace)
    assert (workspace / "b.txt").read_text() == "b"
    assert os.readlink(workspace / "link") == "sub/a.txt"
    assert disk.image is not None and not disk.image.exists()


def test_a_quota_left_by_a_killed_run_is_reclaimed(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    left = quota.apply(workspace, 64 << 20, owner=None, name="killed")  # never released
    assert left is not None and left.image is not None
    (workspace / "made.txt").write_text("kept")
    assert quota.reclaim(workspace) is True
    assert not os.path.ismount(workspace) and not left.image.exists()
    assert (workspace / "made.txt").read_text() == "kept"
    assert quota.reclaim(workspace) is False


def test_no_limit_means_no_quota(tmp_path: Path) -> None:
    assert quota.apply(tmp_path, None, owner=None, name="t") is None


def test_an_agents_fifo_and_socket_never_block_or_fail_the_release(tmp_path: Path) -> None:
    """Attack: the agent leaves a FIFO (a copy would block on it) and a socket in its
    workspace. Guarantee: the release finishes, every regular file is kept, the special
    files are dropped, and the image is gone."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    disk = quota.apply(workspace, 64 << 20, owner=None, name="fifo")
    assert disk is not None
    (workspace / "submission.csv").write_text("kept")
    os.mkfifo(workspace / "pipe")
    (workspace / "deep").mkdir()
    os.mkfifo(workspace / "deep" / "pipe")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(workspace / "sock"))
    listener.close()
    disk.release()
    assert not os.path.ismount(workspace)
    assert sorted(os.listdir(workspace)) == ["deep", "submission.csv"]
    assert (workspace / "submission.csv").read_text() == "kept"
    assert disk.image is not None and not disk.image.exists()
