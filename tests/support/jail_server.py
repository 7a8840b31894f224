"""A jail server (``python -m kubegym.evaluator jail-serve``) as the sandbox pod's jail container
runs it: a separate process, as another uid when the tests run as root.

As another uid it runs on the system's Python (``/usr/bin/python3``, the same minor
version as the project's), with the project and its virtual environment on
``PYTHONPATH``: the project's own interpreter lives under root's home, which no other
uid may enter. The shared folder and the socket's folder lie outside pytest's private
temporary folder (root's hidden data stays where only root reaches it), as the two
emptyDirs the jail container mounts.

Used by ``tests/unit/evaluator/test_jails_remote.py`` and ``tests/attacks/test_cluster.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kubegym.evaluator import jails

REPO = Path(__file__).resolve().parents[2]
JAIL_UID = 1_999_990
"""The uid the jail server runs as when the tests run as root: no account uses it."""
SYSTEM_PYTHON = Path("/usr/bin/python3")


def other_uid_possible() -> bool:
    """Root, with a system Python of this minor version that another uid can run."""
    if os.geteuid() != 0 or not SYSTEM_PYTHON.exists():
        return False
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() == str(tuple(sys.version_info[:2]))


@dataclass
class JailServerProcess:
    """A running jail server, its `jails.Remote` and its folders."""

    process: subprocess.Popen[str]
    remote: jails.Remote
    root: Path
    uid: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def stderr(self) -> str:
        return (self.root / "server.stderr").read_text(errors="replace")


def start(mode: str = "process", other_uid: bool = True) -> JailServerProcess:
    """Start a jail server; as `JAIL_UID` when ``other_uid`` and `other_uid_possible`."""
    as_other = other_uid and other_uid_possible()
    root = Path(tempfile.mkdtemp(prefix="kg-jails-", dir="/tmp"))
    root.chmod(0o755)
    share, sock_dir, scratch = root / "share", root / "socket", root / "scratch"
    for folder in (share, sock_dir, scratch):
        folder.mkdir()
    share.chmod(0o755)  # written by the evaluator (us), read by the server
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}
    python = sys.executable
    uid = os.getuid()
    kwargs: dict[str, object] = {}
    if as_other:
        python = str(SYSTEM_PYTHON)
        site = sysconfig.get_paths()["purelib"]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), site])
        for folder in (sock_dir, scratch):
            os.chown(folder, JAIL_UID, JAIL_UID)
        kwargs = {"user": JAIL_UID, "group": JAIL_UID, "extra_groups": []}
        uid = JAIL_UID
    env["TMPDIR"] = str(scratch)
    argv = [python, "-m", "kubegym.evaluator", "jail-serve", "--socket", str(sock_dir / "s")]
    argv += ["--share", str(share), "--python", python, "--mode", mode]
    with (root / "server.stderr").open("w") as err:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd="/",
            **kwargs,  # type: ignore[call-overload]
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError("the jail server did not start: " + (root / "server.stderr").read_text())
    ready = json.loads(line)
    assert ready["ready"] is True
    return JailServerProcess(process, jails.Remote(sock_dir / "s", share), root, uid)
