"""The local sandbox's jail: an `IsolationSpec` turned into a bubblewrap command line.

Owns what a sandboxed process can see and do on one machine: the workspace as
its only writable place, read-only datasets and Python, no network unless asked,
a non-root uid, a cleared environment, and memory/CPU/pids limits (through
`kubegym.sandbox.limits`), a seccomp filter (`kubegym.sandbox.seccomp`) and a disk quota
(`kubegym.sandbox.quota`). When kubegym runs as root, the jail never runs as the host's root:
bubblewrap starts as an unprivileged host uid (`HOST_ID`), so the sandbox's uid maps to it.
The local sandbox backend calls `prepare` and starts the sandbox server with `Jail.wrap`;
the evaluator's jails for agent code (`kubegym.evaluator.jails`) do the same.
``backend="process"`` is the unsafe opt-out.
Standard library only: this package ships into task images without dependencies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Literal

from kubegym.errors import ConfigError
from kubegym.sandbox import limits as _limits
from kubegym.sandbox import quota as _quota
from kubegym.sandbox import seccomp as _seccomp

Backend = Literal["bwrap", "process"]
"""``bwrap``: a bubblewrap jail (the default). ``process``: no isolation at all (opt-in)."""

Network = Literal["none", "egress"]
"""``none``: loopback only, in a network namespace of its own. ``egress``: the host's network."""

WORKSPACE = "/workspace"
"""Where the workspace appears inside the jail; also the working directory and HOME."""

RUNTIME = "/run/kubegym"
"""Where the runtime folder appears inside the jail (the sandbox server's Unix socket)."""

KUBEGYM_ROOT = "/opt/kubegym"
"""Inside the jail, ``PYTHONPATH`` entry that holds the ``kubegym`` package (read-only)."""

USER = "sandbox"
"""The user name the jail's uid has inside (in the generated ``/etc/passwd``)."""

HOST_ID = 1_999_999
"""The host uid and gid a jail runs as when kubegym runs as root (``$KUBEGYM_SANDBOX_HOST_UID``
and ``$KUBEGYM_SANDBOX_HOST_GID`` change it): a dedicated id no account or service uses, below
the 2**21 that plain tar headers hold. Without it the jail's user would be the host's root."""

_log = logging.getLogger(__name__)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_ALWAYS = (
    *("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"),
    *("protocols", "services", "fonts", "mime.types"),
)
"""Host /etc entries every jail gets (read-only): the dynamic linker's, Debian's alternatives…"""
_ETC_EGRESS = (
    *("resolv.conf", "ssl", "ca-certificates", "ca-certificates.conf", "pki"),
    *("crypto-policies", "gai.conf", "host.conf"),
)
"""Host /etc entries for egress only: DNS and TLS certificates."""
_INSTALL_HINT = (
    "install it with `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
    "`sudo dnf install bubblewrap` (Fedora), or pass `--sandbox process` to run "
    "commands without isolation (unsafe: they see your files, environment and network)"
)
_USERNS_HINT = (
    "unprivileged user namespaces look disabled: enable them with "
    "`sudo sysctl kernel.unprivileged_userns_clone=1` (Debian) or, on Ubuntu 24.04, "
    "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, and check "
    "`user.max_user_namespaces` is not 0; in a container, allow unshare (seccomp); "
    "or pass `--sandbox process` to run without isolation (unsafe)"
)
_probes: dict[str, tuple[str, str] | ConfigError] = {}
"""Per bubblewrap binary: (path, version) once a trivial jail ran, or why it did not."""


class IsolationWarning(UserWarning):
    """A sandbox runs without isolation (``backend="process"``) or with a limit unenforced."""


@dataclass(frozen=True)
class IsolationSpec:
    """What one sandbox may see and use. Host paths are on this machine."""

    workspace: Path
    """The only writable host folder; appears at ``/workspace``, the cwd and HOME."""

    runtime_dir: Path
    """A host folder for the server's Unix socket, at ``/run/kubegym``; never the workspace."""

    read_only: Sequence[tuple[str | os.PathLike[str], str]] = ()
    """``(host path, sandbox path)`` pairs bound read-only: datasets, the task's venv."""

    network: Network = "none"
    """``none`` (loopback only) or ``egress`` (the host's network, loopback included)."""

    uid: int = 1000
    """The user id inside; never 0."""

    gid: int = 1000
    """The group id inside; never 0."""

    memory_bytes: int | None = None
    """Memory for all the sandbox's processes together; None: unlimited."""

    cpus: float | None = None
    """CPU cores' worth of time per period (1.5 = one and a half cores); None: unlimited."""

    pids: int | None = 4096
    """Most processes and threads at once (stops fork bombs); None: unlimited."""

    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment inside. Nothing else from the host's environment gets in.
    The values travel on bubblewrap's command line, which the host's process list
    shows: never put a secret here (give the server its token in a file)."""

    forbidden: Sequence[str | os.PathLike[str]] = ()
    """Host paths that must never be visible (evaluation script, hidden test data):
    a bind that holds one, or lies inside one, is refused."""

    masked: Sequence[str] = ()
    """Paths of the read-only system (say, a Debian package's copy of a test set under
    /usr/share) hidden inside: a folder becomes an empty tmpfs, a file an empty one."""

    bind_python: bool = True
    """Bind the running interpreter (``sys.prefix``, ``sys.base_prefix``) read-only at the same paths."""

    bind_kubegym: bool = True
    """Bind the ``kubegym`` package read-only under ``/opt/kubegym`` and put that on PYTHONPATH."""

    name: str = "sandbox"
    """A short id (the trial's name) for logs and the cgroup's folder name."""

    disk_bytes: int | None = None
    """Most bytes the workspace and /tmp may each hold (the task's ephemeral storage); None:
    no quota. Enforced with a loop-mounted file system as root, else only watched."""

    seccomp: bool = True
    """Load `kubegym.sandbox.seccomp`'s filter: ptrace, mount, bpf, keyctl… fail with EPERM."""

    host_uid: int | None = None
    """When kubegym runs as root: the host uid the jail runs as (default `HOST_ID`); never 0.
    Ignored otherwise (an ordinary user's jail maps to that user)."""

    host_gid: int | None = None
    """When kubegym runs as root: the host gid the jail runs as (default `HOST_ID`); never 0."""

    def __post_init__(self) -> None:
        sizes = {
            "memory_bytes": self.memory_bytes,
            "cpus": self.cpus,
            "pids": self.pids,
            "disk_bytes": self.disk_bytes,
        }
        host = {"host_uid": self.host_uid, "host_gid": self.host_gid}
        checks = [
            ("network", self.network not in ("none", "egress"), "use none or egress"),
            ("uid", not isinstance(self.uid, int) or self.uid <= 0, "never 0 (root); use 1000"),
            ("gid", not isinstance(self.gid, int) or self.gid <= 0, "never 0 (root); use 1000"),
            *(
                (k, v is not None and (not isinstance(v, int) or v <= 0), "never 0 (root)")
                for k, v in host.items()
            ),
            *(
                (k, v is not None and v <= 0, "positive, or None: no limit")
                for k, v in sizes.items()
            ),
        ]
        for name, bad, hint in checks:
            if bad:
                raise ConfigError(f"invalid value {getattr(self, name)!r}", field=name, hint=hint)
        for key, value in self.env.items():  # never print a value: it may be a secret
            if not _ENV_NAME.fullmatch(key) or "\0" in value:
                raise ConfigError(
                    "invalid name or NUL in value",
                    field=f"env.{key}",
                    hint="use letters, digits and _",
                )


@dataclass
class _Launch:
    """What a jail's child does as root just before it becomes bubblewrap."""

    stage: list[tuple[bytes, bytes]] = field(default_factory=list)
    """``(host path, mount point)`` binds made in a private mount namespace, so that bubblewrap,
    running as an unprivileged uid, reaches sources behind folders only root may enter."""

    drop: tuple[int, int] | None = None
    """The host ``(uid, gid)`` to become (kubegym runs as root); None: stay as we are."""

    seccomp_fd: int | None = None
    """The fd number bubblewrap's ``--seccomp`` names; each child reopens it at offset 0."""

    seccomp_path: str | None = None


class Jail:
    """One prepared sandbox: how to start commands inside it, its limits, and its cleanup.

    Made by `prepare`. Use it as a context manager, or call `cleanup` when done.
    """

    def __init__(
        self,
        spec: IsolationSpec,
        backend: Backend,
        env: dict[str, str],
        plan: _limits.LimitPlan,
        prefix: list[str],
        etc_dir: Path | None,
        bwrap: tuple[str, str] | None,
        launch: _Launch | None = None,
        disk: _quota.DiskQuota | None = None,
    ) -> None:
        self.spec = spec
        self.backend: Backend = backend
        self.isolated = backend == "bwrap"
        """False for the ``process`` backend: commands then run as you, unconfined."""
        self.env = env
        """The whole environment a command sees."""
        self.workspace = WORKSPACE if self.isolated else str(spec.workspace)
        """The workspace's path as the command sees it."""
        self.runtime = RUNTIME if self.isolated else str(spec.runtime_dir)
        """The runtime folder's path as the command sees it (put the server's socket here)."""
        self.limits = plan
        self.cgroup = plan.cgroup
        self._prefix = prefix
        self._etc_dir = etc_dir
        self._bwrap = bwrap
        self._launch = launch or _Launch()
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
        preexec = _child_setup(self.limits.preexec_fn(), self._launch if self.isolated else None)
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


def check_available(backend: Backend = "bwrap", *, bwrap_path: str | None = None) -> str | None:
    """Make sure ``backend`` can run here; for bwrap, start one trivial jail (once, cached).

    Args:
        backend: ``bwrap`` or ``process`` (always available, never isolated).
        bwrap_path: the bubblewrap binary; default ``bwrap`` on PATH.

    Returns:
        The bubblewrap binary's full path, or None for ``process``.

    Raises:
        ConfigError: bubblewrap is missing or cannot create namespaces here; the
            message says how to install it or enable user namespaces.
    """
    if backend == "process":
        return None
    if backend != "bwrap":
        raise ConfigError(
            f"unknown sandbox backend {backend!r}", field="sandbox", hint="use bwrap or process"
        )
    return _probe(bwrap_path)[0]


def prepare(
    spec: IsolationSpec,
    backend: Backend = "bwrap",
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
    check_available(backend, bwrap_path=bwrap_path)
    binds = _check_spec(spec)
    drop = _host_ids(spec) if backend == "bwrap" and os.geteuid() == 0 else None
    wanted = _limits.Limits(memory_bytes=spec.memory_bytes, cpus=spec.cpus, pids=spec.pids)
    plan = _limits.plan(wanted, name=spec.name, mode=limits)
    try:
        disk = _quota.apply(Path(spec.workspace), spec.disk_bytes, owner=drop, name=spec.name)
    except BaseException:
        if plan.cgroup:
            plan.cgroup.remove()
        raise
    if drop is not None:
        # The jail's one writable folder and its socket's folder belong to its host uid.
        _chown_tree(Path(spec.workspace), drop)
        os.chown(spec.runtime_dir, *drop)
    for resource_name, mechanism in plan.mechanisms.items():
        if mechanism == "unenforced":
            _log.warning("sandbox_limit_unenforced resource=%s notes=%s", resource_name, plan.notes)
    if backend == "process":
        message = (
            f"sandbox {spec.name!r} runs WITHOUT isolation (backend 'process'): its commands "
            "run as you and can read your files, reach the network and the evaluation data"
        )
        warnings.warn(message, IsolationWarning, stacklevel=2)
        _log.warning("sandbox_not_isolated name=%s workspace=%s", spec.name, spec.workspace)
        return Jail(spec, backend, _process_env(spec), plan, [], None, None, disk=disk)
    bwrap = _probe(bwrap_path)  # cached by check_available
    etc_dir = Path(tempfile.mkdtemp(prefix="kubegym-etc-"))
    launch = _Launch(drop=drop)
    try:
        env = _jail_env(spec)
        etc = _write_etc(etc_dir, spec)
        if spec.seccomp:
            bpf = etc_dir / "seccomp.bpf"
            bpf.write_bytes(_seccomp.program())
            launch.seccomp_path = str(bpf)
            launch.seccomp_fd = os.open(bpf, os.O_RDONLY | os.O_CLOEXEC)
        prefix = _bwrap_argv(spec, bwrap, binds, etc, env, launch, etc_dir)
    except BaseException:
        if launch.seccomp_fd is not None:
            os.close(launch.seccomp_fd)
        shutil.rmtree(etc_dir, ignore_errors=True)
        if plan.cgroup:
            plan.cgroup.remove()
        if disk is not None:
            disk.release()
        raise
    jail = Jail(spec, backend, env, plan, prefix, etc_dir, bwrap, launch, disk)
    _log.info(
        "sandbox_prepared name=%s limits=%s host_uid=%s seccomp=%s disk=%s",
        spec.name,
        plan.mechanisms,
        drop[0] if drop else os.getuid(),
        spec.seccomp,
        disk.mechanism if disk else "unset",
    )
    return jail


def _probe(bwrap_path: str | None) -> tuple[str, str]:
    """(full path, version) of a working bubblewrap, probed once per binary."""
    found = shutil.which(bwrap_path or "bwrap")
    if found is None:
        where = bwrap_path or "bwrap on PATH"
        raise ConfigError(
            f"bubblewrap is not installed (no {where})", field="sandbox", hint=_INSTALL_HINT
        )
    cached = _probes.get(found)
    if cached is None:
        cached = _run_probe(found)
        _probes[found] = cached
    if isinstance(cached, ConfigError):
        raise ConfigError(cached.message, field=cached.field, hint=cached.hint)
    return cached


def _run_probe(bwrap: str) -> tuple[str, str] | ConfigError:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10)
        version = out.stdout.split()[-1] if out.stdout.split() else "unknown"
        argv = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
        argv += [*_system_binds(), "--proc", "/proc", "--dev", "/dev", "--uid", "1000"]
        argv += ["--gid", "1000", "--clearenv", "--", "true"]
        env = {"PATH": os.defpath}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=env)
        if result.returncode == 0 and os.geteuid() == 0:
            # As root, probe again as the uid jails run as: its user namespaces must work too.
            ids = _host_ids(None)
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=10,
                env=env,
                preexec_fn=_child_setup(None, _Launch(drop=ids)),
            )
            if result.returncode != 0:
                detail = result.stderr.strip() or f"exit status {result.returncode}"
                return ConfigError(
                    f"bubblewrap cannot run as host uid {ids[0]} here: {detail}",
                    field="sandbox",
                    hint="jails started by root run as an unprivileged uid; make bwrap "
                    "executable by it, enable user namespaces for it, or set "
                    "KUBEGYM_SANDBOX_HOST_UID to a uid that may",
                )
    except (OSError, subprocess.TimeoutExpired, subprocess.SubprocessError) as error:
        return ConfigError(
            f"bubblewrap at {bwrap} does not run: {error}", field="sandbox", hint=_INSTALL_HINT
        )
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        return ConfigError(
            f"bubblewrap cannot create a sandbox here: {detail}", field="sandbox", hint=_USERNS_HINT
        )
    return bwrap, version


def _check_spec(spec: IsolationSpec) -> list[tuple[Path, str]]:
    """The read-only binds (the spec's, then Python and kubegym), after checking the spec."""
    workspace, runtime = Path(spec.workspace), Path(spec.runtime_dir)
    if not workspace.is_dir():
        raise ConfigError(
            f"workspace {workspace} is not a folder", field="workspace", hint="create it first"
        )
    if _overlaps(workspace.resolve(), runtime.resolve()):
        raise ConfigError(
            f"runtime_dir {runtime} overlaps the workspace {workspace}",
            field="runtime_dir",
            hint="use a folder outside the workspace (the agent must not reach the socket's folder from it)",
        )
    binds = [(Path(host), _sandbox_path(host, target)) for host, target in spec.read_only]
    extra = _runtime_binds(spec, [host for host, _ in binds])
    forbidden = [Path(f).resolve() for f in spec.forbidden]
    named = [("workspace", workspace), ("runtime_dir", runtime)]
    named += [("read_only", host) for host, _ in binds] + [("read_only", host) for host, _ in extra]
    for field_name, host in named:
        for secret in forbidden:
            if _overlaps(host.resolve(), secret):
                raise ConfigError(
                    f"{host} would make {secret} visible inside the sandbox",
                    field=field_name,
                    hint="bind only the folders the agent may see; never the task's evaluation script or hidden data",
                )
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    return binds + extra


def _sandbox_path(host: str | os.PathLike[str], target: str) -> str:
    path = PurePosixPath(target)
    text = str(path)
    if not path.is_absolute() or ".." in path.parts:
        raise ConfigError(
            f"sandbox path {target!r} must be absolute, without ..", field="read_only"
        )
    reserved = ("/proc", "/dev", "/usr", RUNTIME)
    if text in ("/", WORKSPACE) or any(text == r or text.startswith(r + "/") for r in reserved):
        raise ConfigError(
            f"sandbox path {target!r} is reserved",
            field="read_only",
            hint="bind under /data or /workspace/…",
        )
    if not Path(host).exists():
        raise ConfigError(f"read-only bind {host} does not exist", field="read_only")
    return text


def _runtime_binds(spec: IsolationSpec, taken: list[Path]) -> list[tuple[Path, str]]:
    """The running interpreter (same paths) and the kubegym package (under /opt/kubegym)."""
    extra: list[tuple[Path, str]] = []
    if spec.bind_python:
        covered = [Path("/usr"), *taken]
        executable = Path(os.path.realpath(sys.executable))
        for prefix in (Path(sys.base_prefix), Path(sys.prefix), executable.parent.parent):
            if not any(prefix == c or c in prefix.parents for c in covered):
                extra.append((prefix, str(prefix)))
                covered.append(prefix)
    if spec.bind_kubegym:
        import kubegym  # the package folder only: the repository around it holds tasks and tests

        extra.append((Path(kubegym.__file__).resolve().parent, f"{KUBEGYM_ROOT}/kubegym"))
    return extra


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def _system_binds() -> list[str]:
    """/usr read-only, and /bin, /lib… as the host has them (symlinks into /usr or folders)."""
    argv = ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_LINKS:
        path = Path("/", name)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    return argv


def _write_etc(etc_dir: Path, spec: IsolationSpec) -> dict[str, Path]:
    """Minimal passwd/group/hosts/nsswitch for the jail's uid, written into ``etc_dir``."""
    shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    files = {
        "passwd": f"{USER}:x:{spec.uid}:{spec.gid}:kubegym sandbox:{WORKSPACE}:{shell}\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"{USER}:x:{spec.gid}:\nnogroup:x:65534:\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t{USER}\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
    }
    etc_dir.chmod(0o755)
    written = {}
    for name, text in files.items():
        path = etc_dir / name
        path.write_text(text)
        path.chmod(0o644)
        written[name] = path
    return written


def _bwrap_argv(
    spec: IsolationSpec,
    bwrap: tuple[str, str],
    binds: list[tuple[Path, str]],
    etc: dict[str, Path],
    env: dict[str, str],
    launch: _Launch | None = None,
    etc_dir: Path | None = None,
) -> list[str]:
    version = tuple(int(part) for part in re.findall(r"\d+", bwrap[1])[:2])
    launch = launch or _Launch()

    def source(host: str | os.PathLike[str]) -> str:
        """Where bubblewrap finds ``host``: a mount point of our own when it runs unprivileged."""
        if launch.drop is None or etc_dir is None:
            return str(host)
        point = etc_dir / "binds" / str(len(launch.stage))
        point.parent.mkdir(mode=0o755, exist_ok=True)
        if Path(host).is_dir():
            point.mkdir(mode=0o755)
        else:
            point.touch(mode=0o644)
        launch.stage.append((os.fsencode(host), os.fsencode(point)))
        return str(point)

    argv = [bwrap[0], "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    if spec.network == "egress":
        argv.append("--share-net")
    if version >= (0, 8):
        argv.append("--disable-userns")  # no nested namespaces inside the jail
    argv += ["--hostname", USER, "--uid", str(spec.uid), "--gid", str(spec.gid)]
    argv += ["--cap-drop", "ALL"]
    argv += [*_system_binds(), "--proc", "/proc", "--dev", "/dev"]
    for hidden in spec.masked:  # over the system binds, so they hide what those show
        if Path(hidden).is_dir():
            argv += ["--tmpfs", str(hidden)]
        elif Path(hidden).exists():
            argv += ["--ro-bind", "/dev/null", str(hidden)]
    tmp_sizes = [n for n in (spec.memory_bytes, spec.disk_bytes) if n is not None]
    if tmp_sizes and version >= (0, 8):
        # /tmp is memory: never more than the memory limit, nor than the disk quota.
        argv += ["--size", str(min(tmp_sizes))]
    elif spec.disk_bytes is not None:
        _log.warning(
            "sandbox_tmp_unlimited name=%s bwrap=%s (--size needs 0.8)", spec.name, bwrap[1]
        )
    argv += ["--tmpfs", "/tmp"]
    for name, path in etc.items():
        argv += ["--ro-bind", str(path), f"/etc/{name}"]
    for name in _ETC_ALWAYS + (_ETC_EGRESS if spec.network == "egress" else ()):
        if Path("/etc", name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    inside_workspace = [(h, s) for h, s in binds if s.startswith(WORKSPACE + "/")]
    for host, target in binds:
        if (host, target) not in inside_workspace:
            argv += ["--ro-bind", source(host), target]
    argv += ["--bind", source(spec.workspace), WORKSPACE]
    for host, target in inside_workspace:  # after the workspace, so they sit on top of it
        argv += ["--ro-bind", source(host), target]
    argv += ["--bind", source(spec.runtime_dir), RUNTIME, "--remount-ro", "/", "--chdir", WORKSPACE]
    argv.append("--clearenv")
    for name, value in env.items():
        argv += ["--setenv", name, value]
    if launch.seccomp_fd is not None:
        argv += ["--seccomp", str(launch.seccomp_fd)]
    return argv


def _jail_env(spec: IsolationSpec) -> dict[str, str]:
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{path}" if spec.bind_python else path,
        "HOME": WORKSPACE,
        "USER": USER,
        "LOGNAME": USER,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
    }
    if spec.bind_kubegym:
        env["PYTHONPATH"] = KUBEGYM_ROOT
    env.update(spec.env)
    return env


def _process_env(spec: IsolationSpec) -> dict[str, str]:
    # No PYTHONPATH: the running interpreter already imports kubegym, and the
    # repository root on the path would let its `operator/` shadow the stdlib's.
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(spec.workspace),
        "LANG": "C.UTF-8",
    }
    env.update(spec.env)
    return env


def _host_ids(spec: IsolationSpec | None) -> tuple[int, int]:
    """The unprivileged host ``(uid, gid)`` a jail started by root runs as."""
    ids = []
    for value, variable in (
        (spec.host_uid if spec else None, "KUBEGYM_SANDBOX_HOST_UID"),
        (spec.host_gid if spec else None, "KUBEGYM_SANDBOX_HOST_GID"),
    ):
        if value is None:
            text = os.environ.get(variable, "").strip()
            try:
                value = int(text) if text else HOST_ID
            except ValueError:
                raise ConfigError(f"{text!r} is not a number", field=variable) from None
            if value <= 0:
                raise ConfigError("never 0 (root)", field=variable, hint=f"unset it: {HOST_ID}")
        ids.append(value)
    return ids[0], ids[1]


def _chown_tree(root: Path, owner: tuple[int, int]) -> None:
    """Give ``root`` and everything under it (links themselves, never their targets) to ``owner``."""
    os.lchown(root, *owner)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(folder, name), *owner)


_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: bytes) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{os.strerror(code)}: {what.decode(errors='replace')}")


def _child_setup(limits_setup: Any, launch: _Launch | None) -> Any:
    """The ``preexec_fn`` of a jail's bubblewrap: join the cgroup and set rlimits (as root),
    make the private binds, reopen the seccomp program, then become the unprivileged host uid.

    Order matters: only root may enter the cgroup and mount; ``setgroups`` goes first, while
    we still may, so that no supplementary group of root's survives the drop.
    """
    if launch is None or (not launch.stage and launch.drop is None and launch.seccomp_fd is None):
        return limits_setup
    stage, drop = list(launch.stage), launch.drop
    fd, path = launch.seccomp_fd, launch.seccomp_path
    mount, unshare = _libc.mount, _libc.unshare

    def _setup() -> None:
        if limits_setup is not None:
            limits_setup()
        if fd is not None and path is not None:
            fresh = os.open(path, os.O_RDONLY)  # a new offset: bubblewrap reads it whole
            os.dup2(fresh, fd)
            os.close(fresh)
        if stage:
            _check(unshare(_CLONE_NEWNS), b"unshare")
            _check(mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), b"/")
            for host, point in stage:
                _check(mount(host, point, None, _MS_BIND | _MS_REC, None), host)
        if drop is not None:
            os.setgroups([])
            os.setresgid(drop[1], drop[1], drop[1])
            os.setresuid(drop[0], drop[0], drop[0])

    return _setup
