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

import atexit
import functools
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


@functools.cache
def other_uid_possible() -> bool:
    """Root, with a system Python of this minor version that, as `JAIL_UID`, imports the
    project from where it lies (a clone inside a private 0700 folder does not qualify)."""
    if os.geteuid() != 0 or not SYSTEM_PYTHON.exists():
        return False
    check = f"import sys; assert sys.version_info[:2] == {tuple(sys.version_info[:2])}; "
    check += "import kubegym.evaluator.jails"
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", check],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.defpath, "PYTHONPATH": _other_uid_path()},
        cwd="/",
        user=JAIL_UID,
        group=JAIL_UID,
        extra_groups=[],
    )
    return found.returncode == 0


@functools.cache
def _other_uid_path() -> str:
    """The project and the packages the jail server imports, for the system Python.

    Where the project lies inside a folder no other uid may enter (a clone under a 0700
    temporary folder, as CI may make), they are copied once into a readable folder.
    """
    here = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    if all(_world_reachable(Path(p)) for p in here.split(os.pathsep)):
        return here
    staged = Path(tempfile.mkdtemp(prefix="kg-jail-python-", dir="/tmp"))
    atexit.register(shutil.rmtree, staged, ignore_errors=True)
    staged.chmod(0o755)
    listing = subprocess.run(
        [sys.executable, "-c", _LIST_IMPORTS], capture_output=True, text=True, check=True
    )
    for source in json.loads(listing.stdout):
        origin = Path(source)
        target = staged / origin.name
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, target)
    for path in [staged, *staged.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(staged)


# Prints the top-level package folders (or module files) outside the standard library that
# importing the jail server loads.
_LIST_IMPORTS = """
import json, sys
from pathlib import Path
import kubegym.evaluator.jails
found = set()
for name, module in list(sys.modules.items()):
    top = name.split(".")[0]
    file = getattr(module, "__file__", None)
    if top in sys.stdlib_module_names or not file or name != top:
        continue
    path = Path(file).resolve()
    found.add(str(path.parent if path.name == "__init__.py" else path))
print(json.dumps(sorted(found)))
"""


def _world_reachable(path: Path) -> bool:
    """Whether every folder down to ``path`` lets other users through (o+x)."""
    resolved = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [*reversed(resolved.parents), resolved])


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
        env["PYTHONPATH"] = _other_uid_path()
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
