"""Suite profiles: another benchmark's setting for a run's tasks and the run itself.

A profile (``profiles/<name>.yaml`` on the task search path, beside ``suites/``)
names, per task, what differs from kubegym's own setting: resources (GPUs
included), limits, requirements and egress hosts added, and dataset variants
the task's preparation writes; and the run's defaults (`validation`,
`bestSubmission`, `sandboxEgress`), which apply only where the run file left the
field unset. A run selects one with ``spec.profile``. The local runner applies it
through `kubegym.tasks.catalog.select_for_run`; the operator through
`kubegym.operator.runs`, with the profiles its image ships
(``/opt/kubegym/task_images/profiles``, on its ``KUBEGYM_TASK_PATH``).

What a profile may touch is closed: it never reaches a task's evaluation, its
hidden data (``validationData``, ``testData``), its image or its network switch,
and a dataset variant must stay clear of every folder that holds hidden data.
The leaderboard's scope records the profile under `scope_label`, which names
every way the run departed from it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Field

from kubegym.api import common, field_errors, runs, tasks
from kubegym.api.common import DnsLabel, Model, Sha256, TaskPath
from kubegym.errors import ConfigError

PROFILES_DIR = "profiles"
"""The folder of profile files in a task folder on the search path (beside ``suites/``)."""


class DatasetVariant(Model):
    """Another file the task's preparation writes for one of its agent datasets."""

    path: TaskPath
    """The variant's path, read where the dataset's own `path` is (the preparation's output)."""

    sha256: Sha256 | None = None
    """The variant's sha256, checked like the dataset's own."""


#: A requirement a profile adds: a distribution name first, so never a pip option
#: (``--index-url …`` would send the task's whole install to another index).
Requirement = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9]")]


class Additions(Model):
    """Python requirements added to a task's environment."""

    requirements: list[Requirement] = Field(default_factory=list)
    """Requirements (pip syntax) added to `environment.requirements`, unless already there."""


class TaskSetting(Model):
    """What a profile changes in one task."""

    resources: dict[str, Any] | None = None
    """Merged into the task's `resources` (`gpu: {count: 2}` keeps the task's product)."""

    limits: dict[str, Any] | None = None
    """Merged into the task's `limits`, such as `trainingTimeoutSeconds`."""

    environment: Additions | None = None
    """Requirements added to the task's environment."""

    egress: common.Egress | None = None
    """Hosts added to the task's `egress.hosts`."""

    datasets: dict[DnsLabel, DatasetVariant] = Field(default_factory=dict)
    """Agent datasets read from a variant instead, by the dataset's name. A variant may hold
    the held-out validation data (a full training set), so it needs `validation: test`."""

    note: str | None = None
    """A paragraph appended to the task's description: what the agent should know of the
    setting (the variant's size, the GPUs)."""


class RunDefaults(Model):
    """The run's fields a profile sets when the run file does not."""

    validation: Literal["heldout", "test"] | None = None
    """The run's `validation`."""

    best_submission: runs.BestSubmissionRule | None = None
    """The run's `bestSubmission`."""

    sandbox_egress: common.Egress | None = None
    """The run's `sandboxEgress`."""


class ProfileFile(Model):
    """A profile file's content."""

    description: str
    """What the profile reproduces, for people."""

    run: RunDefaults = Field(default_factory=RunDefaults)
    """The run's defaults."""

    tasks: dict[DnsLabel, TaskSetting]
    """Every task the profile covers (a run with the profile runs no other), and its setting."""


#: The run fields a profile may default, by attribute: what `RunDefaults` holds.
RUN_FIELDS: tuple[str, ...] = ("validation", "best_submission", "sandbox_egress")


@dataclass(frozen=True)
class Profile:
    """A profile read from its file."""

    name: str
    path: Path
    content: ProfileFile

    def setting(self, task: str) -> TaskSetting:
        """The profile's setting of ``task``.

        Raises:
            ConfigError: the profile does not cover ``task`` (its numbers would be
                labelled with a setting nobody wrote for it).
        """
        found = self.content.tasks.get(task)
        if found is None:
            raise ConfigError(
                f"profile {self.name} ({self.path}) does not cover task {task}",
                field="spec.profile",
                hint=f"it covers {', '.join(sorted(self.content.tasks))}; run {task} "
                "without the profile, or add it to the profile's `tasks`",
            )
        return found


def find(name: str, folders: Iterable[Path]) -> Path:
    """The file of profile ``name``: the first ``<folder>/profiles/<name>.yaml``.

    Raises:
        ConfigError: no folder holds it (names the run's ``spec.profile``).
    """
    searched = list(folders)
    for folder in searched:
        path = folder / PROFILES_DIR / f"{name}.yaml"
        if path.is_file():
            return path
    known = sorted({p.stem for f in searched for p in (f / PROFILES_DIR).glob("*.yaml")})
    raise ConfigError(
        f"unknown profile {name!r}",
        field="spec.profile",
        hint=f"known profiles: {', '.join(known) or 'none'} "
        f"(profiles/<name>.yaml in a folder on KUBEGYM_TASK_PATH or the run's tasks/)",
    )


def load(path: Path) -> Profile:
    """Read a profile file; its name is the file's stem.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or has unknown or bad
            fields (the message names the file and the field).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the profile ({exc})") from None
    try:
        content = ProfileFile.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        raise _retold(exc, ProfileFile, path, ()) from None
    return Profile(path.stem, path, content)


def check_names(profile: Profile, known: Iterable[str]) -> None:
    """Every task the profile sets is a task there is (a misspelt name would set nothing).

    Raises:
        ConfigError: a task name of the profile is unknown (names the file and the field).
    """
    names = set(known)
    for name in profile.content.tasks:
        if name not in names:
            raise ConfigError(
                f"{profile.path}: tasks.{name}: unknown task",
                hint=f"known tasks: {', '.join(sorted(names)) or 'none'}",
            )


def apply_task(profile: Profile, task: tasks.Task, *, validation: str) -> tasks.Task:
    """``task`` under ``profile``'s setting of it.

    Idempotent: a task already under the setting comes back unchanged, which is how the
    operator checks a Task rendered for the profile (`cluster_problems`).

    Args:
        profile: the profile.
        task: the task as its folder (or the namespace) holds it.
        validation: the run's `validation` after the profile's default.

    Raises:
        ConfigError: the profile does not cover the task, names a dataset the task lacks,
            makes the task invalid, or points a variant at hidden data (each names the
            profile's file and field).
    """
    setting = profile.setting(task.name)
    where = ("tasks", task.name)
    wire = task.model_dump(by_alias=True, exclude_none=True, mode="json")
    spec = wire["spec"]
    if setting.resources is not None:
        spec["resources"] = _merged(spec.get("resources", {}), setting.resources)
    if setting.limits is not None:
        spec["limits"] = _merged(spec.get("limits", {}), setting.limits)
    if setting.environment is not None:
        environment = spec.setdefault("environment", {})
        environment["requirements"] = _added(
            environment.get("requirements", []), setting.environment.requirements
        )
    if setting.egress is not None:
        egress = spec.setdefault("egress", {})
        egress["hosts"] = _added(egress.get("hosts", []), setting.egress.hosts)
    if setting.datasets:
        _check_variants(profile, task, setting, validation)
        for dataset in spec["datasets"]:
            variant = setting.datasets.get(dataset["name"])
            if variant is not None:
                dataset["path"] = variant.path
                dataset.pop("sha256", None)
                if variant.sha256 is not None:
                    dataset["sha256"] = variant.sha256
    if setting.note is not None:
        heading = f"## This run's setting ({profile.name})"
        if heading not in spec["description"]:
            spec["description"] = f"{spec['description'].rstrip()}\n\n{heading}\n\n{setting.note}"
    try:
        return tasks.Task.model_validate(wire)
    except pydantic.ValidationError as exc:
        raise _retold(exc, tasks.Task, profile.path, where, strip=("spec",)) from None


def apply_run(profile: Profile, spec: runs.BenchmarkRunSpec) -> runs.BenchmarkRunSpec:
    """``spec`` with the profile's defaults where the run file left the field unset."""
    defaults = profile.content.run
    update = {
        name: getattr(defaults, name)
        for name in RUN_FIELDS
        if getattr(defaults, name) is not None and name not in spec.model_fields_set
    }
    return spec.model_copy(update=update, deep=True)


def scope_label(
    profile: Profile, spec: runs.BenchmarkRunSpec, own_tasks: Sequence[str] = ()
) -> str:
    """The profile as the leaderboard's scope records it: its name, plus every departure.

    A run file that sets a field the profile defaults to another value, or brings its own
    Task under a name the profile covers, did not run the profile's setting; its scope
    says so, and `kubegym.scoring.scope.comparable` then refuses to compare it with a run
    of the profile itself.

    Args:
        profile: the profile.
        spec: the run's spec after `apply_run`.
        own_tasks: the profiled tasks the run file defines itself (their content is the
            run file's, not the catalog's).
    """
    defaults = profile.content.run
    departures = []
    for name in RUN_FIELDS:
        wanted, used = getattr(defaults, name), getattr(spec, name)
        if wanted is not None and wanted != used:
            shown = used.hosts if isinstance(used, common.Egress) else used
            departures.append(f"{_camel(name)}={shown}")
    departures += [f"task {name} from the run file" for name in sorted(own_tasks)]
    return profile.name if not departures else f"{profile.name} ({'; '.join(departures)})"


def cluster_problems(profile: Profile, task: tasks.Task, *, validation: str) -> list[str]:
    """What a Task in a namespace lacks of the profile's image-level setting.

    On a cluster a task's software and data are in its images: a requirement the profile
    adds, or a dataset variant, is there only when the images were built from the Task
    rendered under the profile (`apply_task`), and the Task in the namespace is that
    rendering. Resources, limits and egress are the pod's and are applied by the operator.
    A Task with dataset variants names its data image (``spec.dataImage``): the one derived
    from its image name is the data image of kubegym's own setting, which holds no variant.

    Returns:
        One message per problem, naming the Task, the profile and the field; empty when
        the Task already carries the setting.
    """
    rendered = apply_task(profile, task, validation=validation)
    problems = []
    if rendered.spec.environment != task.spec.environment:
        problems.append("spec.environment.requirements")
    if rendered.spec.datasets != task.spec.datasets:
        problems.append("spec.datasets")
    elif profile.setting(task.name).datasets and task.spec.data_image is None:
        problems.append("spec.dataImage")
    return [
        f"Task/{task.name}: {field}: not built for profile {profile.name} "
        f"({profile.path}): apply the Task rendered under the profile, with images built from it"
        + (" and named in spec.dataImage" if field == "spec.dataImage" else "")
        for field in problems
    ]


def _check_variants(
    profile: Profile, task: tasks.Task, setting: TaskSetting, validation: str
) -> None:
    """A variant replaces an agent dataset read from the task's folder, stays beside it,
    and keeps clear of hidden data and of the evaluation script's folder (the task's root
    when the script lies there); and the run validates on test data."""
    field = f"tasks.{task.name}.datasets"
    if validation != "test":
        raise ConfigError(
            f"{profile.path}: the dataset variants of task {task.name} may hold the held-out "
            f"validation data, so the run must validate on test data",
            field="spec.validation",
            hint=f"leave spec.validation unset (profile {profile.name} sets test) or set it to test",
        )
    by_name = {d.name: d for d in task.spec.datasets}
    hidden = [
        d.path
        for d in [*task.spec.validation_data, *task.spec.evaluation.test_data]
        if d.path is not None
    ]
    for name, variant in setting.datasets.items():
        at = f"{profile.path}: {field}.{name}"
        dataset = by_name.get(name)
        if dataset is None:
            raise ConfigError(
                f"{at}: task {task.name} has no agent dataset {name!r}",
                hint=f"its agent datasets: {', '.join(sorted(by_name)) or 'none'}",
            )
        if dataset.path is None:
            raise ConfigError(f"{at}: only a dataset read from the task's folder has variants")
        target, home = _norm(variant.path), posixpath.dirname(_norm(dataset.path))
        if home and not _inside(target, home):
            raise ConfigError(f"{at}.path: a variant stays in its dataset's folder {home}/")
        scripts = posixpath.dirname(_norm(task.spec.evaluation.script))
        beside_script = _inside(target, scripts) if scripts else "/" not in target
        if beside_script:
            raise ConfigError(
                f"{at}.path: {variant.path} lies beside the evaluation script: a variant "
                "lies in a data folder of its own"
            )
        for secret in map(_norm, hidden):
            folder = posixpath.dirname(secret)
            if (
                _inside(target, secret)
                or _inside(secret, target)
                or (folder and _inside(target, folder))
            ):
                raise ConfigError(
                    f"{at}.path: {variant.path} reaches hidden data ({secret}): "
                    "a variant never shows the sandbox validation or test data"
                )


def _norm(path: str) -> str:
    return posixpath.normpath(path).lstrip("/")


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both normalised)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` laid over it, mappings merged key by key."""
    merged = dict(base)
    for key, value in change.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merged(old, value)
        else:
            merged[key] = value
    return merged


def _added(base: Sequence[Any], more: Sequence[Any]) -> list[Any]:
    return [*base, *(item for item in more if item not in base)]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _retold(
    exc: pydantic.ValidationError,
    model: type[pydantic.BaseModel],
    path: Path,
    where: tuple[str, ...],
    strip: tuple[str, ...] = (),
) -> ConfigError:
    """A validation error as one ConfigError naming the profile file and each field."""
    lines = []
    for error in field_errors.explain(exc, model):
        loc = error.loc[len(strip) :] if error.loc[: len(strip)] == strip else error.loc
        field = ".".join(str(part) for part in (*where, *loc))
        hint = f" ({error.hint})" if error.hint else ""
        lines.append(f"{field}: {error.message}{hint}")
    return ConfigError(f"{path}: " + "; ".join(lines))


__all__ = [
    "PROFILES_DIR",
    "Profile",
    "ProfileFile",
    "apply_run",
    "apply_task",
    "check_names",
    "cluster_problems",
    "find",
    "load",
    "scope_label",
]
