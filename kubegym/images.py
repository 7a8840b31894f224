"""Building kubegym's container images: the plan, the data images' contexts, the pin files.

One command builds and tags every image with one version (``make images
VERSION=0.1.0``, or ``python -m kubegym.images --version 0.1.0``; ``--dry-run``
prints the docker commands instead of running them):

- ``kubegym`` (the root ``Dockerfile``): the operator and the agent runner;
- ``sandbox-base:<version>-cpu`` and ``-cuda`` (``task_images/base/Dockerfile``);
- per task, ``task-<name>`` (``task_images/<name>/Dockerfile``, FROM the base of the
  task's variant: cuda when its ``resources.gpu.count`` is above 0) and
  ``task-<name>-data`` (``task_images/base/Dockerfile.data``): the prepared datasets
  under ``/kubegym/data/<dataset name>`` and the evaluation part under ``/kubegym/eval``
  — the layout `kubegym.operator.objects` copies from and `kubegym.datasets.in_folder`
  reads. The data image's context is staged by `stage_data` under ``build/images/``.

The pins the images install (``requirements/*.txt``) are written by `write_locks` from
the current environment. No test builds an image (there is no container engine here);
``tests/unit/images`` checks the Dockerfiles, the plan and the install commands.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Final

from kubegym import catalog
from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.evaluator import jails

REPO: Final = Path(__file__).resolve().parent.parent
TASK_IMAGES: Final = "task_images"
DEFAULT_REGISTRY: Final = "ghcr.io/kubegym"
VARIANTS: Final = ("cpu", "cuda")
#: In a data image: the agent's datasets, and the evaluation script with the hidden data.
DATA_DIR: Final = "data"
EVAL_DIR: Final = "eval"
#: Pin files: the operator/agent image's whole environment, and the sandbox's evaluator.
IMAGE_LOCK: Final = Path("requirements") / "image.txt"
SANDBOX_LOCK: Final = Path("requirements") / "sandbox.txt"
IMAGE_EXTRAS: Final = ("operator", "agent")
#: The evaluator in a sandbox image needs these beyond the standard library.
SANDBOX_REQUIREMENTS: Final = ("pydantic", "pyyaml")


@dataclass(frozen=True)
class Build:
    """One ``docker build``: the image's tag, its Dockerfile, context and build arguments."""

    tag: str
    dockerfile: Path
    context: Path
    build_args: dict[str, str] = field(default_factory=dict)
    #: A task whose data image this builds: its context is staged before the build.
    data_of: str | None = None

    def command(self, repo: Path = REPO) -> list[str]:
        """The ``docker build`` command line, paths relative to ``repo``."""
        args = ["docker", "build", "--file", _rel(self.dockerfile, repo), "--tag", self.tag]
        for key, value in self.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        return [*args, _rel(self.context, repo)]


def _rel(path: Path, repo: Path) -> str:
    return str(path.relative_to(repo)) if path.is_relative_to(repo) else str(path)


def task_variant(task: tasks.Task) -> str:
    """``cuda`` for a task whose sandbox asks for a GPU, else ``cpu``."""
    return "cuda" if task.spec.resources.gpu.count > 0 else "cpu"


def task_bundles(repo: Path = REPO) -> dict[str, catalog.TaskBundle]:
    """The tasks under ``task_images/`` that have a Dockerfile, by name."""
    broken: list[ConfigError] = []
    found = catalog.discover([repo / TASK_IMAGES], broken)
    if broken:
        raise broken[0]
    return {name: b for name, b in sorted(found.items()) if (b.root / "Dockerfile").is_file()}


def plan(
    version: str,
    *,
    registry: str = DEFAULT_REGISTRY,
    only: Sequence[str] = (),
    repo: Path = REPO,
    revision: str = "unknown",
) -> list[Build]:
    """Every build, in order (the bases before the tasks that start FROM them).

    Args:
        version: the tag of every image (the bases add ``-cpu``/``-cuda``).
        registry: the repository prefix.
        only: task names to build (all tasks by default); the kubegym image and the
            bases are always in the plan.
        repo: the repository's root.
        revision: the source revision for the OCI label.
    """
    labels = {"VERSION": version, "REVISION": revision}
    builds = [Build(f"{registry}/kubegym:{version}", repo / "Dockerfile", repo, dict(labels))]
    for variant in VARIANTS:
        builds.append(
            Build(
                f"{registry}/sandbox-base:{version}-{variant}",
                repo / TASK_IMAGES / "base" / "Dockerfile",
                repo,
                {**labels, "VARIANT": variant},
            )
        )
    bundles = task_bundles(repo)
    unknown = sorted(set(only) - set(bundles))
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; known: {', '.join(bundles)}")
    for name, bundle in bundles.items():
        if only and name not in only:
            continue
        builds.append(
            Build(
                f"{registry}/task-{name}:{version}",
                bundle.root / "Dockerfile",
                bundle.root,
                {
                    **labels,
                    "REGISTRY": registry,
                    "VARIANT": task_variant(bundle.task),
                },
            )
        )
        builds.append(
            Build(
                f"{registry}/task-{name}-data:{version}",
                repo / TASK_IMAGES / "base" / "Dockerfile.data",
                repo / "build" / "images" / f"{name}-data",
                {**labels, "TASK": name},
                data_of=name,
            )
        )
    return builds


def stage_data(bundle: catalog.TaskBundle, out: Path) -> Path:
    """Fill ``out`` as a data image's build context: ``data/`` and ``eval/``.

    ``data/<name>`` holds each agent dataset (mounted in the sandbox by its name);
    ``eval/`` holds the evaluation script, the task's adapters beside it and the
    starter code (the files the evaluator copies to the jail container for agent
    code: 3-sat's adapter.py and starter/solver.py) and the validation and test data at their relative paths (or under their names), as
    `kubegym.datasets.in_folder` looks for them. Every file is prepared and checked
    against its sha256 first.

    Raises:
        ConfigError: a dataset cannot be prepared or its sha256 differs.
    """
    from kubegym import datasets

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


# --- pins ------------------------------------------------------------------------------


def closure(root: str, extras: Iterable[str] = ()) -> dict[str, str]:
    """Distribution → installed version for ``root[extras]``'s requirements, transitively.

    Markers are evaluated for CPython 3.11 on Linux (the images' platform).
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {
        "python_version": "3.11",
        "python_full_version": "3.11.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    found: dict[str, set[str]] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, tuple(extras))]
    while todo:
        name, wanted = todo.pop()
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({**environment, "extra": extra}) for extra in ("", *wanted)
            ):
                continue
            key = canonicalize_name(requirement.name)
            new = set(requirement.extras) - found.get(key, set())
            if key not in found or new:
                found.setdefault(key, set()).update(requirement.extras)
                todo.append((requirement.name, tuple(requirement.extras)))
    found.pop(canonicalize_name(root), None)
    return {name: metadata.version(name) for name in sorted(found)}


def lock_text(pins: dict[str, str], what: str) -> str:
    header = (
        f"# {what}\n"
        "# Generated by `python -m kubegym.images --write-locks` from the development\n"
        "# environment (the versions the tests ran with); do not edit by hand.\n"
    )
    return header + "".join(f"{name}=={version}\n" for name, version in pins.items())


def write_locks(repo: Path = REPO) -> list[Path]:
    """Write ``requirements/image.txt`` and ``requirements/sandbox.txt`` from this environment."""
    image = closure("kubegym", IMAGE_EXTRAS)
    sandbox: dict[str, str] = {}
    for name in SANDBOX_REQUIREMENTS:
        sandbox[name] = metadata.version(name)
        sandbox.update(closure(name))
    texts = {
        IMAGE_LOCK: lock_text(
            image, "Every dependency of kubegym[operator,agent]: the root Dockerfile's pins."
        ),
        SANDBOX_LOCK: lock_text(
            dict(sorted(sandbox.items())),
            "The evaluator's dependencies (pydantic, PyYAML) in the sandbox base image.",
        ),
    }
    written = []
    for relative, text in texts.items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --- the command -----------------------------------------------------------------------


def _revision(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.images",
        description="Build and tag every kubegym image with one version.",
    )
    parser.add_argument("--version", help="the images' tag, such as 0.1.0")
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="repository prefix")
    parser.add_argument("--task", action="append", default=[], help="only this task (repeat)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--push", action="store_true", help="docker push every image built")
    parser.add_argument(
        "--write-locks", action="store_true", help="rewrite requirements/*.txt and exit"
    )
    args = parser.parse_args(argv)
    if args.write_locks:
        for path in write_locks():
            print(path)
        return 0
    if not args.version:
        parser.error("--version is required")
    builds = plan(args.version, registry=args.registry, only=args.task, revision=_revision(REPO))
    if not args.dry_run and shutil.which("docker") is None:
        print("docker is not installed: try --dry-run to see the commands", file=sys.stderr)
        return 1
    for build in builds:
        commands = [build.command()]
        if args.push:
            commands.append(["docker", "push", build.tag])
        if build.data_of is not None:
            print(f"# stage {build.data_of}'s data into {_rel(build.context, REPO)}", flush=True)
            if not args.dry_run:
                stage_data(task_bundles()[build.data_of], build.context)
        for command in commands:
            print(shlex.join(command), flush=True)
            if not args.dry_run:
                subprocess.run(command, cwd=REPO, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
