"""A task family made of the polyfit example: its evaluation script and baseline in a family folder.

Used by the catalog's tests (tests/unit/tasks) and the image tests (tests/unit/images).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from kubegym.api import documents
from kubegym.tasks import catalog

TASK = "polyfit-family"
NOTES = "starter/notes.txt"


def make_catalog(repo: Path, root: Path, includes: list[str] | None = None) -> Path:
    """``root``/families/fit (polyfit's evaluation and baseline) and ``root``/TASK, which includes it.

    Returns:
        The task's folder.
    """
    polyfit = repo / "examples" / "tasks" / "polyfit"
    family = root / "families" / "fit"
    (family / "starter").mkdir(parents=True)
    shutil.copyfile(polyfit / "evaluate.py", family / "evaluate.py")
    shutil.copyfile(polyfit / "starter" / "baseline.py", family / "starter" / "baseline.py")
    (family / NOTES).write_text("the family's notes\n")
    (family / "README.md").write_text("The fit family.\n")
    folder = root / TASK
    for part in ("data", "hidden"):
        shutil.copytree(polyfit / part, folder / part)
    shutil.copyfile(polyfit / "Dockerfile", folder / "Dockerfile")
    (folder / "starter").mkdir()
    (folder / NOTES).write_text("the task's own notes\n")
    doc = yaml.safe_load((polyfit / "task.yaml").read_text())
    doc["metadata"]["name"] = TASK
    doc["spec"]["includes"] = ["../families/fit"] if includes is None else includes
    (folder / "task.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def read(folder: Path) -> catalog.TaskBundle:
    """The task in ``folder``, read as `catalog.discover` reads it."""
    (task,) = documents.load_run_file(folder / "task.yaml").tasks
    return catalog.TaskBundle.from_folder(task, folder, folder.parent)
