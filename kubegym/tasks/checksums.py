"""Checking a task's files against the sha256 its Task declares.

Used by `kubegym.tasks.datasets` (every dataset before a trial uses it) and
`kubegym.tasks.preparation` (what a preparation script wrote); a file is hashed
once per run, not once per trial.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubegym.errors import ConfigError
from kubegym.tasks.catalog import TaskBundle

# (path, size, mtime_ns) → sha256: a run checks each file once, not once per trial.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def check_sha256(
    bundle: TaskBundle, what: str, path: Path, expected: str | None, *, hint: str
) -> None:
    """Raise unless ``path`` has the sha256 the task declares (nothing declared: nothing to check).

    Raises:
        ConfigError: the sha256 differs; the message gives both values.
    """
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ConfigError(
            f"task {bundle.name}: {what} at {path} has sha256 {actual}, "
            f"but the task declares {expected}",
            hint=hint,
        )


def sha256_of(path: Path) -> str:
    """The sha256 of a file, or of a folder (its files' relative paths and bytes, in sorted order)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if not path.is_dir() and key in _VERIFIED:
        return _VERIFIED[key]
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            _update(digest, file)
    else:
        _update(digest, path)
        _VERIFIED[key] = digest.hexdigest()
    return digest.hexdigest()


def _update(digest: hashlib._Hash, file: Path) -> None:
    with file.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
