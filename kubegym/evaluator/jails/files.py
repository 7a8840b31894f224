"""The task files a jail may be shown: what an evaluation names (its adapter and the files it
passes), checked to be regular files of the task that no jail is forbidden to see.

Called by the launcher and its remote half (which copy them into a jail's folder) and by
the jail server (which checks what an evaluator names). Which task files reach the
evaluator's folder at all is `kubegym.tasks.catalog.TaskBundle.evaluation_files`'s word.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any


def wanted_files(
    request: dict[str, Any], task_dir: Path, forbidden: Sequence[Path]
) -> tuple[bool, list[Path]]:
    """Whether the request wants the builtin adapter, and the task files it names (checked)."""
    builtin = request.get("adapter") == "builtin:call"
    files = request.get("files", [])
    if not isinstance(files, list):
        raise ValueError("files must be a list of paths")
    wanted = [task_file(task_dir, f, forbidden) for f in files]
    if not builtin:
        wanted.insert(0, task_file(task_dir, request.get("adapter"), forbidden))
    return builtin, wanted


def copy_task_files(task_dir: Path, wanted: Sequence[Path], task_copy: Path) -> None:
    """Copy task files to ``task_copy`` at their relative paths, readable by any uid."""
    for source in wanted:
        target = task_copy / source.relative_to(task_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for path in [task_copy, *task_copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def task_file(task_dir: Path, relative: object, forbidden: Sequence[Path]) -> Path:
    """A regular file inside the task folder that no jail is forbidden to see.

    Raises:
        ValueError: ``relative`` is not a path inside the folder, not a regular file, or
            lies in (or is) a forbidden path.
    """
    if not isinstance(relative, str) or not relative:
        raise ValueError("name the adapter and its files as paths inside the task folder")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{relative} is not a path inside the task folder")
    path = task_dir / pure
    info = path.lstat() if path.exists() or path.is_symlink() else None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{relative} is not a regular file of the task")
    resolved = path.resolve()
    for secret in forbidden:
        secret = secret.resolve()
        if resolved == secret or secret in resolved.parents:
            raise ValueError(f"{relative} may not be shown to agent code")
    return path
