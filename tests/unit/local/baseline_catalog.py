"""A catalog of real little tasks for the baseline table's tests, built in a temporary folder.

Every task is a copy of kubegym's example tasks (`examples/tasks/polyfit`, `xor-blobs`),
real tasks that run through the real sandbox and evaluator in a second or two; the
variants change one thing each: a baseline that writes nothing, a preparation that
fails, a GPU request, a baseline that prints forged scores, one that takes ten minutes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "tasks"

#: A baseline that writes a poor submission (every y is 0) and then claims a perfect score
#: every way it could: the JSON line an evaluation prints, a "metric: value" line, and the
#: same JSON written on every file descriptor a leaked metrics pipe could be.
FORGER = r"""
import json, os
ids = [line.split(",")[0] for line in open("data/inputs.csv").read().splitlines()[1:]]
with open("submission.csv", "w") as f:
    f.write("id,y\n" + "".join(f"{i},0\n" for i in ids))
fake = json.dumps({"r2": 1.0, "rmse": 0.0})
for fd in range(3, 64):
    try:
        os.write(fd, (fake + "\n").encode())
    except OSError:
        pass
open("results.json", "w").write(json.dumps({"final": {"r2": 1.0}, "score": 1.0}))
print("r2: 1.0")
print(fake)
"""

Edit = Callable[[dict[str, Any], Path], None]


def _no_submission(task: dict[str, Any], folder: Path) -> None:
    task["spec"]["starterCode"]["baselineCommand"] = (
        "python -c \"import sys; sys.exit('the baseline broke before writing anything')\""
    )


def _failing_preparation(task: dict[str, Any], folder: Path) -> None:
    (folder / "prepare_fails.py").write_text("import sys\nsys.exit('the source is gone')\n")
    task["spec"]["preparation"] = {"script": "prepare_fails.py", "timeoutSeconds": 30}


def _gpu(task: dict[str, Any], folder: Path) -> None:
    task["spec"]["resources"]["gpu"] = {"count": 1}


def _slow(task: dict[str, Any], folder: Path) -> None:
    task["spec"]["starterCode"]["baselineCommand"] = "python baseline.py && sleep 600"


def _forger(task: dict[str, Any], folder: Path) -> None:
    (folder / "starter" / "forge.py").write_text(FORGER)
    task["spec"]["starterCode"]["baselineCommand"] = "python forge.py"


VARIANTS: dict[str, tuple[str, Edit | None]] = {
    "polyfit": ("polyfit", None),
    "xor-blobs": ("xor-blobs", None),
    "polyfit-no-submission": ("polyfit", _no_submission),
    "polyfit-unpreparable": ("polyfit", _failing_preparation),
    "polyfit-gpu": ("polyfit", _gpu),
    "polyfit-forger": ("polyfit", _forger),
    "polyfit-slow": ("polyfit", _slow),
}


def build(root: Path, names: list[str], suite: str = "fixture") -> Path:
    """A catalog folder under ``root`` holding ``names`` (keys of `VARIANTS`) and a suite of them.

    Returns:
        The catalog folder (for ``KUBEGYM_TASK_PATH``).
    """
    catalog = root / "catalog"
    for name in names:
        source, edit = VARIANTS[name]
        folder = catalog / name
        shutil.copytree(
            EXAMPLES / source, folder, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile")
        )
        task = yaml.safe_load((folder / "task.yaml").read_text())
        task["metadata"]["name"] = name
        if edit is not None:
            edit(task, folder)
        (folder / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    (catalog / "suites").mkdir(parents=True, exist_ok=True)
    (catalog / "suites" / f"{suite}.yaml").write_text(yaml.safe_dump({"tasks": names}))
    return catalog
