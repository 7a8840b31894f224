"""Getting a Task's datasets onto this machine, checked against their sha256.

The local runner binds the agent's datasets read-only into the sandbox and
hands the validation and test data to the evaluator; both find the files
through `materialize`. Local paths are used where they are; every file is
checked against the sha256 its Task declares before any trial uses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubegym.api import tasks
from kubegym.catalog import TaskBundle
from kubegym.errors import ConfigError

# (path, size, mtime_ns) → sha256: a run checks each file once, not once per trial.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def materialize(bundle: TaskBundle, dataset: tasks.Dataset) -> Path:
    """The local file (or folder) of ``dataset``, verified against its sha256.

    Raises:
        ConfigError: the data is missing, its sha256 differs, or its source
            cannot be fetched by this version of kubegym.
    """
    if dataset.path is None:
        source = next(
            s for s in ("url", "huggingface", "debian", "pypi") if getattr(dataset, s) is not None
        )
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} comes from {source}, which this "
            "kubegym cannot fetch yet",
            hint="download it and point `path:` at the local copy",
        )
    path = bundle.resolve(dataset.path)
    if not path.exists():
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} is missing: no such file {path}",
            hint="prepare the task's data first",
        )
    if dataset.sha256 is not None:
        actual = sha256_of(path)
        if actual != dataset.sha256:
            raise ConfigError(
                f"task {bundle.name}: dataset {dataset.name!r} at {path} has sha256 {actual}, "
                f"but the task declares {dataset.sha256}",
                hint="the data changed or is corrupt: prepare it again",
            )
    return path


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
