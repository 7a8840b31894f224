"""What `kubegym report` accepts as SOURCE, and the one-line errors for what it does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym import report
from kubegym.cli import main
from kubegym.errors import ConfigError
from kubegym.index import sources
from kubegym.store import FolderStore


def run_report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", *args])
    return result.exit_code, result.output


def test_a_missing_folder(tmp_path: Path) -> None:
    code, output = run_report(str(tmp_path / "nowhere"))
    assert code == 1
    assert output.startswith("error: ") and "nowhere does not exist" in output
    assert "Traceback" not in output


def test_a_file_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("kind: BenchmarkRun\n")
    code, output = run_report(str(tmp_path / "run.yaml"))
    assert code == 1 and "is not a folder" in output


def test_a_folder_without_trials_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("x\n1\n")
    code, output = run_report(str(tmp_path))
    assert code == 1 and f"{tmp_path} is not a run" in output
    assert "kubegym run --out" in output  # what to give instead


def test_a_folder_of_runs_is_not_one_run(tiny_run: Path) -> None:
    parent = tiny_run.parent
    shutil.copytree(tiny_run, parent / "tiny-again")
    code, output = run_report(str(parent))
    assert code == 1 and f"{parent} is not a run" in output
    assert "it holds the runs tiny, tiny-again: give one of them" in output


def test_a_broken_leaderboard_is_named(tiny_run: Path) -> None:
    (tiny_run / "leaderboard.json").write_text("{not json")
    code, output = run_report(str(tiny_run))
    assert code == 1 and "leaderboard.json" in output and "cannot read" in output


def test_unreadable_results_are_skipped_with_a_note(tiny_run: Path) -> None:
    broken = next((tiny_run / "trials").glob("*-acc-A-s1"))
    (broken / "results.json").write_text("{")
    old = next((tiny_run / "trials").glob("*-acc-A-s0"))
    data = json.loads((old / "results.json").read_text())
    (old / "results.json").write_text(json.dumps({**data, "format_version": 99}))
    run = report.load_run(report.LocalRunFolder(tiny_run))
    assert len(run.trials) == 5
    assert any("acc-A-s1/results.json: not readable JSON" in n for n in run.notes)
    assert any("acc-A-s0/results.json: not a results.json of format 1" in n for n in run.notes)
    document = report.build_report(run, with_plots=False)
    assert any("differs from the run's leaderboard.json" in n for n in document.notes)


def test_a_run_without_leaderboard_takes_baselines_from_the_catalog(
    quickstart_run: Path, tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the quickstart's own tasks live next to its run file, not in task_images/
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(repo / "examples" / "tasks"))
    copy = tmp_path / "run"
    shutil.copytree(quickstart_run / "trials", copy / "trials")
    recorded = json.loads((quickstart_run / "leaderboard.json").read_text())
    document = report.build_report(report.load_run(report.LocalRunFolder(copy)), with_plots=False)
    # polyfit, xor-blobs and prisoners-dilemma are known tasks: the same AUP as recorded
    assert document.leaderboard["agents"] == recorded["agents"]


def test_a_task_with_no_known_baseline_leaves_a_note_not_a_crash(tiny_run: Path) -> None:
    (tiny_run / "leaderboard.json").unlink()
    document = report.build_report(
        report.load_run(report.LocalRunFolder(tiny_run)), with_plots=False
    )
    assert any("task 'acc': no baseline score" in n for n in document.notes)
    assert any(n.startswith("no leaderboard: ") for n in document.notes)
    assert "costs" in {t.key for t in document.tables}


def test_a_run_in_the_stores_layout(tiny_run: Path, tmp_path: Path) -> None:
    # The store keys attempts as <trial>/attempt-<n>/…; the highest attempt is the trial's.
    root = tmp_path / "bucket" / "runs" / "tiny"
    for folder in (tiny_run / "trials").iterdir():
        results = folder / "results.json"
        attempt = json.loads(results.read_text())["attempt"] if results.exists() else 0
        for n in range(attempt + 1):
            target = root / folder.name / f"attempt-{n}"
            target.mkdir(parents=True)
            for file in folder.iterdir():
                if n == attempt or file.name == "trajectory.jsonl":
                    shutil.copy(file, target / file.name)
    shutil.copy(tiny_run / "leaderboard.json", root / "leaderboard.json")
    source = sources.StoreRunSource(FolderStore(root), "s3://bucket/runs/tiny")
    run = report.load_run(source)
    assert run.location == "s3://bucket/runs/tiny" and len(run.trials) == 7
    assert run.unfinished == ["tiny-loss-B-s1"]
    assert int(run.trials["attempt"].sum()) == 3
    document = report.build_report(run, with_plots=False)
    assert "reproduces the run's leaderboard.json exactly" in " ".join(document.notes)


def test_s3_sources_go_through_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "reader")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    source = sources.open_source("s3://bucket/prefix/some-run")  # no request made yet
    assert isinstance(source, sources.StoreRunSource)
    assert source.name == "some-run" and source.location == "s3://bucket/prefix/some-run"


def test_s3_without_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, output = run_report("s3://bucket/prefix/some-run")
    assert code == 1 and "no S3 credentials" in output and "Traceback" not in output


def test_an_s3_uri_without_a_bucket() -> None:
    with pytest.raises(ConfigError, match="names no bucket"):
        sources.open_source("s3:///prefix/run")
