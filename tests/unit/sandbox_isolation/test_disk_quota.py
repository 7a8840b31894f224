"""The workspace quota's life cycle: files kept across apply and release, a quota left
mounted by a killed run reclaimed before the workspace is reused, and one whose run was
killed and never resumed swept at the next sandbox start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
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


_HOLDER = """
import sys, time
from pathlib import Path
from kubegym.sandbox import quota
workspace = Path(sys.argv[1])
disk = quota.apply(workspace, 16 << 20, owner=None, name=workspace.name)
(workspace / "made.txt").write_text(workspace.name)
print(disk.image, flush=True)
time.sleep(600)
"""


def _hold(workspace: Path, tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process that puts ``workspace`` under a quota and lives on; and the quota's image."""
    workspace.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(workspace)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert holder.stdout is not None
    image = Path(holder.stdout.readline().strip())
    assert image.is_file() and os.path.ismount(workspace), "the holder failed to mount"
    return holder, image


def test_a_killed_runs_quota_is_swept_at_the_next_start_and_a_live_ones_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack on the host's resources: a run that applied a quota is SIGKILLed and never
    resumed, its image left mounted. Guarantee: the next sandbox start on this machine
    puts the files back in a plain folder and deletes the image; a live run's mount (the
    same kind of folder, its owner alive) is untouched."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # this test's images, nobody else's
    killed_ws, live_ws, next_ws = tmp_path / "killed", tmp_path / "live", tmp_path / "next"
    killed, killed_image = _hold(killed_ws, tmp)
    live, live_image = _hold(live_ws, tmp)
    try:
        killed.kill()
        killed.wait()
        assert os.path.ismount(killed_ws), "a SIGKILLed owner leaves its mount behind"

        next_ws.mkdir()
        disk = quota.apply(next_ws, 16 << 20, owner=None, name="next")  # the next start
        assert disk is not None and disk.mechanism == "loop-ext4"
        assert not os.path.ismount(killed_ws) and not killed_image.parent.exists()
        assert (killed_ws / "made.txt").read_text() == "killed"
        assert os.path.ismount(live_ws) and live_image.is_file()
        assert (live_ws / "made.txt").read_text() == "live"
        disk.release()
        assert quota.sweep() == [], "a live owner's quota is never swept"
        assert os.path.ismount(live_ws)
    finally:
        live.kill()
        live.wait()
        killed.kill()
        killed.wait()
    assert quota.sweep() == [live_image.parent]
    assert not os.path.ismount(live_ws) and (live_ws / "made.txt").read_text() == "live"


def test_an_owner_record_whose_pid_was_reused_is_dead(tmp_path: Path) -> None:
    """A pid reused by a later process does not keep a dead run's mount alive."""
    folder = tmp_path / "kubegym-disk-reused"
    folder.mkdir()
    me = os.getpid()
    start = quota._start_time(me)
    assert start is not None
    record = {"pid": me, "start": start - 1, "workspace": str(tmp_path / "gone")}
    (folder / quota.OWNER).write_text(json.dumps(record))
    (folder / "workspace.ext4").write_bytes(b"")  # never mounted
    assert quota.sweep(tmp_path) == [folder] and not folder.exists()


def test_folders_without_an_owner_record_are_not_judged(tmp_path: Path) -> None:
    folder = tmp_path / "kubegym-disk-older"
    folder.mkdir()
    (folder / "workspace.ext4").write_bytes(b"")
    assert quota.sweep(tmp_path) == [] and folder.exists()


def test_a_planted_folder_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    """Attack on the sweep (a shared /tmp): a ``kubegym-disk-*`` link to a folder with a
    dead owner's record. Guarantee: the sweep neither follows nor deletes it."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / quota.OWNER).write_text(json.dumps({"pid": 2**22 + 1, "start": 1}))
    (target / "keep.txt").write_text("keep")
    (tmp_path / "kubegym-disk-planted").symlink_to(target)
    assert quota.sweep(tmp_path) == []
    assert (target / "keep.txt").read_text() == "keep"
