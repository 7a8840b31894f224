"""task_images/baselines.json, the READMEs rendered from it, and MLGym's quoted numbers agree.

The measured table is the source; README.md's baselines section and each task's
README block are rendered from it (`kubegym tasks baseline --from task_images/baselines.json
--update-readmes README.md`), and these tests fail when either drifts, when a task has no
row, when a bar changed after the measurement, or when a task's unchanged starter is
infeasible against its bar and its README does not say why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubegym.api import baselines as baselines_api
from kubegym.cli import main
from kubegym.report import baselines as baseline_report
from kubegym.tasks import catalog

REPO = Path(__file__).resolve().parents[3]
TASK_IMAGES = REPO / "task_images"
TABLE = TASK_IMAGES / "baselines.json"
MLGYM = Path("/work/.mirror/facebookresearch+MLGym/repo")
SECTION = "## Measured baseline and the feasibility bar"


@pytest.fixture(scope="module")
def table() -> baselines_api.BaselineTable:
    return baselines_api.read(TABLE)


@pytest.fixture(scope="module")
def tasks() -> dict[str, catalog.TaskBundle]:
    return catalog.discover([TASK_IMAGES])


def quotes() -> dict[str, baseline_report.Quote]:
    return baseline_report.load_quotes([TASK_IMAGES])


def test_every_task_has_a_row_measured_at_budget_one(
    table: baselines_api.BaselineTable, tasks: dict[str, catalog.TaskBundle]
) -> None:
    assert sorted(row.task for row in table.rows) == sorted(tasks), (
        "a task without a row (or a row without a task): measure again with "
        "`kubegym tasks baseline --all --out task_images/baselines.json`"
    )
    assert table.budget == 1.0 and not table.interrupted
    assert table.kubegym_commit and table.created and table.machine.cpus >= 1
    for row in table.rows:
        # A GPU task without a GPU is either run on the CPU or skipped with the reason.
        assert row.status != "skipped" or row.reason, row.task


def test_each_rows_bar_is_the_tasks_current_bar(
    table: baselines_api.BaselineTable, tasks: dict[str, catalog.TaskBundle]
) -> None:
    """A bar changed after the measurement makes the table's feasibility stale: measure again."""
    for row in table.rows:
        assert row.bar == tasks[row.task].task.spec.baseline_score(), (
            f"{row.task}: baselineScores changed after the measurement; measure again"
        )


def test_readme_and_task_readmes_are_rendered_from_the_table(
    table: baselines_api.BaselineTable, tmp_path: Path
) -> None:
    copy = tmp_path / "task_images"
    shutil.copytree(TASK_IMAGES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    readme = tmp_path / "README.md"
    shutil.copyfile(REPO / "README.md", readme)
    readmes = {row.task: copy / row.task / "README.md" for row in table.rows}
    changed = baseline_report.update_readmes(table, quotes(), readme, readmes)
    assert changed == [], "stale; run: kubegym tasks baseline --from task_images/baselines.json "
    "--update-readmes README.md"


def test_an_infeasible_starter_is_explained_in_its_readme(
    table: baselines_api.BaselineTable,
) -> None:
    for row in table.rows:
        if row.feasible is not False:
            continue
        text = (TASK_IMAGES / row.task / "README.md").read_text()
        section = text[text.index(SECTION) :]
        said = section[section.index(baseline_report.END) :]
        assert "infeasible" in said, f"{row.task}: the README does not say why its starter is"


def test_mlgym_suite_tasks_are_quoted(tasks: dict[str, catalog.TaskBundle]) -> None:
    suite = yaml.safe_load((TASK_IMAGES / "suites" / "mlgym-bench.yaml").read_text())["tasks"]
    assert sorted(quotes()) == sorted(suite)
    assert not any(name.endswith("-proxy") for name in quotes())  # proxies are never MLGym's


@pytest.mark.skipif(not MLGYM.is_dir(), reason="MLGym's repository is not mirrored here")
@pytest.mark.parametrize("task", sorted(quotes()))
def test_the_quote_is_mlgyms_number(task: str) -> None:
    quote = quotes()[task]
    config = subprocess.run(
        ["git", "--git-dir", str(MLGYM), "show", f"HEAD:configs/tasks/{quote.mlgym_task}.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (scores,) = yaml.safe_load(config)["baseline_scores"]
    assert scores[quote.metric] == quote.score


def test_an_edited_block_is_put_back_and_a_missing_one_is_an_error(
    table: baselines_api.BaselineTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "task_images"
    shutil.copytree(TASK_IMAGES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    readme = tmp_path / "README.md"
    shutil.copyfile(REPO / "README.md", readme)
    row = table.rows[0]
    task_readme = copy / row.task / "README.md"
    original = task_readme.read_text()
    edited = re.sub(r"\| our starter \|[^\n]*", "| our starter | 9.99 |", original)
    assert edited != original
    task_readme.write_text(edited)
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(copy))  # the copies win over the checkout's
    result = CliRunner().invoke(
        main, ["tasks", "baseline", "--from", str(TABLE), "--update-readmes", str(readme)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"updated {task_readme}"
    assert task_readme.read_text() == original
    task_readme.write_text("# no block\n")
    with pytest.raises(ValueError, match="no generated block"):
        baseline_report.update_readmes(table, quotes(), readme, {row.task: task_readme})
