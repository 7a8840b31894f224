"""Task families: a task's folder laid over the family folders it includes (`spec.includes`).

Tasks that share code (the gymnax RL tasks' PPO starter and evaluator, the games'
scoring loop, image classification's baseline) keep it once, in a family folder
such as ``task_images/families/gymnax/``, and name it in ``spec.includes``. The
task's files are then the families' files, in order, with the task's own folder on
top: a file of the task replaces the family's file of the same relative path.

`included` resolves and checks the paths a task names (relative to its folder,
inside its catalog: a task may not include ``../../etc``); `assemble` lays the
folders out as one, a content-addressed copy in the cache
(``<cache>/task-folders/<task>/<digest>``), so that everything downstream (the
workspace's starter code, the evaluator, the preparation script, image build
contexts, data images) reads one ordinary folder. `kubegym.tasks.catalog`
calls both when it reads a task from its folder (`TaskBundle.from_folder`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from kubegym import cache
from kubegym.api import tasks
from kubegym.errors import ConfigError

#: Where assembled folders live, below the cache root.
FOLDERS: Final = "task-folders"
#: Caches that never belong to a task's files (as an image's context leaves them out).
_SKIPPED_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES: Final = (".pyc", ".pyo")


def included(task: tasks.Task, folder: Path, catalog_root: Path) -> tuple[Path, ...]:
    """The family folders ``task`` includes, resolved against its ``folder`` and checked.

    Args:
        task: the task.
        folder: the task's own folder.
        catalog_root: the folder the task was found in (a task search path entry, or
            the run file's folder); every family must lie inside it.

    Raises:
        ConfigError: a family is outside the catalog, overlaps the task's folder or
            is not a folder (the error names the ``spec.includes`` item).
    """
    own = folder.resolve()
    root = catalog_root.resolve()
    found: list[Path] = []
    for index, relative in enumerate(task.spec.includes):
        field = f"spec.includes[{index}]"
        # resolve() follows links too: a link that leads out of the catalog is caught here.
        family = (own / relative).resolve()
        if family == root or not family.is_relative_to(root):
            raise ConfigError(
                f"task {task.name}: {relative!r} leads to {family}, outside the catalog {root}",
                field=field,
                hint="a family is a folder inside the task folders' catalog, such as ../families/<name>",
            )
        if family.is_relative_to(own) or own.is_relative_to(family):
            raise ConfigError(
                f"task {task.name}: {relative!r} overlaps the task's own folder",
                field=field,
                hint="include a sibling folder, such as ../families/<name>",
            )
        if not family.is_dir():
            raise ConfigError(f"task {task.name}: no family folder at {family}", field=field)
        found.append(family)
    return tuple(found)


def overlay(layers: Sequence[Path]) -> dict[str, Path]:
    """Every file of ``layers`` by its relative path, a later layer's file over an earlier one's.

    Raises:
        ConfigError: a layer holds a link or something else that is not a regular
            file or folder, or a path is a file in one layer and a folder in another.
    """
    files: dict[str, Path] = {}
    for layer in layers:
        for relative, path in _files(layer):
            files[relative] = path
    for relative in files:
        parent = os.path.dirname(relative)
        while parent:
            if parent in files:
                raise ConfigError(
                    f"{parent} is a file in {files[parent]} and a folder holding {relative} "
                    "in another layer of the task",
                    field="spec.includes",
                )
            parent = os.path.dirname(parent)
    return files


def assemble(name: str, layers: Sequence[Path]) -> Path:
    """One folder holding ``layers`` laid over each other: the task's files, complete.

    The copy is named by a digest of its content (relative paths, executable bits,
    bytes), built in a scratch folder and renamed into place: a folder, once there,
    never changes, so a trial reading it is never disturbed by an edit (which
    assembles a new one) or by another process assembling the same one.

    Args:
        name: the task's name (the copies of one task sit together).
        layers: the family folders in order, then the task's own folder.

    Raises:
        ConfigError: see `overlay`.
    """
    files = overlay(layers)
    digest = hashlib.sha256()
    for relative in sorted(files):
        path = files[relative]
        executable = "x" if os.access(path, os.X_OK) else "f"
        with path.open("rb") as stream:
            content = hashlib.file_digest(stream, "sha256").hexdigest()
        digest.update(f"{relative}\0{executable}\0{content}\n".encode())
    target = cache.root() / FOLDERS / name / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        for relative, path in files.items():
            copy = scratch / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            copy.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():  # not another process's copy, finished first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _files(layer: Path) -> list[tuple[str, Path]]:
    """The regular files below ``layer`` (caches left out), by their relative paths."""
    found: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(layer):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in [*dirs, *sorted(names)]:
            path = here / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                # A link could carry a file from anywhere on the machine into the task.
                raise ConfigError(
                    f"{path} is not a regular file: a task with families holds files and folders only",
                    field="spec.includes",
                )
            if not name.endswith(_SKIPPED_SUFFIXES):
                found.append((str(path.relative_to(layer)), path))
    return found
