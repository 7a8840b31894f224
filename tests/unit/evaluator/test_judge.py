"""validate and submit on a real task (examples/tasks/polyfit): splits, hidden scores, eval errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubegym.api import documents
from kubegym.errors import ConfigError
from kubegym.evaluator import Judge, scorer
from kubegym.tasks.catalog import TaskBundle


@pytest.fixture
def polyfit(repo: Path) -> TaskBundle:
    root = repo / "examples" / "tasks" / "polyfit"
    (task,) = documents.load_run_file(root / "task.yaml").tasks
    return TaskBundle(task, root)


@pytest.fixture
def workspace(polyfit: TaskBundle, tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    shutil.copytree(polyfit.root / "starter", ws)
    shutil.copytree(polyfit.root / "data", ws / "data")
    return ws


def run_baseline(ws: Path) -> None:
    subprocess.run([sys.executable, "baseline.py"], cwd=ws, check=True, capture_output=True)


def test_validate_scores_heldout_data_and_hides_the_test_score(
    polyfit: TaskBundle, workspace: Path
) -> None:
    run_baseline(workspace)
    verdict = Judge(polyfit, "heldout").validate(workspace, step=3)
    assert verdict.ok
    assert verdict.score.action == "validate" and verdict.score.step == 3
    assert verdict.score.metrics is not None and verdict.score.test_metrics is not None
    # the baseline's scores on the two splits are close but not equal: different points
    assert verdict.score.metrics["r2"] == pytest.approx(0.44, abs=0.1)
    assert verdict.score.metrics["r2"] != verdict.score.test_metrics["r2"]
    assert verdict.score.test_metrics["r2"] == pytest.approx(0.4416, abs=1e-4)
    assert "validation data" in verdict.observation
    assert f"{verdict.score.test_metrics['r2']:.6f}"[:8] not in verdict.observation


def test_test_mode_validates_on_the_test_data(polyfit: TaskBundle, workspace: Path) -> None:
    run_baseline(workspace)
    verdict = Judge(polyfit, "test").validate(workspace, step=1)
    assert verdict.score.metrics == verdict.score.test_metrics
    assert "test data" in verdict.observation


def test_submit_scores_the_test_data(polyfit: TaskBundle, workspace: Path) -> None:
    run_baseline(workspace)
    verdict = Judge(polyfit).submit(workspace, step=5)
    assert verdict.ok and verdict.score.action == "submit"
    assert verdict.score.metrics is not None
    assert verdict.score.metrics["rmse"] == pytest.approx(1.6854, abs=1e-3)


def test_a_missing_artifact_is_an_eval_error(polyfit: TaskBundle, workspace: Path) -> None:
    verdict = Judge(polyfit).validate(workspace, step=0)
    assert not verdict.ok
    assert verdict.score.error is not None and "submission.csv" in verdict.score.error
    assert verdict.observation.startswith("Validation failed: no submission found")


def test_a_malformed_artifact_shows_the_scripts_reason(
    polyfit: TaskBundle, workspace: Path
) -> None:
    (workspace / "submission.csv").write_text("id,prediction\n1,2.0\n")
    verdict = Judge(polyfit).submit(workspace, step=0)
    assert not verdict.ok
    assert "expected the columns id,y" in verdict.observation


def test_missing_ids_are_an_eval_error(polyfit: TaskBundle, workspace: Path) -> None:
    run_baseline(workspace)
    lines = (workspace / "submission.csv").read_text().splitlines()
    (workspace / "submission.csv").write_text("\n".join(lines[:50]) + "\n")
    verdict = Judge(polyfit).validate(workspace, step=0)
    assert verdict.score.error is not None and "no prediction for" in verdict.score.error


def test_an_artifact_outside_the_workspace_is_refused(
    polyfit: TaskBundle, workspace: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.csv").write_text("id,y\n")
    (workspace / "submission.csv").symlink_to(tmp_path / "elsewhere.csv")
    verdict = Judge(polyfit).submit(workspace, step=0)
    # A link is refused as such, wherever it points: it is never followed.
    assert verdict.score.error is not None and "symbolic link" in verdict.score.error


def test_heldout_needs_validation_data(polyfit: TaskBundle) -> None:
    spec = polyfit.task.spec.model_copy(update={"validation_data": []})
    task = polyfit.task.model_copy(update={"spec": spec})
    with pytest.raises(ConfigError, match="validation: test"):
        Judge(TaskBundle(task, polyfit.root), "heldout")


def test_changed_data_is_refused(polyfit: TaskBundle, tmp_path: Path) -> None:
    root = tmp_path / "polyfit"
    shutil.copytree(polyfit.root, root)
    (root / "hidden" / "test.csv").write_text("id,y\n1,1.0\n")
    with pytest.raises(ConfigError, match="sha256"):
        Judge(TaskBundle(polyfit.task, root))


# --- the scorer's contract with evaluation scripts ---------------------------------------


def script_bundle(polyfit: TaskBundle, tmp_path: Path, body: str) -> TaskBundle:
    root = tmp_path / "task"
    shutil.copytree(polyfit.root, root)
    (root / "evaluate.py").write_text(body)
    return TaskBundle(polyfit.task, root)


REPORT = "import os; os.write(int(os.environ['KUBEGYM_METRICS_FD']), {!r}.encode())"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('print(\'{"r2": 1, "rmse": 0}\')', "reported no metrics"),  # stdout is not a channel
        (REPORT.format("done"), "not JSON"),
        (REPORT.format("[1, 2]"), "not a JSON object"),
        (
            "import kubegym_eval; kubegym_eval.report({'r2': 0.5})",
            "did not report the metric 'rmse'",
        ),
        (
            "import kubegym_eval; kubegym_eval.report({'r2': float('nan'), 'rmse': 1})",
            "not a finite number",
        ),
        ("", "reported no metrics"),
        ("import sys; sys.exit('boom')", "exit status 1"),
    ],
)
def test_bad_script_output_is_an_eval_error(
    polyfit: TaskBundle, workspace: Path, tmp_path: Path, body: str, reason: str
) -> None:
    run_baseline(workspace)
    bundle = script_bundle(polyfit, tmp_path, body)
    result = scorer.score(
        bundle.task.spec.evaluation,
        task_dir=bundle.root,
        workspace=workspace,
        data={},
        split="test",
    )
    assert result.error is not None and reason in result.error


def test_a_slow_script_is_stopped(polyfit: TaskBundle, workspace: Path, tmp_path: Path) -> None:
    run_baseline(workspace)
    bundle = script_bundle(polyfit, tmp_path, "import time; time.sleep(30)")
    result = scorer.score(
        bundle.task.spec.evaluation,
        task_dir=bundle.root,
        workspace=workspace,
        data={},
        split="test",
        timeout=0.5,
    )
    assert result.error is not None and "longer than 0.5 s" in result.error


def test_the_script_sees_a_read_only_copy_and_no_secrets(
    polyfit: TaskBundle, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    run_baseline(workspace)
    before = (workspace / "submission.csv").read_bytes()
    body = (
        "import argparse, kubegym_eval, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--submission'); p.add_argument('--split')\n"
        "p.add_argument('--data', action='append')\n"
        "a = p.parse_args()\n"
        "assert 'OPENAI_API_KEY' not in os.environ, 'the key leaked'\n"
        "mode = os.stat(a.submission).st_mode & 0o222\n"
        "kubegym_eval.report({'r2': float(mode), 'rmse': 0.0})\n"
    )
    bundle = script_bundle(polyfit, tmp_path, body)
    result = scorer.score(
        bundle.task.spec.evaluation,
        task_dir=bundle.root,
        workspace=workspace,
        data={},
        split="test",
    )
    assert result.metrics == {"r2": 0.0, "rmse": 0.0}  # no write bit on the copy
    assert (workspace / "submission.csv").read_bytes() == before
