"""A shell session's processes, read from /proc: its tree, its session's orphans, the ones
that carry its tag, and which of them a command started.

`kubegym.sandbox.session.Session` kills a timed-out command's processes with these, then
its whole session, and finds processes that escaped both (``setsid`` after a double fork)
by the `SESSION_ENV` tag they inherit. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

SESSION_ENV = "KUBEGYM_SANDBOX_SESSION"
"""A random tag in the shell's environment: it finds, on a timeout, the processes that left
the shell's session and process tree (``setsid`` after a double fork) but kept the variable."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mark:
    """What was running when a command started, to tell its processes from older ones."""

    tick: int
    """The boot-time clock tick (``/proc/PID/stat`` start time unit) when it started."""
    jobs: frozenset[int]
    """The shell's children then: background jobs of earlier commands."""


def mark(shell_pid: int) -> Mark:
    """The `Mark` of a command the shell ``shell_pid`` starts now."""
    return Mark(tick=boot_ticks() - 1, jobs=frozenset(children(shell_pid)))


def command_pids(shell_pid: int, tag: str, since: Mark | None) -> set[int]:
    """The live processes of the shell's session but the shell; with a mark, only the command's.

    The command's processes are the shell's descendants outside the subtrees of the
    background jobs that were running when it started, and the orphans (re-parented
    out of the tree) that started after it.
    """
    pids = tree(shell_pid, tag) - {shell_pid}
    if since is not None:
        below = subtree([shell_pid])
        new = subtree([shell_pid], skip=since.jobs)
        pids = {p for p in pids if p in new or (p not in below and start_tick(p) >= since.tick)}
    return {p for p in pids if alive(p)}


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def start_tick(pid: int) -> int:
    """When the process started, in clock ticks since boot; -1 when it is gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else -1


def boot_ticks() -> int:
    """Clock ticks since boot, now."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLOCK_TICKS)


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (killing a zombie does nothing)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The process's children (of all its threads)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def session_members(sid: int) -> list[int]:
    """Every process whose session id is ``sid`` (stays correct for orphans)."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields and int(fields[3]) == sid:
                members.append(int(name))
    return members


def tagged(tag: str) -> list[int]:
    """Every process (of ours) whose environment holds the session's tag."""
    entry = f"\0{SESSION_ENV}={tag}\0".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if entry in b"\0" + f.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


def subtree(roots: Iterable[int], skip: Iterable[int] = ()) -> set[int]:
    """The roots and their descendants, leaving out the subtrees under ``skip``."""
    seen: set[int] = set(skip)
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children(pid))
    return seen - set(skip)


def tree(shell_pid: int, tag: str) -> set[int]:
    """The shell, its descendants (even those that called setsid), its session's orphans and
    the processes that carry its tag (orphans that also left the session)."""
    return subtree([shell_pid, *session_members(shell_pid), *tagged(tag)]) - {os.getpid()}


def kill(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids``; gone or foreign ones are skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
