"""The generated run reads as a real one: kubegym's own readers take it, and it holds what it claims."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from kubegym import index, report
from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.api import trials as trials_api
from kubegym.report import loading
from tests.support import synthetic_run


def _steps(folder: Path, trial: str) -> list[dict[str, Any]]:
    path = folder / "trials" / trial / results_api.TRAJECTORY_JSONL
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = synthetic_run.write_run(tmp_path / "a", trials=12, tasks=2, agents=2, seed=3)
    second = synthetic_run.write_run(tmp_path / "b", trials=12, tasks=2, agents=2, seed=3)
    other = synthetic_run.write_run(tmp_path / "c", trials=12, tasks=2, agents=2, seed=4)
    assert first.trials == second.trials
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a") != _digests(tmp_path / "c")
    assert first.trials != other.trials


def test_the_report_loads_it_and_reproduces_its_leaderboard(
    generated: synthetic_run.SyntheticRun,
) -> None:
    run = report.load_run(report.LocalRunFolder(generated.folder))
    assert sorted(run.trials["trial"]) == sorted(generated.trials)
    assert run.unfinished == sorted(generated.unfinished)
    assert not [n for n in run.notes if n.startswith("skipped")], run.notes
    document = report.build_report(run, with_plots=False)
    assert any("reproduces the run's leaderboard.json exactly" in n for n in document.notes)
    tools = set(run.actions["tool"])
    assert {"open", "edit", "python", "validate", "submit"} <= tools


def test_its_results_csv_and_status_count_every_finished_trial(
    generated: synthetic_run.SyntheticRun,
) -> None:
    with (generated.folder / "results.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["trial"] for r in rows) == sorted(generated.trials)
    status = json.loads((generated.folder / "status.json").read_text(encoding="utf-8"))
    assert status["counters"]["total"] == len(generated.trials)
    assert status["leaderboard"], "the status lists each agent's AUP"


def test_every_step_has_the_recorders_keys_in_its_order(
    generated: synthetic_run.SyntheticRun,
) -> None:
    keys = [f.name for f in dataclasses.fields(trajectory.Step)]
    for trial in [*generated.trials, *generated.unfinished]:
        path = generated.folder / "trials" / trial / results_api.TRAJECTORY_JSONL
        if not path.exists():
            continue
        steps = _steps(generated.folder, trial)
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        for step in steps:
            assert list(step) == keys
            # What the recorder would write for the same step, field for field.
            assert dataclasses.asdict(trajectory.Step(**step)) == step
            if step["score"] is not None:
                trials_api.Score.model_validate(step["score"])
            for edit in step["edits"]:
                assert set(edit) == {"path", "diff"}
                assert edit["diff"].startswith(("--- a/", "--- /dev/null"))


def test_a_trials_totals_are_the_sum_of_its_steps(generated: synthetic_run.SyntheticRun) -> None:
    for trial in generated.trials:
        folder = generated.folder / "trials" / trial
        result = json.loads((folder / results_api.RESULTS_JSON).read_text(encoding="utf-8"))
        steps = _steps(generated.folder, trial) if result["steps"] else []
        assert len(steps) == result["steps"]
        assert sum(s["prompt_tokens"] for s in steps) == result["prompt_tokens"]
        assert sum(s["completion_tokens"] for s in steps) == result["completion_tokens"]
        assert abs(sum(s["cost_usd"] for s in steps) - result["cost_usd"]) < 1e-5
        step_scores = [s["score"] for s in steps if s["score"] is not None]
        assert step_scores == result["scores"]


def test_one_trial_is_a_thousand_steps_long_and_its_validations_improve(
    generated: synthetic_run.SyntheticRun,
) -> None:
    assert generated.long_trial is not None
    steps = _steps(generated.folder, generated.long_trial)
    assert len(steps) == 1000
    result = json.loads(
        (generated.folder / "trials" / generated.long_trial / "results.json").read_text("utf-8")
    )
    values = [s["score"]["metrics"]["metric"] for s in steps if s["action"] == "validate"]
    better = max if result["direction"] == "max" else min
    assert len(values) > 50
    first, last = better(values[:10]), better(values[-10:])
    assert better(first, last) == last != first, "the last validations beat the first ten"
    assert sum(s["prompt_tokens"] for s in steps[-10:]) > sum(
        s["prompt_tokens"] for s in steps[:10]
    )


def test_it_carries_hostile_names_text_file_names_and_a_huge_line(
    generated: synthetic_run.SyntheticRun,
) -> None:
    assert generated.hostile_trial is not None
    folder = generated.folder / "trials" / generated.hostile_trial
    result = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert (result["task"], result["agent"]) == (
        synthetic_run.HOSTILE_TASK,
        synthetic_run.HOSTILE_AGENT,
    )
    assert "<script>" in result["task"]
    steps = [
        s
        for trial in (generated.hostile_trial, generated.long_trial)
        for s in _steps(generated.folder, str(trial))
    ]
    assert any("<script>" in s["observation"] for s in steps)
    assert any("<script>" in s["thought"] for s in steps)
    paths = {e["path"] for s in steps for e in s["edits"]}
    assert set(synthetic_run.HOSTILE_FILES) <= paths
    longest = max(len(line) for s in steps for line in s["observation"].splitlines())
    assert longest >= synthetic_run.LONG_LINE_CHARS


def test_without_hostile_content_it_holds_none(tmp_path: Path) -> None:
    written = synthetic_run.write_run(tmp_path / "run", trials=20, tasks=2, agents=2, hostile=False)
    assert written.hostile_trial is None
    text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "run").rglob("*.json*"))
    assert "<script>" not in text
    assert "onerror" not in text


def test_the_reports_fast_tool_count_reads_steps_with_edits(
    generated: synthetic_run.SyntheticRun,
) -> None:
    # Steps with edits (diffs, hostile file names, a huge line) keep "step" and "action"
    # first: the loader's byte-cutting path reads every line and agrees with JSON.
    for trial in [*generated.trials, *generated.unfinished]:
        path = generated.folder / "trials" / trial / results_api.TRAJECTORY_JSONL
        if not path.exists():
            continue
        jsonl = path.read_bytes()
        fast = loading._FAST_ACTION.findall(b"\n" + jsonl)
        assert len(fast) == jsonl.count(b"\n"), trial
        parsed = Counter(
            json.loads(line)["action"].split(maxsplit=1)[0] for line in jsonl.splitlines()
        )
        assert loading.count_tools(jsonl) == parsed


def test_the_index_ingests_it_and_pages_through_every_trial(
    generated: synthetic_run.SyntheticRun, tmp_path: Path
) -> None:
    with index.open(f"sqlite:///{tmp_path / 'index.sqlite'}") as idx:
        ingested = idx.ingest(str(generated.folder))
        assert ingested.added == len(generated.trials)
        run_id = idx.run_id(str(generated.folder))
        run = idx.run(run_id)
        assert run is not None
        assert run.finished_trials == len(generated.trials)
        seen: list[index.TrialRow] = []
        cursor = None
        while True:
            page = idx.trials(run_id, cursor=cursor, limit=7)
            seen += page.rows
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(r.trial for r in seen) == sorted(generated.trials)
        hostile = idx.trial(run_id, str(generated.hostile_trial))
        assert hostile is not None
        assert (hostile.task, hostile.agent) == (
            synthetic_run.HOSTILE_TASK,
            synthetic_run.HOSTILE_AGENT,
        )
        long = idx.trial(run_id, str(generated.long_trial))
        assert long is not None and long.steps == 1000
        assert long.trajectory == f"trials/{generated.long_trial}/trajectory.jsonl"
        assert idx.ingest(str(generated.folder)).added == 0, "a second ingest changes nothing"
