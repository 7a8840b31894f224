"""One Python environment per task, cached by a hash of its requirements.

The local runner gives every sandbox and every evaluation of a task the
task's own venv (bound read-only into the sandbox), so a run never installs
packages per trial and two tasks never share a broken environment. On a
cluster the task image plays this part.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from kubegym import cache
from kubegym.errors import ConfigError

_READY = ".kubegym-ready"
log = structlog.get_logger()


def key(requirements: Sequence[str], base_python: str = sys.executable) -> str:
    """The cache key of an environment: the requirements, the interpreter and the platform."""
    identity = {
        "requirements": sorted(r.strip() for r in requirements if r.strip()),
        "python": _version(base_python),
        "platform": platform.machine(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def ensure(
    requirements: Sequence[str],
    *,
    cache_dir: Path | None = None,
    base_python: str = sys.executable,
) -> Path:
    """The venv for ``requirements``, built once and reused; returns its root folder.

    Safe to call from several processes at once: one builds, the others wait.

    Raises:
        ConfigError: pip could not install the requirements (its output is included).
    """
    root = (cache_dir or cache.root() / "venvs") / key(requirements, base_python)
    if (root / _READY).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / _READY).exists():
            return root
        if root.exists():  # a build that died half-way
            shutil.rmtree(root)
        log.info("task_env_building", path=str(root), requirements=list(requirements))
        _run([base_python, "-m", "venv", "--without-pip", str(root)], "create the venv")
        if requirements:
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(python(root)),
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                f"install {' '.join(requirements)}",
            )
        (root / _READY).write_text(json.dumps({"requirements": list(requirements)}))
    return root


def python(root: Path) -> Path:
    """The interpreter of the venv at ``root``."""
    return root / "bin" / "python"


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"could not {what} for a task environment:\n{(result.stderr or result.stdout)[-2000:]}"
        )


def _version(base_python: str) -> str:
    if base_python == sys.executable:
        return platform.python_version()
    out = subprocess.run(
        [base_python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
