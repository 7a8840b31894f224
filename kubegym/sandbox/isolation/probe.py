"""Whether bubblewrap works here: found, and able to start one trivial jail (as the host uid
jails run as, when kubegym runs as root); probed once per binary and cached.

`check_available` is what callers use (the local runner and backends choosing a sandbox,
the evaluator choosing its jails); `prepare` calls it first. Its errors say how to install
bubblewrap or enable user namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from kubegym.errors import ConfigError
from kubegym.sandbox.isolation import bwrap, launch, specs

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


def check_available(
    backend: specs.Backend = "bwrap", *, bwrap_path: str | None = None
) -> str | None:
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
    return working_bwrap(bwrap_path)[0]


def working_bwrap(bwrap_path: str | None) -> tuple[str, str]:
    """(full path, version) of a working bubblewrap, probed once per binary.

    Raises:
        ConfigError: as `check_available`.
    """
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


def _run_probe(path: str) -> tuple[str, str] | ConfigError:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        version = out.stdout.split()[-1] if out.stdout.split() else "unknown"
        argv = [path, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
        argv += [*bwrap.system_binds(), "--proc", "/proc", "--dev", "/dev", "--uid", "1000"]
        argv += ["--gid", "1000", "--clearenv", "--", "true"]
        env = {"PATH": os.defpath}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=env)
        if result.returncode == 0 and os.geteuid() == 0:
            # As root, probe again as the uid jails run as: its user namespaces must work too.
            ids = specs.host_ids(None)
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=10,
                env=env,
                preexec_fn=launch.child_setup(None, launch.Launch(drop=ids)),
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
            f"bubblewrap at {path} does not run: {error}", field="sandbox", hint=_INSTALL_HINT
        )
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        return ConfigError(
            f"bubblewrap cannot create a sandbox here: {detail}", field="sandbox", hint=_USERNS_HINT
        )
    return path, version
