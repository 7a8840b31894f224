"""One prepared sandbox: `prepare` turns an `IsolationSpec` into a `Jail`, whose `Jail.popen`
starts commands inside it and whose `Jail.cleanup` kills them all and removes what it made.

`prepare` checks the spec (`binds`), plans the limits (`kubegym.sandbox.limits`) and the
disk quota (`kubegym.sandbox.quota`), and builds the bubblewrap prefix (`bwrap`) with the
child's steps as root (`launch`). The local sandbox backend starts the sandbox server with
`Jail.wrap`; the evaluator's jails for agent code use `Jail.popen`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kubegym.sandbox import limits as _limits
from kubegym.sandbox import quota as _quota
from kubegym.sandbox import seccomp as _seccomp
from kubegym.sandbox.isolation import binds, bwrap, launch, probe, specs

_log = logging.getLogger(__name__)


class Jail:
    """One prepared sandbox: how to start commands inside it, its limits, and its cleanup.

    Made by `prepare`. Use it as a context manager, or call `cleanup` when done.
    """

    def __init__(
        self,
        spec: specs.IsolationSpec,
        backend: specs.Backend,
        env: dict[str, str],
        plan: _limits.LimitPlan,
        prefix: list[str],
        etc_dir: Path | None,
        tool: tuple[str, str] | None,
        child: launch.Launch | None = None,
        disk: _quota.DiskQuota | None = None,
    ) -> None:
        self.spec = spec
        self.backend: specs.Backend = backend
        self.isolated = backend == "bwrap"
        """False for the ``process`` backend: commands then run as you, unconfined."""
        self.env = env
        """The whole environment a command sees."""
        self.workspace = specs.WORKSPACE if self.isolated else str(spec.workspace)
        """The workspace's path as the command sees it."""
        self.runtime = specs.RUNTIME if self.isolated else str(spec.runtime_dir)
        """The runtime folder's path as the command sees it (put the server's socket here)."""
        self.limits = plan
        self.cgroup = plan.cgroup
        self._prefix = prefix
        self._etc_dir = etc_dir
        self._bwrap = tool
        self._launch = child or launch.Launch()
        self.disk = disk
        """The workspace's quota (None: none asked for); `DiskQuota.exceeded` says if it is full."""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._closed = False

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` inside the jail.

        Start it with `popen_kwargs` (or use `popen`): they carry the cleared
        environment and the step that enters the cgroup / sets the rlimits.

        Raises:
            ValueError: ``argv`` is empty.
        """
        if not argv:
            raise ValueError("argv is empty: give the command to run inside the jail")
        return [*self._prefix, "--", *argv] if self.isolated else list(argv)

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `subprocess.Popen` with a `wrap`-ped command line.

        The process starts in a session of its own (``os.killpg(pid, …)`` stops it).
        The ``preexec_fn`` only makes raw system calls (join the cgroup, set rlimits,
        bind sources in a private mount namespace, reopen the seccomp program, become the
        unprivileged host uid), but avoid starting jails from a thread that exits early:
        bubblewrap dies with its parent *thread*.
        """
        kwargs: dict[str, Any] = {"start_new_session": True, "close_fds": True}
        if self.isolated:
            kwargs["env"] = {"PATH": os.defpath, "LANG": "C.UTF-8"}  # bwrap's own; --clearenv
            kwargs["cwd"] = "/"
        else:
            kwargs["env"] = dict(self.env)
            kwargs["cwd"] = str(self.spec.workspace)
        preexec = launch.child_setup(
            self.limits.preexec_fn(), self._launch if self.isolated else None
        )
        if preexec is not None:
            kwargs["preexec_fn"] = preexec
        if self.isolated and self._launch.seccomp_fd is not None:
            kwargs["pass_fds"] = (self._launch.seccomp_fd,)
        return kwargs

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the jail; `cleanup` kills it if it still runs.

        Args:
            argv: the command, as it runs inside.
            **kwargs: more `subprocess.Popen` arguments (stdout, stdin, pass_fds…), not env/cwd.

        Raises:
            ValueError: ``kwargs`` tries to set what the jail sets (env, cwd, preexec_fn…).
        """
        own = self.popen_kwargs()
        if "pass_fds" in kwargs and "pass_fds" in own:
            kwargs["pass_fds"] = (*own.pop("pass_fds"), *kwargs["pass_fds"])
        clash = sorted(set(own) & set(kwargs))
        if clash:
            raise ValueError(f"the jail sets {', '.join(clash)}; pass other Popen arguments")
        process: subprocess.Popen[bytes] = subprocess.Popen(self.wrap(argv), **own, **kwargs)
        self._processes.append(process)
        return process

    def memory_exceeded(self) -> bool | None:
        """Whether the memory limit killed a process (the command then exits with 137).

        None when no cgroup carries the memory limit: under RLIMIT_AS an
        overrun is a failed allocation (MemoryError, ENOMEM), not a kill.
        """
        return self.cgroup.memory_exceeded() if self.cgroup else None

    def pids_exceeded(self) -> bool | None:
        """Whether a fork failed at the pids limit; None when no cgroup carries it."""
        return self.cgroup.pids_exceeded() if self.cgroup else None

    def describe(self) -> dict[str, Any]:
        """What this jail is, for logs and trajectories (environment names only, no values)."""
        requested = self.limits.limits.requested()
        return {
            "backend": self.backend,
            "isolated": self.isolated,
            "bwrap": {"path": self._bwrap[0], "version": self._bwrap[1]} if self._bwrap else None,
            "network": self.spec.network if self.isolated else "host",
            "egress_proxy": specs.EGRESS_DIR if self.isolated and self.spec.egress_proxy else None,
            "uid": self.spec.uid if self.isolated else os.getuid(),
            "gid": self.spec.gid if self.isolated else os.getgid(),
            "host_uid": self._launch.drop[0] if self._launch.drop else os.getuid(),
            "seccomp": self.isolated and self._launch.seccomp_fd is not None,
            "disk": self.disk.describe() if self.disk else None,
            "workspace": str(self.spec.workspace),
            "read_only": [[str(h), s] for h, s in self.spec.read_only] if self.isolated else [],
            "env": sorted(self.env),
            "limits": {
                name: {"value": requested.get(name), "mechanism": mechanism}
                for name, mechanism in self.limits.mechanisms.items()
            },
            "cgroup": sorted({str(p) for p in self.cgroup.dirs.values()}) if self.cgroup else None,
            "notes": list(self.limits.notes),
        }

    def cleanup(self) -> None:
        """Kill every process of the jail, remove its cgroup and generated files (idempotent).

        Processes started by `popen` are killed with their session (bubblewrap's
        ``--die-with-parent`` takes the rest of the jail along); processes started
        any other way are found only through the cgroup, when there is one.
        """
        if self._closed:
            return
        self._closed = True
        for process in self._processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _log.warning("sandbox_process_not_reaped pid=%s", process.pid)
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.disk is not None:
            self.disk.release()  # after every process is gone: nothing holds the mount
        if self._launch.seccomp_fd is not None:
            os.close(self._launch.seccomp_fd)
        if self._etc_dir is not None:
            shutil.rmtree(self._etc_dir, ignore_errors=True)

    def __enter__(self) -> Jail:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def prepare(
    spec: specs.IsolationSpec,
    backend: specs.Backend = "bwrap",
    *,
    bwrap_path: str | None = None,
    limits: _limits.LimitMode = "auto",
) -> Jail:
    """Check ``spec``, set up its limits and build the jail's command line.

    Args:
        spec: what the sandbox may see and use.
        backend: ``bwrap`` (isolated) or ``process`` (no isolation; warns loudly).
        bwrap_path: the bubblewrap binary; default ``bwrap`` on PATH.
        limits: ``auto`` (cgroup if writable, else rlimits), ``cgroup`` or ``rlimit``.

    Returns:
        The jail; call `Jail.cleanup` (or use it as a context manager) when done.

    Raises:
        ConfigError: the spec is wrong (field named), bubblewrap is unusable, or
            ``limits="cgroup"`` cannot be met.
    """
    probe.check_available(backend, bwrap_path=bwrap_path)
    read_only = binds.checked_binds(spec)
    drop = specs.host_ids(spec) if backend == "bwrap" and os.geteuid() == 0 else None
    plan, disk = _limit(spec, drop, limits)
    if backend == "process":
        message = (
            f"sandbox {spec.name!r} runs WITHOUT isolation (backend 'process'): its commands "
            "run as you and can read your files, reach the network and the evaluation data"
        )
        warnings.warn(message, specs.IsolationWarning, stacklevel=2)
        _log.warning("sandbox_not_isolated name=%s workspace=%s", spec.name, spec.workspace)
        return Jail(spec, backend, _process_env(spec), plan, [], None, None, disk=disk)
    jail = _bubblewrap_jail(spec, bwrap_path, read_only, drop, plan, disk)
    _log.info(
        "sandbox_prepared name=%s limits=%s host_uid=%s seccomp=%s disk=%s",
        spec.name,
        plan.mechanisms,
        drop[0] if drop else os.getuid(),
        spec.seccomp,
        disk.mechanism if disk else "unset",
    )
    return jail


def _limit(
    spec: specs.IsolationSpec, drop: tuple[int, int] | None, mode: _limits.LimitMode
) -> tuple[_limits.LimitPlan, _quota.DiskQuota | None]:
    """The limits' plan and the workspace's quota; the jail's writable folders given to its
    host uid (``drop``), and a warning for each limit nothing enforces."""
    wanted = _limits.Limits(memory_bytes=spec.memory_bytes, cpus=spec.cpus, pids=spec.pids)
    plan = _limits.plan(wanted, name=spec.name, mode=mode)
    try:
        disk = _quota.apply(Path(spec.workspace), spec.disk_bytes, owner=drop, name=spec.name)
    except BaseException:
        if plan.cgroup:
            plan.cgroup.remove()
        raise
    if drop is not None:
        # The jail's one writable folder and its socket's folder belong to its host uid.
        launch.chown_tree(Path(spec.workspace), drop)
        os.chown(spec.runtime_dir, *drop)
    for resource_name, mechanism in plan.mechanisms.items():
        if mechanism == "unenforced":
            _log.warning("sandbox_limit_unenforced resource=%s notes=%s", resource_name, plan.notes)
    return plan, disk


def _bubblewrap_jail(
    spec: specs.IsolationSpec,
    bwrap_path: str | None,
    read_only: list[tuple[Path, str]],
    drop: tuple[int, int] | None,
    plan: _limits.LimitPlan,
    disk: _quota.DiskQuota | None,
) -> Jail:
    """The bubblewrap jail: its /etc, seccomp program and command line; on a failure, the
    plan's cgroup and the quota are released before the error goes on."""
    tool = probe.working_bwrap(bwrap_path)  # cached by check_available
    etc_dir = Path(tempfile.mkdtemp(prefix="kubegym-etc-"))
    child = launch.Launch(drop=drop)
    try:
        env = bwrap.jail_env(spec)
        etc = bwrap.write_etc(etc_dir, spec)
        if spec.seccomp:
            bpf = etc_dir / "seccomp.bpf"
            bpf.write_bytes(_seccomp.program())
            child.seccomp_path = str(bpf)
            child.seccomp_fd = os.open(bpf, os.O_RDONLY | os.O_CLOEXEC)
        prefix = bwrap.prefix(spec, tool, read_only, etc, env, child, etc_dir)
    except BaseException:
        if child.seccomp_fd is not None:
            os.close(child.seccomp_fd)
        shutil.rmtree(etc_dir, ignore_errors=True)
        if plan.cgroup:
            plan.cgroup.remove()
        if disk is not None:
            disk.release()
        raise
    return Jail(spec, "bwrap", env, plan, prefix, etc_dir, tool, child, disk)


def _process_env(spec: specs.IsolationSpec) -> dict[str, str]:
    # No PYTHONPATH: the running interpreter already imports kubegym, and the
    # repository root on the path would let its `operator/` shadow the stdlib's.
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(spec.workspace),
        "LANG": "C.UTF-8",
    }
    env.update(spec.env)
    return env
