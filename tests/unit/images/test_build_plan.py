"""`make images VERSION=…` plans every image with one version; the data images' contexts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from kubegym import images
from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.tasks import catalog, datasets


def _dry_run(*args: str, builder: str = "docker") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "kubegym.images", "build", "--builder", builder, "--dry-run", *args],
        cwd=images.REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def test_the_dry_run_lists_every_image_with_the_version() -> None:
    lines = _dry_run("--version", "1.2.3", "--registry", "registry.example/kg")
    builds = [line for line in lines if line.startswith("docker build ")]
    tags = {line.split("--tag ")[1].split()[0] for line in builds}
    assert "registry.example/kg/kubegym:1.2.3" in tags
    assert {
        "registry.example/kg/sandbox-base:1.2.3-cpu",
        "registry.example/kg/sandbox-base:1.2.3-cuda",
    } <= tags
    names = images.task_bundles()
    assert len(names) >= 10
    for name in names:
        image = f"registry.example/kg/task-{name}:1.2.3"
        assert image in tags, name
        # The data image is where the operator looks by default: the task image plus -data.
        assert tasks.derived_data_image(image) in tags, name
    assert len(builds) == 3 + 2 * len(names)
    assert all("--build-arg VERSION=1.2.3" in line for line in builds)
    # The bases come before the task images that start FROM them.
    first_task = next(i for i, line in enumerate(builds) if "/task-" in line)
    assert all("sandbox-base" not in line for line in builds[first_task:])


def test_the_variant_follows_the_task_and_only_picks_tasks() -> None:
    lines = _dry_run("--version", "0.1.0", "--task", "cifar10", "--task", "house-price")
    tasks_built = [line for line in lines if "/task-" in line and line.startswith("docker")]
    assert len(tasks_built) == 4
    cifar = next(line for line in tasks_built if "task-cifar10:" in line)
    house = next(line for line in tasks_built if "task-house-price:" in line)
    assert "--build-arg VARIANT=cuda" in cifar and "--build-arg VARIANT=cpu" in house
    with pytest.raises(subprocess.CalledProcessError):
        _dry_run("--version", "0.1.0", "--task", "no-such-task")


def test_the_buildah_dry_run_makes_its_bases_first_and_builds_from_them() -> None:
    lines = _dry_run("--version", "1.2.3", "--only", "kubegym,task-polyfit-data", builder="buildah")
    titles = [line for line in lines if line.startswith("# image ")]
    # What the two images start FROM comes first, made here: nothing is pulled.
    assert [t.split(":")[0].removeprefix("# image ") for t in titles] == [
        "python-base",
        "data-base",
        "kubegym",
        "task-polyfit-data",
    ]
    assert any(line.startswith("mmdebstrap --variant=minbase") for line in lines)
    builds = [line for line in lines if " build --isolation chroot --layers " in line]
    assert len(builds) == 2
    assert "--build-arg PYTHON_IMAGE=ghcr.io/kubegym/python-base:1.2.3" in builds[0]
    assert "--build-arg DATA_IMAGE=ghcr.io/kubegym/data-base:1.2.3" in builds[1]
    assert all("--pull=never" in line for line in builds)
    pushes = [line for line in lines if " push --quiet " in line]
    assert len(pushes) == 4 and all(":/" in p and " oci:" in p for p in pushes)


def test_only_takes_names_and_groups_and_refuses_unknown_ones() -> None:
    builds = images.plan("0.1.0", builder="buildah")
    node = [b.name for b in images.select(builds, ["node"])]
    assert set(images.NODE_IMAGES) <= set(node)
    assert set(node) - set(images.NODE_IMAGES) == {images.DATA_BASE}  # the data images' base
    assert (
        node.index(images.PYTHON_BASE) < node.index("sandbox-base-cpu") < node.index("task-polyfit")
    )
    assert [b.name for b in images.select(builds, ["pause"])] == ["pause"]
    with pytest.raises(ConfigError, match="no-such-image"):
        images.select(builds, ["no-such-image"])
    with pytest.raises(subprocess.CalledProcessError):
        _dry_run("--only", "no-such-image", builder="buildah")


def test_make_images_passes_the_version(repo: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")

    def make(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout

    assert "kubegym.images build --version 0.4.2" in make("images", "VERSION=0.4.2")
    node = make("node-images", "VERSION=0.4.2")
    assert "kubegym.images build --builder buildah --version 0.4.2 --only node" in node


def test_a_data_image_context_holds_what_the_operator_and_the_evaluator_read(
    repo: Path, tmp_path: Path
) -> None:
    bundle = catalog.discover([repo / "examples" / "tasks"])["polyfit"]
    out = images.stage_data(bundle, tmp_path / "polyfit-data")
    spec = bundle.task.spec
    # The sandbox mounts data/<name> (subPath: the dataset's name).
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(d.name for d in spec.datasets)
    # The evaluator finds its script and hidden data exactly where in_folder looks.
    eval_dir = out / "eval"
    assert (eval_dir / spec.evaluation.script).is_file()
    for dataset in [*spec.validation_data, *spec.evaluation.test_data]:
        datasets.in_folder(bundle, dataset, eval_dir)  # checks the sha256 too
    # Nothing hidden lands where the sandbox's volume comes from.
    hidden = {d.path for d in [*spec.validation_data, *spec.evaluation.test_data]}
    staged = {str(p.relative_to(out / "data")) for p in (out / "data").rglob("*")}
    assert not hidden & staged
    assert all(p.stat().st_mode & 0o004 for p in out.rglob("*"))


def test_the_pins_cover_every_dependency_and_agree_with_pyproject(repo: Path) -> None:
    import tomllib

    def pins(path: Path) -> dict[str, str]:
        lines = [line for line in path.read_text().splitlines() if line and line[0] != "#"]
        return dict(line.split("==") for line in lines)

    image = pins(repo / images.IMAGE_LOCK)
    assert set(image) == set(images.closure("kubegym", images.IMAGE_EXTRAS)), (
        "run: python -m kubegym.images --write-locks"
    )
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"]]
    for extra in images.IMAGE_EXTRAS:
        wanted += project["optional-dependencies"][extra]
    sandbox = pins(repo / images.SANDBOX_LOCK)
    for line in wanted:
        requirement = Requirement(line)
        name = requirement.name.lower()
        assert requirement.specifier.contains(image[name], prereleases=True), (name, image[name])
        if name in images.SANDBOX_REQUIREMENTS:
            assert sandbox[name] == image[name], name
    assert set(images.SANDBOX_REQUIREMENTS) <= set(sandbox)


def test_the_image_pins_are_consistent_among_themselves(repo: Path) -> None:
    # What `pip check` would say in the image, without building it: every pinned
    # distribution's own requirements are met by the other pins.
    from importlib import metadata

    from packaging.utils import canonicalize_name

    lines = (repo / images.IMAGE_LOCK).read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and line[0] != "#")
    environment = {"python_version": "3.11", "sys_platform": "linux", "extra": ""}
    for name, version in pins.items():
        if metadata.version(name) != version:
            continue  # another version here: its metadata says nothing about the pinned one
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            pinned = pins.get(canonicalize_name(requirement.name))
            assert pinned is not None, f"{name} needs {requirement}, which is not pinned"
            assert requirement.specifier.contains(pinned, prereleases=True), (
                f"{name} needs {requirement}, pinned {pinned}"
            )


def test_a_data_images_eval_folder_carries_the_adapters_for_the_jail(tmp_path: Path) -> None:
    """3-SAT's evaluation shows agent code ``adapter.py`` and ``starter/solver.py`` (copied
    by the evaluator to the jail container): the data image's eval folder carries both."""
    from tests.tasks.conftest import prepared

    bundle = prepared("3-sat")
    eval_dir = images.stage_data(bundle, tmp_path / "sat-data") / images.EVAL_DIR
    assert (eval_dir / "adapter.py").is_file()
    assert (eval_dir / "starter" / "solver.py").is_file()
