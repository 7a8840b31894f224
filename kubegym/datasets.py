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

    A relative ``path`` is read in the task's prepared data when the task has a
    preparation step (preparing it first, once), else in the task's folder;
    other sources are fetched into the cache (`kubegym.sources`).

    Raises:
        ConfigError: the data is missing, its sha256 differs, or its source
            cannot be reached.
    """
    from kubegym import preparation, sources

    base = None
    if dataset.path is not None and bundle.task.spec.preparation is not None:
        base = preparation.prepare(bundle)
    path = sources.fetch(bundle, dataset, base=base)
    if not path.exists():
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} is missing: no such file {path}",
            hint=f"prepare the task's data first: kubegym tasks prepare {bundle.name}",
        )
    check_sha256(
        bundle,
        f"dataset {dataset.name!r}",
        path,
        dataset.sha256,
        hint="the data changed or is corrupt: prepare it again",
    )
    return path


def in_folder(bundle: TaskBundle, dataset: tasks.Dataset, folder: Path) -> Path:
    """``dataset`` as it already lies in ``folder``, verified against its sha256; nothing is fetched.

    This is how the evaluator container finds the hidden data its task's data image
    copied into its eval folder: a dataset with a relative ``path`` lies at
    ``folder/path``, a dataset from any other source (URL, wheel, Debian, hub) at
    ``folder/<name>``.

    Raises:
        ConfigError: the data is missing or its sha256 differs.
    """
    relative = dataset.path if dataset.path and not Path(dataset.path).is_absolute() else None
    path = folder / (relative or dataset.name)
    if not path.exists():
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} is missing: no such file {path}",
            hint="the task's data image must hold it there",
        )
    check_sha256(
        bundle,
        f"dataset {dataset.name!r}",
        path,
        dataset.sha256,
        hint="the task's data image holds other data than the task declares: rebuild it",
    )
    return path


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
