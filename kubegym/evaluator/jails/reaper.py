"""Killing every process below one: the jail server's last word on agent code.

Agent code may double-fork or ``setsid`` out of its jail's session; the jail server is
their subreaper (and PID 1 in a pod), so they come back below it. The server calls
`kill_descendants` once no evaluation is open, and when it shuts down.
"""

from __future__ import annotations

import contextlib
import os
import signal


def kill_descendants(pid: int | None = None) -> list[int]:
    """SIGKILL every process below ``pid`` (default: this one) and reap our dead children.

    Returns:
        The pids killed.
    """
    me = os.getpid() if pid is None else pid
    killed: list[int] = []
    for _ in range(20):  # a process may fork between a scan and its kill: scan again
        _reap()
        found = _below(me)
        if not found:
            break
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
                killed.append(child)
    _reap()
    return killed


def _below(pid: int) -> list[int]:
    """Live processes whose ancestry reaches ``pid`` (zombies left out)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
