"""Finding Tasks: in the run file, in task folders on a search path, by name, label or suite.

A `TaskBundle` is a Task together with the folder its relative paths (starter
code, evaluation script, data) are resolved against. A task read from its folder
that includes families (``spec.includes``) gets the folder laid out from them and
its own (`kubegym.tasks.families`); everything downstream reads that one folder.
The local runner and `kubegym tasks` find tasks through here; on a cluster, Tasks
are objects in the namespace instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubegym.api import common, documents, runs, tasks
from kubegym.errors import ConfigError
from kubegym.tasks import families, profiles

TASK_FILE = "task.yaml"
SUITES_DIR = "suites"


@dataclass(frozen=True)
class TaskBundle:
    """A Task and the folder its relative paths are resolved against.

    Built directly, ``root`` must already hold every file of the task (the evaluator
    container's eval folder, a copy the dev-cluster kubelet laid out); a task folder is
    read with `from_folder`, which lays out the families the task includes.
    """

    task: tasks.Task
    root: Path
    """The task's files, complete: its own folder, or the one assembled from its families and it."""
    layers: tuple[Path, ...] = ()
    """Where ``root``'s files come from when it was assembled: the family folders in order,
    then the task's own folder (the last word). Empty when ``root`` is the task's own folder."""

    @classmethod
    def from_folder(cls, task: tasks.Task, folder: Path, catalog_root: Path) -> TaskBundle:
        """``task`` read from its own ``folder``, laid over the families it includes.

        Args:
            task: the task (``folder``'s task.yaml).
            folder: the task's own folder.
            catalog_root: the folder the task was found in; its families must lie inside.

        Raises:
            ConfigError: a family is outside the catalog or missing, or the folders
                cannot be laid over each other (the error names ``spec.includes``).
        """
        folder = folder.resolve()
        found = families.included(task, folder, catalog_root)
        if not found:
            return cls(task, folder)
        layers = (*found, folder)
        return cls(task, families.assemble(task.name, layers), layers)

    @property
    def name(self) -> str:
        return self.task.name

    def resolve(self, relative: str) -> Path:
        """An absolute path for a path in the task's spec."""
        path = Path(relative)
        return path if path.is_absolute() else (self.root / path).resolve()

    def origin(self, relative: str) -> Path:
        """Where the task's file at ``relative`` comes from: its own folder or a family's.

        For messages and commands a person reads (``docker build --file``): the file
        itself is read from ``root``.
        """
        for layer in reversed(self.layers):
            if (layer / relative).exists():
                return layer / relative
        return self.root / relative

    def evaluation_files(self) -> list[str]:
        """The task's files the evaluator reads besides the data, relative to ``root``.

        The evaluation script; the Python modules beside it, which it may import (its
        folder comes first on ``sys.path``): its adapters (``adapter*.py``, which agent
        code may be shown) and the modules its family shares among its tasks; and the
        starter code, which the evaluation may load or show agent code. A data image's
        eval folder and the dev-cluster kubelet's hold these, as the task's folder does
        locally.
        """
        script = self.task.spec.evaluation.script
        beside = (self.root / script).parent
        modules = sorted(
            str(path.relative_to(self.root))
            for path in beside.glob("*.py")
            if path.is_file() and not path.is_symlink() and path.name != Path(script).name
        )
        starter = self.task.spec.starter_code
        return [script, *modules, *([starter.path] if starter is not None else [])]


def search_path(run_dir: Path | None = None) -> list[Path]:
    """Where task folders are looked for, in order.

    ``$KUBEGYM_TASK_PATH`` (folders separated by ``:``), the run file's
    ``tasks/`` folder, and the repository's ``task_images/`` in a source checkout.
    """
    folders = [Path(p) for p in os.environ.get("KUBEGYM_TASK_PATH", "").split(os.pathsep) if p]
    if run_dir is not None:
        folders.append(run_dir / "tasks")
    checkout = Path(__file__).resolve().parents[2] / "task_images"
    if checkout.is_dir():
        folders.append(checkout)
    return [f for f in folders if f.is_dir()]


def discover(
    folders: Iterable[Path], broken: list[ConfigError] | None = None
) -> dict[str, TaskBundle]:
    """Every task in `folders` (each `<folder>/<task>/task.yaml`), first one wins per name.

    A malformed task file does not hide the others: it is skipped, and its error
    is added to `broken` when given (`kubegym validate` reports it in full).
    """
    found: dict[str, TaskBundle] = {}
    for folder in folders:
        for task_file in sorted(folder.glob(f"*/{TASK_FILE}")):
            try:
                run_file = documents.load_run_file(task_file)
            except ConfigError as exc:
                if broken is not None:
                    broken.append(exc)
                continue
            for task in run_file.tasks:
                if task.name in found:
                    continue
                try:
                    found[task.name] = TaskBundle.from_folder(task, task_file.parent, folder)
                except ConfigError as exc:
                    if broken is not None:
                        broken.append(exc)  # it names the task and the field
    return found


def select(
    selection: runs.TaskSelection,
    run_file: documents.RunFile,
    run_dir: Path,
    folders: Sequence[Path] | None = None,
) -> list[TaskBundle]:
    """The tasks a BenchmarkRun asks for, in a stable order.

    Tasks written in the run file come first and win over task folders of the
    same name.

    Raises:
        ConfigError: a named task or suite is not found, or a selector matches nothing.
    """
    known = {t.name: _in_run_file(t, run_dir) for t in run_file.tasks}
    broken: list[ConfigError] = []
    searched = folders if folders is not None else search_path(run_dir)
    for name, bundle in discover(searched, broken).items():
        known.setdefault(name, bundle)
    if selection.names is not None:
        names = list(selection.names)
    elif selection.suite is not None:
        names = _suite(selection.suite, folders if folders is not None else search_path(run_dir))
    else:
        assert selection.selector is not None
        names = sorted(n for n, b in known.items() if _matches(selection.selector, b.task))
        if not names:
            raise ConfigError("the label selector matches no task", field="spec.tasks.selector")
    missing = [n for n in names if n not in known]
    if missing:
        unreadable = "".join(f"\n{exc}" for exc in broken)
        raise ConfigError(
            f"unknown task(s): {', '.join(missing)}"
            + (f"; these task files could not be read:{unreadable}" if broken else ""),
            field="spec.tasks",
            hint=f"known tasks: {', '.join(sorted(known)) or 'none'}; "
            "put the Task in the run file or a task folder on KUBEGYM_TASK_PATH",
        )
    return [known[n] for n in names]


@dataclass(frozen=True)
class RunTasks:
    """A run's tasks, and the run, after its suite profile (``spec.profile``) when it has one."""

    run: runs.BenchmarkRun
    """The run, its unset fields defaulted by the profile."""
    bundles: list[TaskBundle]
    """The run's tasks, in order, each under the profile's setting of it."""
    profile: str | None = None
    """The profile as the leaderboard's scope records it (`profiles.scope_label`)."""


def select_for_run(
    run: runs.BenchmarkRun,
    run_file: documents.RunFile,
    run_dir: Path,
    folders: Sequence[Path] | None = None,
) -> RunTasks:
    """The tasks a BenchmarkRun asks for (`select`), under its suite profile.

    Raises:
        ConfigError: as `select`; the profile is unknown or unreadable, does not cover a
            chosen task, or its setting of one is invalid (the message names its file).
    """
    searched = list(folders) if folders is not None else search_path(run_dir)
    bundles = select(run.spec.tasks, run_file, run_dir, searched)
    if run.spec.profile is None:
        return RunTasks(run, bundles)
    profile = profiles.load(profiles.find(run.spec.profile, searched))
    profiles.check_names(profile, _names(run_file, searched))
    spec = profiles.apply_run(profile, run.spec)
    profiled = [
        dataclasses.replace(
            bundle, task=profiles.apply_task(profile, bundle.task, validation=spec.validation)
        )
        for bundle in bundles
    ]
    own = [b.name for b in bundles if run_file.task(b.name) is not None]
    return RunTasks(
        run.model_copy(update={"spec": spec}),
        profiled,
        profiles.scope_label(profile, spec, own),
    )


def _names(run_file: documents.RunFile, folders: Iterable[Path]) -> set[str]:
    """The name of every task in the run file or a task folder (read, not laid out)."""
    names = {t.name for t in run_file.tasks}
    for folder in folders:
        for task_file in folder.glob(f"*/{TASK_FILE}"):
            try:
                names.update(t.name for t in documents.load_run_file(task_file).tasks)
            except ConfigError:
                continue  # `select` reports the unreadable ones it needs
    return names


def _in_run_file(task: tasks.Task, run_dir: Path) -> TaskBundle:
    """A task written in the run file: its paths resolve against the run file's folder."""
    if task.spec.includes:
        # Laying the run file's whole folder over a family would copy everything in it.
        raise ConfigError(
            f"task {task.name}: only a task in its own folder (a task.yaml) can include families",
            field="spec.includes",
            hint="move the task into a folder of its own, on KUBEGYM_TASK_PATH or in ./tasks/",
        )
    return TaskBundle(task, run_dir.resolve())


def _suite(name: str, folders: Sequence[Path]) -> list[str]:
    for folder in folders:
        path = folder / SUITES_DIR / f"{name}.yaml"
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            names = data.get("tasks")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{path}: a suite file needs `tasks:`, a list of task names")
            return names
    raise ConfigError(f"unknown suite {name!r}", field="spec.tasks.suite")


def _matches(selector: common.LabelSelector, task: tasks.Task) -> bool:
    labels = task.metadata.labels or {}
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expr in selector.match_expressions or []:
        present = expr.key in labels
        value = labels.get(expr.key)
        values = expr.values or []
        ok = {
            "In": present and value in values,
            "NotIn": not present or value not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[expr.operator]
        if not ok:
            return False
    return True
