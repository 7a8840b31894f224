"""The images kubegym builds, by name, and what each one starts FROM.

`plan` lists every build in order (each after the builds it needs); `select` picks
some by name with everything they need. `kubegym.images._build` runs them with
buildah, the command line prints them (``--dry-run``) or runs them with docker.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.tasks import catalog

REPO: Final = Path(__file__).resolve().parent.parent.parent
TASK_IMAGES: Final = "task_images"
#: Example tasks with a Dockerfile (polyfit) get images too: the cluster tests run them.
EXAMPLE_TASKS: Final = Path("examples") / "tasks"
DEFAULT_REGISTRY: Final = "ghcr.io/kubegym"
VARIANTS: Final = ("cpu", "cuda")

Builder = Literal["buildah", "docker"]
BUILDERS: Final[tuple[Builder, ...]] = ("buildah", "docker")

#: The images made here from Debian packages and a C source, for machines that can
#: pull nothing: they stand in for ``python:3.11.7-slim-bookworm``, ``busybox`` and
#: Kubernetes' ``pause`` when the builder is buildah.
PYTHON_BASE: Final = "python-base"
DATA_BASE: Final = "data-base"
PAUSE: Final = "pause"
KUBEGYM: Final = "kubegym"

#: What a real Kubernetes node needs to run the cluster tests' trials (``make
#: node-images``): the pause image, the operator/agent image, the cpu sandbox base
#: and the task and data images of polyfit, house-price and a game.
NODE_TASKS: Final = ("polyfit", "house-price", "prisoners-dilemma")
NODE_IMAGES: Final = (
    PYTHON_BASE,
    PAUSE,
    KUBEGYM,
    "sandbox-base-cpu",
    *(f"task-{task}{suffix}" for task in NODE_TASKS for suffix in ("", "-data")),
)
#: Names that stand for a group in `select`.
GROUPS: Final = {"node": NODE_IMAGES}


class Kind(enum.StrEnum):
    """How an image is made."""

    DOCKERFILE = "dockerfile"
    """``buildah build`` (or ``docker build``) of a Dockerfile."""
    DEBIAN = "debian"
    """A root file system from Debian packages (mmdebstrap), imported as one layer."""
    PAUSE = "pause"
    """The static pause binary compiled here, alone in an image FROM scratch."""


@dataclass(frozen=True)
class Build:
    """One image to build: its name, its reference, how it is made and what it needs."""

    name: str
    """The image's short name, for ``--only``: ``kubegym``, ``task-polyfit-data``…"""
    reference: str
    """Repository and tag: ``ghcr.io/kubegym/task-polyfit:0.1.0``."""
    dockerfile: Path | None = None
    context: Path | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    data_of: str | None = None
    """A task whose data image this is: its context is staged before the build."""
    needs: tuple[str, ...] = ()
    """The builds whose images this one starts FROM."""
    kind: Kind = Kind.DOCKERFILE

    @property
    def repository(self) -> str:
        return self.reference.rpartition(":")[0]

    @property
    def tag(self) -> str:
        return self.reference.rpartition(":")[2]

    def docker_command(self, repo: Path = REPO) -> list[str]:
        """The ``docker build`` command line, paths relative to ``repo``."""
        if self.dockerfile is None or self.context is None:
            raise ConfigError(f"{self.name} is built with buildah only (--builder buildah)")
        args = ["docker", "build", "--file", rel(self.dockerfile, repo), "--tag", self.reference]
        for key, value in self.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        return [*args, rel(self.context, repo)]


def rel(path: Path, repo: Path) -> str:
    """``path`` relative to ``repo`` when inside it, for readable command lines."""
    return str(path.relative_to(repo)) if path.is_relative_to(repo) else str(path)


def task_variant(task: tasks.Task) -> str:
    """``cuda`` for a task whose sandbox asks for a GPU, else ``cpu``."""
    return "cuda" if task.spec.resources.gpu.count > 0 else "cpu"


def task_bundles(repo: Path = REPO) -> dict[str, catalog.TaskBundle]:
    """The tasks with a Dockerfile, by name: ``task_images/*`` and ``examples/tasks/*``.

    A task of a family (``spec.includes``) comes with its files assembled in one folder
    (`kubegym.tasks.families`): that folder is its image's build context, so the starter
    code its Dockerfile COPYs holds the family's files, and the input hash of the image
    (`kubegym.images._inputs`) changes with them.
    """
    broken: list[ConfigError] = []
    found = catalog.discover([repo / TASK_IMAGES, repo / EXAMPLE_TASKS], broken)
    if broken:
        raise broken[0]
    return {name: b for name, b in sorted(found.items()) if (b.root / "Dockerfile").is_file()}


def plan(
    version: str,
    *,
    registry: str = DEFAULT_REGISTRY,
    tasks: Sequence[str] = (),
    repo: Path = REPO,
    revision: str = "unknown",
    builder: Builder = "docker",
) -> list[Build]:
    """Every build, in order (each after the builds whose images it starts FROM).

    Args:
        version: the tag of every image (the sandbox bases add ``-cpu``/``-cuda``).
        registry: the repository prefix.
        tasks: task names whose images to plan (all by default); the kubegym image
            and the bases are always in the plan.
        repo: the repository's root.
        revision: the source revision for the OCI label.
        builder: with ``buildah`` the plan starts with the Debian-built Python and
            data bases and the pause image, and the Dockerfiles get them as build
            arguments; with ``docker`` they start from the public bases.

    Raises:
        ConfigError: an unknown task name.
    """
    labels = {"VERSION": version, "REVISION": revision}
    builds, bases = _bases(version, registry, builder)
    builds += _platform_builds(version, registry, repo, labels, bases)
    bundles = task_bundles(repo)
    unknown = sorted(set(tasks) - set(bundles))
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}", hint=f"known: {', '.join(bundles)}")
    for name, bundle in bundles.items():
        if not tasks or name in tasks:
            builds += _task_builds(name, bundle, version, registry, repo, labels, bases)
    return builds


@dataclass(frozen=True)
class _Bases:
    """What the Dockerfiles start FROM: build arguments and the builds they need first."""

    python_args: dict[str, str] = field(default_factory=dict)
    python_needs: tuple[str, ...] = ()
    data_args: dict[str, str] = field(default_factory=dict)
    data_needs: tuple[str, ...] = ()


def _bases(version: str, registry: str, builder: Builder) -> tuple[list[Build], _Bases]:
    """With buildah, the Debian-built Python and data bases and the pause image, passed to the
    Dockerfiles as build arguments; with docker, nothing (they start from the public bases)."""
    if builder != "buildah":
        return [], _Bases()
    base = Build(PYTHON_BASE, f"{registry}/{PYTHON_BASE}:{version}", kind=Kind.DEBIAN)
    data = Build(DATA_BASE, f"{registry}/{DATA_BASE}:{version}", kind=Kind.DEBIAN)
    pause = Build(PAUSE, f"{registry}/{PAUSE}:{version}", kind=Kind.PAUSE)
    bases = _Bases(
        {"PYTHON_IMAGE": base.reference}, (base.name,), {"DATA_IMAGE": data.reference}, (data.name,)
    )
    return [base, data, pause], bases


def _platform_builds(
    version: str, registry: str, repo: Path, labels: dict[str, str], bases: _Bases
) -> list[Build]:
    """The kubegym image (operator and agent runner) and the sandbox bases, CPU and CUDA."""
    builds = [
        Build(
            KUBEGYM,
            f"{registry}/kubegym:{version}",
            repo / "Dockerfile",
            repo,
            {**bases.python_args, **labels},
            needs=bases.python_needs,
        )
    ]
    for variant in VARIANTS:
        builds.append(
            Build(
                f"sandbox-base-{variant}",
                f"{registry}/sandbox-base:{version}-{variant}",
                repo / TASK_IMAGES / "base" / "Dockerfile",
                repo,
                {**bases.python_args, **labels, "VARIANT": variant},
                needs=bases.python_needs,
            )
        )
    return builds


def _task_builds(
    name: str,
    bundle: catalog.TaskBundle,
    version: str,
    registry: str,
    repo: Path,
    labels: dict[str, str],
    bases: _Bases,
) -> list[Build]:
    """A task's image (its folder, families laid in) and its data image (the hidden data)."""
    variant = task_variant(bundle.task)
    return [
        Build(
            f"task-{name}",
            f"{registry}/task-{name}:{version}",
            bundle.origin("Dockerfile"),  # the task's own file, for readable commands
            bundle.root,
            {**labels, "REGISTRY": registry, "VARIANT": variant},
            needs=(f"sandbox-base-{variant}",),
        ),
        Build(
            f"task-{name}-data",
            f"{registry}/task-{name}-data:{version}",
            repo / TASK_IMAGES / "base" / "Dockerfile.data",
            repo / "build" / "images" / f"{name}-data",
            {**bases.data_args, **labels, "TASK": name},
            data_of=name,
            needs=bases.data_needs,
        ),
    ]


def select(builds: Sequence[Build], names: Iterable[str]) -> list[Build]:
    """The builds named (or in a named group, such as ``node``) and all they need, in order.

    No names: every build.

    Raises:
        ConfigError: a name the plan does not have.
    """
    by_name = {b.name: b for b in builds}
    wanted: set[str] = set()
    todo = [n for name in names for n in GROUPS.get(name, (name,))]
    if not todo:
        return list(builds)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in by_name:
            raise ConfigError(
                f"no image named {name!r} in the plan",
                field="--only",
                hint=f"known: {', '.join(by_name)}, or a group: {', '.join(GROUPS)}",
            )
        wanted.add(name)
        todo += by_name[name].needs
    return [b for b in builds if b.name in wanted]
