"""Getting a Task's datasets onto this machine, checked against their sha256.

The local runner binds the agent's datasets read-only into the sandbox and
hands the validation and test data to the evaluator; both find the files
through `materialize`. Local paths are used where they are; every file is
checked against the sha256 its Task declares before any trial uses it.
"""

from __future__ import annotations

from pathlib import Path

from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.tasks import checksums, sources
from kubegym.tasks.catalog import TaskBundle


def materialize(bundle: TaskBundle, dataset: tasks.Dataset) -> Path:
    """The local file (or folder) of ``dataset``, verified against its sha256.

    A relative ``path`` is read in the task's prepared data when the task has a
    preparation step (preparing it first, once), else in the task's folder;
    other sources are fetched into the cache (`kubegym.tasks.sources`).

    Raises:
        ConfigError: the data is missing, its sha256 differs, or its source
            cannot be reached.
    """
    # Imported here, not at the top: preparation (venvs, subprocesses, structlog) is the
    # local machine's; the evaluator in a sandbox image imports this module for
    # `in_folder` alone, with only pydantic and PyYAML installed.
    from kubegym.tasks import preparation

    base = None
    if dataset.path is not None and bundle.task.spec.preparation is not None:
        base = preparation.prepare(bundle)
    path = sources.fetch(bundle, dataset, base=base)
    if not path.exists():
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} is missing: no such file {path}",
            hint=f"prepare the task's data first: kubegym tasks prepare {bundle.name}",
        )
    checksums.check_sha256(
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
    checksums.check_sha256(
        bundle,
        f"dataset {dataset.name!r}",
        path,
        dataset.sha256,
        hint="the task's data image holds other data than the task declares: rebuild it",
    )
    return path
