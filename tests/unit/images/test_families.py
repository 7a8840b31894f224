"""A task of a family: its image's context and its data image's eval folder hold the family's files.

The task image builds from the folder assembled from the family and the task, so
the starter code it copies is complete and a change to the family's starter code
rebuilds it; the data image's eval folder carries the family's evaluation code,
so the evaluator on a cluster runs what it runs locally.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym import images
from kubegym.images import _inputs
from tests.unit.tasks.family import NOTES, TASK, make_catalog

TASK_IMAGES = "task_images"
BASE = {"sandbox-base-cpu": "sha256:" + "1" * 64}


@pytest.fixture
def repo_with_family(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose task_images/ holds the family ``fit`` and a task that includes it."""
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path / "cache"))
    make_catalog(repo, tmp_path / "repo" / TASK_IMAGES)
    return tmp_path / "repo"


def _task_build(repo: Path) -> images.Build:
    return next(b for b in images.plan("0.1.0", repo=repo) if b.name == f"task-{TASK}")


def _hash(repo: Path) -> str:
    return _inputs.digest(_inputs.of_dockerfile(_task_build(repo), BASE))


def test_the_task_image_builds_from_the_assembled_folder(repo_with_family: Path) -> None:
    build = _task_build(repo_with_family)
    bundle = images.task_bundles(repo_with_family)[TASK]
    task_folder = repo_with_family / TASK_IMAGES / TASK
    assert build.dockerfile == task_folder.resolve() / "Dockerfile"  # the task's own file
    assert build.context == bundle.root and build.context != task_folder.resolve()
    assert (build.context / "starter" / "baseline.py").is_file()  # from the family
    assert (build.context / NOTES).read_text() == "the task's own notes\n"
    assert str(build.context) in " ".join(build.docker_command(repo_with_family))


def test_a_change_to_the_family_rebuilds_the_tasks_image(repo_with_family: Path) -> None:
    family = repo_with_family / TASK_IMAGES / "families" / "fit"
    before = _hash(repo_with_family)
    assert _hash(repo_with_family) == before
    # What the image never holds (the family's notes for people, its evaluation) leaves it.
    (family / "README.md").write_text("The fit family, explained better.\n")
    (family / "evaluate.py").write_text((family / "evaluate.py").read_text() + "# scored\n")
    assert _hash(repo_with_family) == before
    # The starter code the image copies comes from the family: its change rebuilds.
    baseline = family / "starter" / "baseline.py"
    baseline.write_text(baseline.read_text() + "# a better baseline\n")
    after = _hash(repo_with_family)
    assert after != before
    # A file of the task that replaces the family's counts as the task's own.
    (family / NOTES).write_text("the family's notes, edited\n")
    assert _hash(repo_with_family) == after


def test_the_data_images_eval_folder_holds_the_familys_evaluation(
    repo_with_family: Path, tmp_path: Path
) -> None:
    family = repo_with_family / TASK_IMAGES / "families" / "fit"
    (family / "scoring_helpers.py").write_text("WEIGHT = 1\n")  # a module the script may import
    bundle = images.task_bundles(repo_with_family)[TASK]
    out = images.stage_data(bundle, tmp_path / f"{TASK}-data")
    eval_dir = out / images.EVAL_DIR
    assert (eval_dir / "evaluate.py").read_bytes() == (family / "evaluate.py").read_bytes()
    assert (eval_dir / "scoring_helpers.py").read_text() == "WEIGHT = 1\n"
    assert (eval_dir / NOTES).read_text() == "the task's own notes\n"
    assert (eval_dir / "starter" / "baseline.py").is_file()
    assert not (eval_dir / "README.md").exists() and not (eval_dir / "task.yaml").exists()
    before = _inputs.tree_digest(eval_dir)
    (family / "evaluate.py").write_text((family / "evaluate.py").read_text() + "# scored\n")
    again = images.stage_data(images.task_bundles(repo_with_family)[TASK], out)
    assert _inputs.tree_digest(again / images.EVAL_DIR) != before  # the data image rebuilds
