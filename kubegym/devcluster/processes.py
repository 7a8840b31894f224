"""Starting and stopping the development cluster's processes, tracked by pid files.

Each process runs in its own session with its output in ``<state>/logs/<name>.log``
and its pid in ``<state>/pids/<name>.pid`` next to the binary's path, so `stop_all`
stops exactly what `start` started and never an unrelated process that reused a pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubegym import errors

#: Every port `free_port` has handed out in this process: none is handed out twice.
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, and never one this process was given before.

    The port is only picked here; the component that listens on it starts later, and until
    then the kernel may give the same port to the next caller. A control plane picks six
    at once, and a CI run once started etcd and kube-controller-manager on one port (the
    controller manager could not listen, and every cluster test errored).

    Raises:
        RuntimeError: no new port in 100 tries.
    """
    with _HANDED_OUT_LOCK:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError("the kernel offered only ports handed out before, 100 times")


def start(
    state_dir: Path,
    name: str,
    args: list[str],
    env: dict[str, str] | None = None,
    binary: str | None = None,
) -> int:
    """Start ``args`` in the background as ``name``; return its pid.

    Args:
        state_dir: the cluster's state folder (``pids/`` and ``logs/`` live there).
        name: the component (``etcd``, ``kube-apiserver``…), used for file names.
        args: the command line, the binary's absolute path first.
        env: variables added to this process's environment.
        binary: the program the process ends up running when ``args`` starts a launcher
            that execs it (`recorded` knows a process by its binary).

    Returns:
        The pid, also written to ``<state>/pids/<name>.pid``.
    """
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    (state_dir / "pids").mkdir(parents=True, exist_ok=True)
    with open(state_dir / "logs" / f"{name}.log", "ab") as log_file:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=state_dir,
            env={**os.environ, **(env or {})},
        )
    (state_dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n{binary or args[0]}\n")
    # What `restart` needs to start the same process again; the pid file keeps its old shape.
    command = {"args": args, "env": env or {}, "binary": binary}
    (state_dir / "pids" / f"{name}.command.json").write_text(json.dumps(command) + "\n")
    return proc.pid


def restart(state_dir: Path, name: str, timeout: float = 10.0) -> int:
    """Stop the process recorded as ``name`` and start it again with the same command line.

    For chaos runs (bench/operator_chaos.py restarts kube-apiserver and etcd in place):
    same ports, same data, same log file (appended to).

    Returns:
        The new pid.

    Raises:
        ConfigError: ``name`` was never started from ``state_dir``.
    """
    path = state_dir / "pids" / f"{name}.command.json"
    if not path.is_file():
        raise errors.ConfigError(f"no process {name!r} was started from {state_dir}", field="name")
    command = json.loads(path.read_text())
    stop(state_dir, name, timeout)
    return start(state_dir, name, command["args"], command["env"], command["binary"])


def _is_ours(pid: int, binary: str) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.removesuffix(" (deleted)") == os.path.realpath(binary)


def recorded(state_dir: Path) -> dict[str, int]:
    """The processes recorded in ``<state>/pids`` that are still running: name → pid."""
    result: dict[str, int] = {}
    pid_dir = state_dir / "pids"
    if not pid_dir.is_dir():
        return result
    for pid_file in sorted(pid_dir.glob("*.pid")):
        lines = pid_file.read_text().split("\n")
        if len(lines) >= 2 and lines[0].strip().isdigit():
            pid = int(lines[0])
            if _is_ours(pid, lines[1].strip()):
                result[pid_file.stem] = pid
    return result


def _reap(pid: int) -> bool:
    """True once ``pid`` is gone (reaping it when it is our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    return not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def stop(state_dir: Path, name: str, timeout: float = 10.0) -> bool:
    """Stop the process recorded as ``name`` (SIGTERM, then SIGKILL); remove its pid file.

    Returns:
        True when a running process was stopped.
    """
    pid_file = state_dir / "pids" / f"{name}.pid"
    pid = recorded(state_dir).get(name)
    stopped = False
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _reap(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.05)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


def stop_all(state_dir: Path, order: list[str]) -> list[str]:
    """Stop every recorded process, ``order`` first (reverse start order), then any other.

    Returns:
        The names of the processes that were running and are now stopped.
    """
    pid_dir = state_dir / "pids"
    names = [n for n in order if (pid_dir / f"{n}.pid").exists()]
    if pid_dir.is_dir():
        names += sorted(p.stem for p in pid_dir.glob("*.pid") if p.stem not in names)
    return [name for name in names if stop(state_dir, name)]


def wait_ready(
    what: str, check: Callable[[], bool], timeout: float, state_dir: Path, log: str
) -> None:
    """Wait until ``check()`` holds; give up early when the process ``log`` names has exited.

    Raises:
        InfraError: ``ClusterNotReady``, with the last lines of ``<state>/logs/<log>.log``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if log and log not in recorded(state_dir):
            break
        time.sleep(0.2)
    tail = ""
    log_path = state_dir / "logs" / f"{log}.log"
    if log and log_path.exists():
        tail = "; last log lines: " + " | ".join(
            log_path.read_text(errors="replace").splitlines()[-5:]
        )
    raise errors.InfraError("ClusterNotReady", f"{what} not ready after {timeout:.0f}s{tail}")
