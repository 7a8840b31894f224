"""Resource limits for a local sandbox: memory, CPU and process count.

Owns the choice of mechanism and its bookkeeping: a per-sandbox cgroup (v2 where
a delegated subtree allows it, else v1 controllers we can write to, as root) or,
failing that, ``setrlimit`` in the child before it starts. Called only by
`kubegym.sandbox.isolation`, which reports what is in effect. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kubegym.errors import ConfigError

LimitMode = Literal["auto", "cgroup", "rlimit"]
"""How to enforce limits: ``auto`` (cgroup if writable, else rlimits), or force one."""

Mechanism = Literal["cgroup-v2", "cgroup-v1", "rlimit", "unenforced", "unset"]
"""What enforces one limit. ``unenforced``: asked for, but nothing here can enforce it."""

_CONTROLLERS = {"memory": "memory", "pids": "pids", "cpu": "cpu"}
_CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    """The limits asked for; None leaves that resource unlimited."""

    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None

    def requested(self) -> dict[str, int | float]:
        """The limits that were set, by resource name (``memory``, ``cpu``, ``pids``)."""
        values = {"memory": self.memory_bytes, "cpu": self.cpus, "pids": self.pids}
        return {name: value for name, value in values.items() if value is not None}


@dataclass
class Cgroup:
    """A cgroup made for one sandbox: one folder (v2) or one per v1 controller."""

    version: Literal[1, 2]
    dirs: dict[str, Path]
    """The sandbox's folder per controller (``memory``, ``pids``, ``cpu``); v2: all the same."""

    def join_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes to in order to enter every folder."""
        return sorted({str(path / "cgroup.procs") for path in self.dirs.values()})

    def pids(self) -> set[int]:
        """The ids (host pid namespace) of every process in the cgroup."""
        found: set[int] = set()
        for path in set(self.dirs.values()):
            with contextlib.suppress(OSError):
                found.update(int(line) for line in (path / "cgroup.procs").read_text().split())
        return found

    def memory_exceeded(self) -> bool | None:
        """Whether the memory limit killed a process (None: no memory controller here)."""
        count = self.memory_kills()
        return None if count is None else count > 0

    def memory_kills(self) -> int | None:
        """How many times the memory limit was hit (OOM kills, or failed charges on old
        kernels); None when no memory controller is here. It only grows."""
        path = self.dirs.get("memory")
        if path is None:
            return None
        if self.version == 2:
            events = _read_counters(path / "memory.events")
            return max(events.get("oom_kill", 0), events.get("oom", 0))
        control = _read_counters(path / "memory.oom_control")
        if "oom_kill" in control:  # Linux >= 4.13
            return control["oom_kill"] + control.get("under_oom", 0)
        return _read_int(path / "memory.failcnt")

    def pids_exceeded(self) -> bool | None:
        """Whether a fork failed at the pids limit (None: no pids controller here)."""
        count = self.pids_refusals()
        return None if count is None else count > 0

    def pids_refusals(self) -> int | None:
        """How many forks the pids limit refused (None: no pids controller here). It only grows."""
        path = self.dirs.get("pids")
        if path is None:
            return None
        return _read_counters(path / "pids.events").get("max", 0)

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        for path in set(self.dirs.values()):
            if self.version == 2 and (path / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (path / "cgroup.kill").write_text("1")
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill what is left inside and delete the folders (idempotent)."""
        self.kill_all()
        for path in set(self.dirs.values()):
            for _ in range(50):  # the kernel may take a moment to release exited tasks
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@dataclass
class LimitPlan:
    """How a sandbox's limits are enforced, and what the child must do before it starts."""

    limits: Limits
    mechanisms: dict[str, Mechanism]
    """Per resource (``memory``, ``cpu``, ``pids``): what enforces it."""

    cgroup: Cgroup | None = None
    rlimits: list[tuple[int, int]] = field(default_factory=list)
    """``(resource.RLIMIT_*, value)`` pairs set in the child before it runs the command."""

    notes: list[str] = field(default_factory=list)
    """Why a limit fell back from a cgroup, for logs."""

    def preexec_fn(self) -> Callable[[], None] | None:
        """A function for ``subprocess.Popen(preexec_fn=…)``: join the cgroup, set rlimits.

        It only makes raw system calls on values prepared here, so it is as safe
        as a ``preexec_fn`` can be in a process with threads. None when there is
        nothing to do.
        """
        join = self.cgroup.join_files() if self.cgroup else []
        rlimits = list(self.rlimits)
        if not join and not rlimits:
            return None

        def _child_setup() -> None:
            for name in join:
                fd = os.open(name, os.O_WRONLY)
                try:
                    os.write(fd, b"0")  # "0" is the writing process itself
                finally:
                    os.close(fd)
            for which, value in rlimits:
                resource.setrlimit(which, (value, value))

        return _child_setup


def plan(limits: Limits, *, name: str, mode: LimitMode = "auto") -> LimitPlan:
    """Choose and set up how ``limits`` are enforced for one sandbox.

    With ``auto``, a writable cgroup wins (v2 first, then v1 per controller); a
    limit that no cgroup can carry falls back to an rlimit (memory: RLIMIT_AS;
    pids: RLIMIT_NPROC when not root) or is reported ``unenforced`` (CPU: an
    rlimit cannot limit a rate).

    Args:
        limits: the limits asked for.
        name: a short id (the trial's name) that goes into the cgroup's folder name.
        mode: ``auto``, or ``cgroup``/``rlimit`` to force one mechanism.

    Returns:
        The plan; its cgroup, if any, exists and must be removed with ``Cgroup.remove``.

    Raises:
        ConfigError: ``mode`` is ``cgroup`` and some limit cannot be set through one.
    """
    requested = limits.requested()
    mechanisms: dict[str, Mechanism] = {name_: "unset" for name_ in ("memory", "cpu", "pids")}
    result = LimitPlan(limits=limits, mechanisms=mechanisms)
    if not requested:
        return result
    if mode in ("auto", "cgroup"):
        result.cgroup = _make_cgroup(limits, name, result.notes)
        for resource_name in requested:
            if result.cgroup and resource_name in result.cgroup.dirs:
                mechanisms[resource_name] = (
                    "cgroup-v2" if result.cgroup.version == 2 else "cgroup-v1"
                )
        missing = [r for r in requested if mechanisms[r] == "unset"]
        if missing and mode == "cgroup":
            if result.cgroup:
                result.cgroup.remove()
            raise ConfigError(
                f"cannot enforce {', '.join(missing)} through a cgroup: {'; '.join(result.notes)}",
                field="limits",
                hint="run as root, or in a delegated cgroup v2 subtree, or use limits='auto'",
            )
    for resource_name in requested:
        if mechanisms[resource_name] == "unset":
            mechanisms[resource_name] = _add_rlimit(resource_name, limits, result)
    return result


def _add_rlimit(resource_name: str, limits: Limits, result: LimitPlan) -> Mechanism:
    if resource_name == "memory" and limits.memory_bytes is not None:
        # RLIMIT_AS bounds each process's address space, not their sum; runtimes
        # that reserve large virtual ranges (JVM, Go, CUDA, some allocators) may
        # fail to start under it, and an overrun is a failed allocation, not a kill.
        result.rlimits.append((resource.RLIMIT_AS, limits.memory_bytes))
        return "rlimit"
    if resource_name == "pids" and limits.pids is not None:
        if os.geteuid() == 0:
            # The kernel never applies RLIMIT_NPROC to the host's root user,
            # and a jail started by root still runs as root's kuid.
            result.notes.append("pids: RLIMIT_NPROC does not apply to root")
            return "unenforced"
        # RLIMIT_NPROC counts every task of the real uid on the host, so leave
        # room for the ones that already run.
        result.rlimits.append((resource.RLIMIT_NPROC, limits.pids + _count_tasks(os.getuid())))
        return "rlimit"
    result.notes.append("cpu: no rlimit limits a CPU rate (RLIMIT_CPU is total seconds)")
    return "unenforced"


def _make_cgroup(limits: Limits, name: str, notes: list[str]) -> Cgroup | None:
    wanted = [r for r in limits.requested() if r in _CONTROLLERS]
    folder = f"kubegym-{_safe(name)}-{uuid.uuid4().hex[:8]}"
    mounts = _cgroup_mounts()
    v2 = _try_v2(mounts, wanted, folder, limits, notes)
    if v2 is not None:
        return v2
    dirs: dict[str, Path] = {}
    for resource_name in wanted:
        base = _v1_base(mounts, _CONTROLLERS[resource_name])
        if base is None:
            notes.append(f"{resource_name}: no cgroup v1 {_CONTROLLERS[resource_name]} controller")
            continue
        path = base / folder
        try:
            path.mkdir(exist_ok=True)
            _write_v1_limit(resource_name, path, limits)
        except OSError as error:
            notes.append(f"{resource_name}: cannot use cgroup {path}: {error.strerror}")
            with contextlib.suppress(OSError):
                if path not in dirs.values():
                    path.rmdir()
            continue
        dirs[resource_name] = path
    return Cgroup(version=1, dirs=dirs) if dirs else None


def _write_v1_limit(resource_name: str, path: Path, limits: Limits) -> None:
    if resource_name == "memory" and limits.memory_bytes is not None:
        (path / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
        if (path / "memory.memsw.limit_in_bytes").exists():  # swap accounting is on
            (path / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
    elif resource_name == "pids" and limits.pids is not None:
        (path / "pids.max").write_text(str(limits.pids))
    elif resource_name == "cpu" and limits.cpus is not None:
        (path / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
        (path / "cpu.cfs_quota_us").write_text(str(_cpu_quota(limits.cpus)))


def _try_v2(
    mounts: list[tuple[str, Path, str, set[str]]],
    wanted: list[str],
    folder: str,
    limits: Limits,
    notes: list[str],
) -> Cgroup | None:
    mount = next((m for m in mounts if m[2] == "cgroup2"), None)
    own = _own_cgroups().get("")
    if mount is None or own is None:
        return None
    base = _under_mount(mount, own)
    if base is None:
        return None
    try:
        available = set((base / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    controllers = [_CONTROLLERS[r] for r in wanted]
    if not set(controllers) <= available:
        notes.append(f"cgroup v2 at {base} lacks {sorted(set(controllers) - available)}")
        return None
    path = base / folder
    try:
        enabled = set((base / "cgroup.subtree_control").read_text().split())
        if not set(controllers) <= enabled:
            # Fails with EBUSY when `base` holds processes (the no-internal-process rule).
            change = " ".join(f"+{c}" for c in controllers)
            (base / "cgroup.subtree_control").write_text(change)
        path.mkdir()
        if limits.memory_bytes is not None:
            (path / "memory.max").write_text(str(limits.memory_bytes))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
        if limits.pids is not None:
            (path / "pids.max").write_text(str(limits.pids))
        if limits.cpus is not None:
            (path / "cpu.max").write_text(f"{_cpu_quota(limits.cpus)} {_CPU_PERIOD_US}")
    except OSError as error:
        notes.append(f"cannot use cgroup v2 at {base}: {error.strerror}")
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return Cgroup(version=2, dirs=dict.fromkeys(wanted, path))


def _cgroup_mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(root inside the hierarchy, mount point, fstype, controllers) per cgroup mount."""
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
                options = set(rest[2].split(","))
                mounts.append((fields[3], Path(fields[4]), rest[0], options))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller list (``memory``, ``cpu,cpuacct``); v2 under ``""``."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            own[controllers] = path
    return own


def _v1_base(mounts: list[tuple[str, Path, str, set[str]]], controller: str) -> Path | None:
    mount = next((m for m in mounts if m[2] == "cgroup" and controller in m[3]), None)
    if mount is None:
        return None
    own = next((p for c, p in _own_cgroups().items() if controller in c.split(",")), None)
    return None if own is None else _under_mount(mount, own)


def _under_mount(mount: tuple[str, Path, str, set[str]], own: str) -> Path | None:
    """Where cgroup path ``own`` (relative to the hierarchy's root) is, under ``mount``."""
    root = mount[0].rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    base = mount[1] / own[len(root) :].lstrip("/")
    return base if base.is_dir() else None


def _cpu_quota(cpus: float) -> int:
    return max(1000, round(cpus * _CPU_PERIOD_US))


def _count_tasks(uid: int) -> int:
    """How many tasks (threads) the real ``uid`` runs now, as RLIMIT_NPROC counts them."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
    return total


def _read_counters(path: Path) -> dict[str, int]:
    counters: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                counters[key] = int(value)
    return counters


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return cleaned.strip(".-")[:40] or "sandbox"
