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

from kubegym.evaluator import jails
from kubegym.tasks import catalog

#: In a data image: the agent's datasets, and the evaluation script with the hidden data.
DATA_DIR: Final = "data"
EVAL_DIR: Final = "eval"


def stage_data(bundle: catalog.TaskBundle, out: Path) -> Path:
    """Fill ``out`` as a data image's build context: ``data/`` and ``eval/``.

    ``data/<name>`` holds each agent dataset (mounted in the sandbox by its name);
    ``eval/`` holds the evaluation script, the task's adapters beside it and the
    starter code (the files the evaluator copies to the jail container for agent
    code: 3-sat's adapter.py and starter/solver.py) and the validation and test data at their relative paths (or under their names), as
    `kubegym.tasks.datasets.in_folder` looks for them. Every file is prepared and checked
    against its sha256 first.

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
    _copy(bundle.resolve(spec.evaluation.script), out / EVAL_DIR / spec.evaluation.script)
    for adapter in jails.adapter_files(bundle.root, spec.evaluation.script):
        _copy(bundle.resolve(adapter), out / EVAL_DIR / adapter)
    if spec.starter_code is not None:
        starter = bundle.resolve(spec.starter_code.path)
        _copy(starter, out / EVAL_DIR / spec.starter_code.path)
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
