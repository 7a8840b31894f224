"""Every Dockerfile of the build plan parses, copies what exists, and ends as a non-root user.

These tests read the Dockerfiles the way `docker build` and `buildah build` would
(`kubegym.images._dockerfile`) and check them against their build contexts from
`kubegym.images.plan`; tests/images builds the images for real with buildah.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubegym import images

from .dockerfile import Dockerfile, Instruction, Stage, parse

PLAN = images.plan("0.1.0")
BUILDAH_PLAN = images.plan("0.1.0", builder="buildah")
DOCKERFILES = sorted({b.dockerfile for b in PLAN if b.dockerfile is not None})
OCI = ("title", "version", "revision", "source", "licenses")
# What stage_data writes into a data image's context.
STAGED = {"data", "eval"}


def _id(path: Path) -> str:
    return str(path.relative_to(images.REPO))


def _final(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def _user(stage: Stage) -> str | None:
    users = [i for i in stage.instructions if i.keyword == "USER"]
    return users[-1].arguments.strip() if users else None


def _labels(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for instruction in stage.instructions:
        if instruction.keyword == "LABEL":
            words = instruction.words()
            found.update(w.split("=", 1) for w in words if "=" in w)  # type: ignore[misc]
    return found


def test_the_plan_has_every_dockerfile_of_the_repository() -> None:
    on_disk = {
        *images.REPO.glob("task_images/*/Dockerfile*"),
        *images.REPO.glob("examples/tasks/*/Dockerfile"),
        images.REPO / "Dockerfile",
    }
    assert on_disk == set(DOCKERFILES)
    # The buildah plan builds the same Dockerfiles, after the images it makes itself.
    assert {b.dockerfile for b in BUILDAH_PLAN if b.dockerfile} == on_disk


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_it_parses_and_starts_with_from_after_args(path: Path) -> None:
    dockerfile = parse(path)
    keywords = [i.keyword for i in dockerfile.instructions]
    first = next(k for k in keywords if k != "ARG")
    assert first == "FROM", f"{path}: the first instruction after the ARGs is {first}"
    # A variable in a FROM must be a global ARG (declared before the first FROM).
    names = {s.name for s in dockerfile.stages if s.name}
    for stage in dockerfile.stages:
        for variable in re.findall(r"\$\{?(\w+)", stage.base):
            assert variable in dockerfile.global_args, f"{path}: FROM uses undeclared ${variable}"
        if "$" not in stage.base and stage.base not in names:
            assert ":" in stage.base and not stage.base.endswith(":latest"), stage.base


@pytest.mark.parametrize("build", PLAN, ids=lambda b: b.name)
def test_every_copy_source_exists_in_its_build_context(build: images.Build) -> None:
    assert build.dockerfile is not None and build.context is not None
    dockerfile = parse(build.dockerfile)
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword not in ("COPY", "ADD") or "from" in instruction.flags():
                continue
            *sources, _target = instruction.operands()
            for source in sources:
                if build.data_of is not None:
                    assert source.rstrip("/") in STAGED, f"{build.dockerfile}: {source}"
                else:
                    assert (build.context / source).exists(), (
                        f"{_id(build.dockerfile)}:{instruction.line}: {source} is not in "
                        f"the context {build.context}"
                    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_the_final_stage_runs_as_a_fixed_non_root_user(path: Path) -> None:
    user = _user(_final(parse(path)))
    assert user is not None, f"{path}: no USER in the final stage"
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"{path}: USER {user} (runAsNonRoot needs a uid)"


def test_the_base_image_has_a_stage_for_each_variant() -> None:
    dockerfile = parse(images.REPO / "task_images" / "base" / "Dockerfile")
    names = {s.name for s in dockerfile.stages}
    assert _final(dockerfile).base == "base-${VARIANT}"
    assert {f"base-{v}" for v in images.VARIANTS} <= names
    assert dockerfile.global_args["VARIANT"] == "cpu"


def test_the_kubegym_image_is_multi_stage_slim_pinned_and_labelled() -> None:
    dockerfile = parse(images.REPO / "Dockerfile")
    assert len(dockerfile.stages) >= 2
    base = dockerfile.global_args["PYTHON_IMAGE"]
    assert base is not None and re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:\w+)?", base)
    final = _final(dockerfile)
    labels = _labels(final)
    for key in OCI:
        assert f"org.opencontainers.image.{key}" in labels, key
    entrypoint = [i for i in final.instructions if i.keyword == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1].words() == ["kubegym"]
    # The final stage copies the built venv and installs nothing from an index.
    runs = " ".join(i.arguments for i in final.instructions if i.keyword == "RUN")
    assert "pip install" not in runs and "apt-get install" not in runs
    copies = [i for i in final.instructions if i.keyword == "COPY"]
    assert any(i.flags().get("from") == "build" for i in copies)


@pytest.mark.parametrize("build", [b for b in PLAN if b.data_of], ids=lambda b: b.name)
def test_task_images_start_from_the_base_of_their_variant(build: images.Build) -> None:
    task = images.task_bundles()[build.data_of or ""]
    dockerfile = parse(task.root / "Dockerfile")
    assert _final(dockerfile).base == "${REGISTRY}/sandbox-base:${VERSION}-${VARIANT}"
    # The default variant (a plain `docker build`) is the one the plan passes.
    assert dockerfile.global_args["VARIANT"] == images.task_variant(task.task)
    # A task image installs as root, then hands /workspace back to the sandbox user.
    final = _final(dockerfile)
    users = [i.arguments for i in final.instructions if i.keyword == "USER"]
    runs = [i for i in final.instructions if i.keyword == "RUN"]
    if runs:
        first_run = final.instructions.index(runs[0])
        before = [i for i in final.instructions[:first_run] if i.keyword == "USER"]
        assert before and before[-1].arguments == "root", task.name
    assert not users or users[-1] == "1000:1000"


def test_the_data_image_never_holds_the_sandbox_server() -> None:
    dockerfile = parse(images.REPO / "task_images" / "base" / "Dockerfile.data")
    final = _final(dockerfile)
    keywords = {i.keyword for i in final.instructions}
    assert not keywords & {"ENTRYPOINT", "CMD", "RUN"}
    targets = [
        i.operands()[-1] for i in final.instructions if i.keyword == "COPY"
    ]  # the operator copies /kubegym/data/. and /kubegym/eval/.
    from kubegym.operator import objects

    assert targets == [f"{objects.DATA_IMAGE_DATA}/", f"{objects.DATA_IMAGE_EVAL}/"]


def test_dockerignore_keeps_what_the_root_contexts_copy() -> None:
    patterns = [
        line.strip()
        for line in (images.REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv"} <= set(patterns)
    # A `!path` line takes a folder back from an ignored one (the suite profiles).
    kept = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for path in (images.REPO / "Dockerfile", images.REPO / "task_images/base/Dockerfile"):
        for stage in parse(path).stages:
            for instruction in stage.instructions:
                if instruction.keyword == "COPY" and "from" not in instruction.flags():
                    for source in instruction.operands()[:-1]:
                        top = source.split("/")[0]
                        back = any(source == k or source.startswith(k + "/") for k in kept)
                        assert top not in patterns or back, f"{path}: .dockerignore drops {source}"


def test_the_parser_refuses_what_is_not_a_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUNN echo\n")
    with pytest.raises(ValueError, match="RUNN"):
        parse(bad)
    good = tmp_path / "Dockerfile.ok"
    good.write_text('ARG X=1\nFROM a:1 AS b\n# c\nRUN echo \\\n  # inner\n  hi\nCMD ["x", "y"]\n')
    parsed = parse(good)
    assert [i.keyword for i in parsed.instructions] == ["ARG", "FROM", "RUN", "CMD"]
    assert parsed.instructions[2] == Instruction("RUN", "echo hi", 4)
    assert parsed.stages[0].name == "b" and parsed.global_args == {"X": "1"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_the_labels_come_after_every_step_that_builds(path: Path) -> None:
    """The commit (REVISION) changes on every commit: a label naming it before a RUN or a
    COPY would void the step cache of everything after it on each rebuild."""
    for stage in parse(path).stages:
        keywords = [i.keyword for i in stage.instructions]
        uses_revision = [n for n, i in enumerate(stage.instructions) if "REVISION" in i.arguments]
        building = [n for n, k in enumerate(keywords) if k in ("RUN", "COPY", "ADD")]
        if uses_revision and building and path.name != "Dockerfile.data":
            assert min(uses_revision) > max(building), f"{path}: REVISION before a step"


def test_the_buildah_plan_passes_its_own_bases_to_every_dockerfile_that_takes_one() -> None:
    python = next(b for b in BUILDAH_PLAN if b.name == images.PYTHON_BASE)
    data = next(b for b in BUILDAH_PLAN if b.name == images.DATA_BASE)
    for build in BUILDAH_PLAN:
        if build.dockerfile is None:
            continue
        declared = parse(build.dockerfile).global_args
        if "PYTHON_IMAGE" in declared:
            assert build.build_args["PYTHON_IMAGE"] == python.reference, build.name
            assert python.name in build.needs
        if "DATA_IMAGE" in declared:
            assert build.build_args["DATA_IMAGE"] == data.reference, build.name
            assert data.name in build.needs
