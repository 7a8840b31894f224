"""What a jail's child does as root in the instant before it becomes bubblewrap.

`Launch` carries the plan (binds to stage in a private mount namespace, the seccomp
program's descriptor, the unprivileged host ids to become) and `child_setup` turns it
into the ``preexec_fn`` of the jail's `subprocess.Popen`. Used by `jail` (every command
of a jail), `bwrap` (which stages binds into the plan) and `probe` (its trial jail as the
host uid). Raw system calls only: this runs between fork and exec.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Launch:
    """What a jail's child does as root just before it becomes bubblewrap."""

    stage: list[tuple[bytes, bytes]] = field(default_factory=list)
    """``(host path, mount point)`` binds made in a private mount namespace, so that bubblewrap,
    running as an unprivileged uid, reaches sources behind folders only root may enter."""

    drop: tuple[int, int] | None = None
    """The host ``(uid, gid)`` to become (kubegym runs as root); None: stay as we are."""

    seccomp_fd: int | None = None
    """The fd number bubblewrap's ``--seccomp`` names; each child reopens it at offset 0."""

    seccomp_path: str | None = None


def child_setup(limits_setup: Any, launch: Launch | None) -> Any:
    """The ``preexec_fn`` of a jail's bubblewrap: join the cgroup and set rlimits (as root),
    make the private binds, reopen the seccomp program, then become the unprivileged host uid.

    Order matters: only root may enter the cgroup and mount; ``setgroups`` goes first, while
    we still may, so that no supplementary group of root's survives the drop.

    Args:
        limits_setup: the limit plan's own ``preexec_fn`` (cgroup, rlimits), or None.
        launch: the plan; None (or an empty one) adds nothing to ``limits_setup``.
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


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    """Give ``root`` and everything under it (links themselves, never their targets) to ``owner``."""
    os.lchown(root, *owner)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(folder, name), *owner)


def _check(result: int, what: bytes) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{os.strerror(code)}: {what.decode(errors='replace')}")
