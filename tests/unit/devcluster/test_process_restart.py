"""`processes.restart`: the chaos script restarts kube-apiserver and etcd in place with it.

A restarted process is a new process with the same command line and environment, recorded
under the same name; the old one is gone; a name never started is refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kubegym import errors
from kubegym.devcluster import processes
from tests.support.kube import wait_for


def test_a_restart_starts_the_same_command_again_and_stops_the_old_one(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    old = processes.start(tmp_path, "sleeper", [sleep, "600"], env={"KUBEGYM_MARK": "m1"})
    try:
        new = processes.restart(tmp_path, "sleeper")
        assert new != old
        assert processes.recorded(tmp_path) == {"sleeper": new}
        assert not os.path.exists(f"/proc/{old}") or processes._is_zombie(old)
        # Popen returns once the child's exec has closed its close-on-exec pipe, a moment
        # before the kernel has laid out the new program's arguments: until then /proc shows
        # an empty command line (the CI of 0b6e79d read one), so wait for it to be filled.
        cmdline = wait_for(lambda: Path(f"/proc/{new}/cmdline").read_bytes(), timeout=5)
        assert cmdline.split(b"\0")[:2] == [sleep.encode(), b"600"]
        environ = wait_for(lambda: Path(f"/proc/{new}/environ").read_bytes(), timeout=5)
        assert b"KUBEGYM_MARK=m1" in environ.split(b"\0")
    finally:
        processes.stop(tmp_path, "sleeper")
    assert processes.recorded(tmp_path) == {}


def test_a_name_never_started_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="no process 'etcd'"):
        processes.restart(tmp_path, "etcd")
