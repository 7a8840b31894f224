"""A data image's build context: the task's datasets and its evaluation part.

`stage_data` fills ``build/images/<task>-data`` before the data image's build
(`kubegym.images._build`, or the docker path of ``python -m kubegym.images``); the
operator copies the image's folders into the pod's volumes (`kubegym.operator.objects`)
and `kubegym.tasks.datasets.in_folder` reads them back.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from kubegym.tasks import catalog

#: In a data image: the agent's datasets, and the evaluation script with the hidden data.
DATA_DIR: Final = "data"
EVAL_DIR: Final = "eval"


def stage_data(bundle: catalog.TaskBundle, out: Path) -> Path:
    """Fill ``out`` as a data image's build context: ``data/`` and ``eval/``.

    ``data/<name>`` holds each agent dataset (mounted in the sandbox by its name);
    ``eval/`` holds the task's evaluation files (`kubegym.tasks.catalog.TaskBundle.evaluation_files`:
    the script, the modules beside it, such as its adapters and its family's shared
    evaluation code, and the starter code; the evaluator copies some of them to the jail
    container for agent code: 3-sat's adapter.py and starter/solver.py) and the validation
    and test data at their relative paths (or under their names), as
    `kubegym.tasks.datasets.in_folder` looks for them. For a task of a family these come
    from the folder assembled from the family and the task (``bundle.root``). Every file
    is prepared and checked against its sha256 first.

    Raises:
        ConfigError: a dataset cannot be prepared or its sha256 differs.
    """
    from kubegym.tasks import datasets

    spec = bundle.task.spec
    shutil.rmtree(out, ignore_errors=True)
    (out / DATA_DIR).mkdir(parents=True)
    (out / EVAL_DIR).mkdir(parents=True)
    for dataset in spec.datasets:
        _copy(datasets.materialize(bundle, dataset), out / DATA_DIR / dataset.name)
    for dataset in [*spec.validation_data, *spec.evaluation.test_data]:
        relative = dataset.path if dataset.path and not Path(dataset.path).is_absolute() else None
        _copy(datasets.materialize(bundle, dataset), out / EVAL_DIR / (relative or dataset.name))
    for relative in bundle.evaluation_files():
        _copy(bundle.resolve(relative), out / EVAL_DIR / relative)
    # World-readable: the image's files are copied out by whatever uid the pod runs as.
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return out


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)
