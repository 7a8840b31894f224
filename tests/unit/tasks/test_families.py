"""Task families: a task's folder laid over the family folders it includes, and nothing outside.

The polyfit example is split here into a family (its evaluation script and its
baseline) and a task that includes it: the task's own file replaces the family's
of the same path, the agent's workspace and the evaluator see one complete set of
files, and an include that leads out of the catalog is refused, naming the field.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym.agent_runner.env import ResearchEnv
from kubegym.api import documents, runs
from kubegym.errors import ConfigError
from kubegym.tasks import catalog, families
from tests.unit.tasks.family import NOTES, TASK, make_catalog, read


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_tasks_file_replaces_the_familys_file_of_the_same_path(
    repo: Path, tmp_path: Path, cache: Path
) -> None:
    folder = make_catalog(repo, tmp_path / "catalog")
    bundle = read(folder)
    family = tmp_path / "catalog" / "families" / "fit"
    assert bundle.root.is_relative_to(cache / families.FOLDERS / TASK)
    assert bundle.layers == (family.resolve(), folder.resolve())
    assert (bundle.root / NOTES).read_text() == "the task's own notes\n"
    assert (bundle.root / "starter" / "baseline.py").read_bytes() == (
        family / "starter" / "baseline.py"
    ).read_bytes()
    assert bundle.origin(NOTES) == folder.resolve() / NOTES
    assert bundle.origin("evaluate.py") == family.resolve() / "evaluate.py"
    assert bundle.resolve(bundle.task.spec.evaluation.script).is_file()
    # What the evaluator reads besides the data: the script, the modules beside it, the starter.
    (family / "scoring_helpers.py").write_text("WEIGHT = 1\n")
    assert read(folder).evaluation_files() == ["evaluate.py", "scoring_helpers.py", "starter"]


def test_a_task_without_families_is_read_where_it_is(repo: Path, cache: Path) -> None:
    polyfit = repo / "examples" / "tasks" / "polyfit"
    bundle = catalog.discover([polyfit.parent])["polyfit"]
    assert bundle.root == polyfit.resolve() and bundle.layers == ()
    assert not (cache / families.FOLDERS).exists()


def test_the_assembled_folder_is_named_by_its_content(
    repo: Path, tmp_path: Path, cache: Path
) -> None:
    folder = make_catalog(repo, tmp_path / "catalog")
    first = read(folder).root
    assert read(folder).root == first  # the same files: the same folder, not copied again
    baseline = tmp_path / "catalog" / "families" / "fit" / "starter" / "baseline.py"
    baseline.write_text(baseline.read_text() + "# an edit to the family\n")
    second = read(folder).root
    assert second != first
    assert (second / "starter" / "baseline.py").read_text().endswith("# an edit to the family\n")
    assert not (first / "starter" / "baseline.py").read_text().endswith("family\n")  # untouched
    # Caches never travel: a compiled module in the family changes nothing.
    (baseline.parent / "__pycache__").mkdir()
    (baseline.parent / "__pycache__" / "baseline.cpython-311.pyc").write_bytes(b"\0")
    assert read(folder).root == second
    assert not (second / "starter" / "__pycache__").exists()


@pytest.mark.parametrize(
    "include",
    ["../../etc", "../../../../../../etc", "..", ".", "../polyfit-family/starter", "../nowhere"],
)
def test_an_include_outside_the_catalog_or_over_the_task_is_refused(
    repo: Path, tmp_path: Path, cache: Path, include: str
) -> None:
    folder = make_catalog(repo, tmp_path / "catalog", ["../families/fit", include])
    with pytest.raises(ConfigError) as caught:
        read(folder)
    assert caught.value.field == "spec.includes[1]"
    assert not (cache / families.FOLDERS).exists()  # nothing was copied
    # The catalog skips the task and says why; the others are still found.
    broken: list[ConfigError] = []
    assert TASK not in catalog.discover([tmp_path / "catalog"], broken)
    assert [e.field for e in broken] == ["spec.includes[1]"]


def test_an_absolute_include_is_refused_by_the_model(repo: Path, tmp_path: Path) -> None:
    folder = make_catalog(repo, tmp_path / "catalog", ["/etc"])
    with pytest.raises(ConfigError) as caught:
        documents.load_run_file(folder / "task.yaml")
    assert "spec.includes[0]" in str(caught.value)


def test_a_link_out_of_the_catalog_is_refused(repo: Path, tmp_path: Path, cache: Path) -> None:
    catalog_root = tmp_path / "catalog"
    folder = make_catalog(repo, catalog_root, ["../families/etc"])
    os.symlink("/etc", catalog_root / "families" / "etc")
    with pytest.raises(ConfigError, match="outside the catalog") as caught:
        read(folder)
    assert caught.value.field == "spec.includes[0]"
    # A link inside a family could carry any file of the machine into the task: refused too.
    (catalog_root / "families" / "etc").unlink()
    folder = make_catalog(repo, tmp_path / "other")
    os.symlink("/etc/hostname", tmp_path / "other" / "families" / "fit" / "hostname")
    with pytest.raises(ConfigError, match="not a regular file") as caught:
        read(folder)
    assert caught.value.field == "spec.includes"
    assert not (cache / families.FOLDERS).exists()


def test_a_task_in_the_run_file_cannot_include_families(repo: Path, tmp_path: Path) -> None:
    folder = make_catalog(repo, tmp_path / "catalog")
    run_file = documents.load_run_file(folder / "task.yaml")
    selection = runs.TaskSelection(names=[TASK])
    with pytest.raises(ConfigError, match="in its own folder") as caught:
        catalog.select(selection, run_file, tmp_path, folders=[])
    assert caught.value.field == "spec.includes"


@pytest.fixture
def research(repo: Path, tmp_path: Path) -> Iterator[ResearchEnv]:
    """A research environment over the family task (the real cache: its venv is polyfit's)."""
    bundle = catalog.discover([make_catalog(repo, tmp_path / "catalog").parent])[TASK]
    env = ResearchEnv([bundle], sandbox="bwrap")
    env.reset(seed=0, options={"task": TASK})
    yield env
    env.close()


def test_the_agent_sees_one_workspace_and_the_evaluator_the_familys_script(
    research: ResearchEnv,
) -> None:
    observation, *_ = research.step("cat notes.txt && ls")
    assert "the task's own notes" in observation and "the family's notes" not in observation
    assert "baseline.py" in observation and "evaluate.py" not in observation
    research.step("python baseline.py")
    _, _, _, _, info = research.step("validate")
    assert info["score"].error is None, info["score"].error
    # polyfit's own baseline score, on its test data: the same script scored the same artifact.
    assert info["score"].test_metrics["r2"] == pytest.approx(0.4416, abs=1e-4)
