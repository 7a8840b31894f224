"""What one sandbox may see and use: `IsolationSpec`, checked when it is made, and the
fixed paths and ids of a jail.

Every other module of `kubegym.sandbox.isolation` reads these; callers build an
`IsolationSpec` (the local sandbox backend, the evaluator's jails, the benchmark) and hand
it to `kubegym.sandbox.isolation.prepare`. Standard library only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kubegym.errors import ConfigError

Backend = Literal["bwrap", "process"]
"""``bwrap``: a bubblewrap jail (the default). ``process``: no isolation at all (opt-in)."""

Network = Literal["none", "egress"]
"""``none``: loopback only, in a network namespace of its own. ``egress``: the host's network."""

WORKSPACE = "/workspace"
"""Where the workspace appears inside the jail; also the working directory and HOME."""

RUNTIME = "/run/kubegym"
"""Where the runtime folder appears inside the jail (the sandbox server's Unix socket)."""

EGRESS_DIR = "/run/kubegym-egress"
"""Where the host's egress proxy's folder (its Unix socket) appears inside the jail (read-only),
when the trial has an egress allowlist; `kubegym.sandbox.relay` reaches the proxy there."""

KUBEGYM_ROOT = "/opt/kubegym"
"""Inside the jail, ``PYTHONPATH`` entry that holds the ``kubegym`` package (read-only)."""

USER = "sandbox"
"""The user name the jail's uid has inside (in the generated ``/etc/passwd``)."""

HOST_ID = 1_999_999
"""The host uid and gid a jail runs as when kubegym runs as root (``$KUBEGYM_SANDBOX_HOST_UID``
and ``$KUBEGYM_SANDBOX_HOST_GID`` change it): a dedicated id no account or service uses, below
the 2**21 that plain tar headers hold. Without it the jail's user would be the host's root."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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

    egress_proxy: Path | None = None
    """The host folder that holds the trial's egress proxy's Unix socket (and nothing else):
    bound read-only at `EGRESS_DIR`, with the host's TLS certificates, for a jail whose
    ``network`` is ``none``. The jail still gets no network: only that socket leads out."""

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
            (
                "egress_proxy",
                self.egress_proxy is not None and self.network != "none",
                "an egress proxy is for a jail without network (network none)",
            ),
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


def host_ids(spec: IsolationSpec | None) -> tuple[int, int]:
    """The unprivileged host ``(uid, gid)`` a jail started by root runs as.

    Args:
        spec: its ``host_uid``/``host_gid`` win; then the environment; then `HOST_ID`.

    Raises:
        ConfigError: the environment names a non-number or 0.
    """
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
