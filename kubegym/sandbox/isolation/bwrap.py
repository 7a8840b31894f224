"""The bubblewrap command line of a jail, and what it binds in: the read-only system, a
generated /etc, the workspace, the runtime folder and the jail's environment.

`prefix` builds what every command of a jail runs behind (``bwrap … --``);
`system_binds` is also the probe's. Called by `kubegym.sandbox.isolation.prepare` and
`probe`. Standard library only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from kubegym.sandbox.isolation import launch as launch_mod
from kubegym.sandbox.isolation import specs

_log = logging.getLogger(__name__)
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_ALWAYS = (
    *("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"),
    *("protocols", "services", "fonts", "mime.types"),
)
"""Host /etc entries every jail gets (read-only): the dynamic linker's, Debian's alternatives…"""
_ETC_TLS = ("ssl", "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies")
"""Host /etc entries for TLS (certificates): with the open network, or an egress proxy whose
tunnels the jail's clients verify themselves."""
_ETC_EGRESS = (*_ETC_TLS, "resolv.conf", "gai.conf", "host.conf")
"""Host /etc entries for the open network only: DNS (behind a proxy, the proxy resolves)."""


def system_binds() -> list[str]:
    """/usr read-only, and /bin, /lib… as the host has them (symlinks into /usr or folders)."""
    argv = ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_LINKS:
        path = Path("/", name)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    return argv


def write_etc(etc_dir: Path, spec: specs.IsolationSpec) -> dict[str, Path]:
    """Minimal passwd/group/hosts/nsswitch for the jail's uid, written into ``etc_dir``."""
    shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    user, workspace = specs.USER, specs.WORKSPACE
    files = {
        "passwd": f"{user}:x:{spec.uid}:{spec.gid}:kubegym sandbox:{workspace}:{shell}\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"{user}:x:{spec.gid}:\nnogroup:x:65534:\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t{user}\n",
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


def jail_env(spec: specs.IsolationSpec) -> dict[str, str]:
    """The whole environment of a command inside the jail (bubblewrap clears the rest)."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{path}" if spec.bind_python else path,
        "HOME": specs.WORKSPACE,
        "USER": specs.USER,
        "LOGNAME": specs.USER,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
    }
    if spec.bind_kubegym:
        env["PYTHONPATH"] = specs.KUBEGYM_ROOT
    env.update(spec.env)
    return env


def prefix(
    spec: specs.IsolationSpec,
    bwrap: tuple[str, str],
    binds: list[tuple[Path, str]],
    etc: dict[str, Path],
    env: dict[str, str],
    launch: launch_mod.Launch | None = None,
    etc_dir: Path | None = None,
) -> list[str]:
    """The ``bwrap …`` prefix of every command of the jail (``--`` and the command follow).

    Args:
        spec: the checked spec.
        bwrap: bubblewrap's path and version (from the probe).
        binds: the read-only binds (`binds.checked_binds`).
        etc: the generated /etc files (`write_etc`).
        env: the jail's environment (`jail_env`).
        launch: the child's plan; when it drops to a host uid, every bind's source is staged
            into it under ``etc_dir``, where the unprivileged bubblewrap can reach it.
        etc_dir: the jail's generated folder.
    """
    version = tuple(int(part) for part in re.findall(r"\d+", bwrap[1])[:2])
    launch = launch or launch_mod.Launch()

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
    argv += ["--hostname", specs.USER, "--uid", str(spec.uid), "--gid", str(spec.gid)]
    argv += ["--cap-drop", "ALL"]
    argv += [*system_binds(), "--proc", "/proc", "--dev", "/dev"]
    for hidden in spec.masked:  # over the system binds, so they hide what those show
        if Path(hidden).is_dir():
            argv += ["--tmpfs", str(hidden)]
        elif Path(hidden).exists():
            argv += ["--ro-bind", "/dev/null", str(hidden)]
    argv += [*_tmp_size(spec, bwrap[1], version), "--tmpfs", "/tmp"]
    for name, path in etc.items():
        argv += ["--ro-bind", str(path), f"/etc/{name}"]
    for name in _ETC_ALWAYS + _etc_network(spec):
        if Path("/etc", name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    workspace = specs.WORKSPACE
    inside_workspace = [(h, s) for h, s in binds if s.startswith(workspace + "/")]
    for host, target in binds:
        if (host, target) not in inside_workspace:
            argv += ["--ro-bind", source(host), target]
    argv += ["--bind", source(spec.workspace), workspace]
    for host, target in inside_workspace:  # after the workspace, so they sit on top of it
        argv += ["--ro-bind", source(host), target]
    argv += ["--bind", source(spec.runtime_dir), specs.RUNTIME]
    if spec.egress_proxy is not None:
        argv += ["--ro-bind", source(spec.egress_proxy), specs.EGRESS_DIR]
    argv += ["--remount-ro", "/"]
    argv += ["--chdir", workspace, "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    if launch.seccomp_fd is not None:
        argv += ["--seccomp", str(launch.seccomp_fd)]
    return argv


def _etc_network(spec: specs.IsolationSpec) -> tuple[str, ...]:
    """The host /etc entries the jail's network needs: none without one."""
    if spec.network == "egress":
        return _ETC_EGRESS
    return _ETC_TLS if spec.egress_proxy is not None else ()


def _tmp_size(spec: specs.IsolationSpec, version_text: str, version: tuple[int, ...]) -> list[str]:
    """``--size`` for /tmp where bubblewrap has it: /tmp is memory, never more than the
    memory limit, nor than the disk quota."""
    tmp_sizes = [n for n in (spec.memory_bytes, spec.disk_bytes) if n is not None]
    if tmp_sizes and version >= (0, 8):
        return ["--size", str(min(tmp_sizes))]
    if spec.disk_bytes is not None:
        _log.warning(
            "sandbox_tmp_unlimited name=%s bwrap=%s (--size needs 0.8)", spec.name, version_text
        )
    return []
