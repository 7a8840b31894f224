"""Which host folders a jail sees, checked: the workspace, the runtime folder and the
read-only binds (the spec's, then the running Python and the kubegym package).

`checked_binds` refuses a spec that would show a forbidden path (the evaluation script,
hidden data), put the runtime folder in reach of the workspace, or bind over a path the
jail reserves. Called by `kubegym.sandbox.isolation.prepare` before anything is started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath

from kubegym.errors import ConfigError
from kubegym.sandbox.isolation import specs


def checked_binds(spec: specs.IsolationSpec) -> list[tuple[Path, str]]:
    """The read-only binds (the spec's, then Python and kubegym), after checking the spec.

    Creates the runtime folder (mode 0700) once the spec passes.

    Raises:
        ConfigError: the workspace is missing, the runtime folder overlaps it, a bind is
            reserved or missing, or a bind would make a forbidden path visible.
    """
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
    reserved = ("/proc", "/dev", "/usr", specs.RUNTIME)
    if text in ("/", specs.WORKSPACE) or any(
        text == r or text.startswith(r + "/") for r in reserved
    ):
        raise ConfigError(
            f"sandbox path {target!r} is reserved",
            field="read_only",
            hint="bind under /data or /workspace/…",
        )
    if not Path(host).exists():
        raise ConfigError(f"read-only bind {host} does not exist", field="read_only")
    return text


def _runtime_binds(spec: specs.IsolationSpec, taken: list[Path]) -> list[tuple[Path, str]]:
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

        extra.append((Path(kubegym.__file__).resolve().parent, f"{specs.KUBEGYM_ROOT}/kubegym"))
    return extra


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents
