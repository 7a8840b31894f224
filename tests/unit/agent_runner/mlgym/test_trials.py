"""Whole trials of the mlgym preset: `kubegym run` → litellm → a real OpenAI-protocol server, with
the real sandbox, tools, evaluator, limits and automatic submissions (only the replies are
scripted): the environment's view reaches MLGym's prompts, a failing model API and the cost
limit end the trial with an automatic submission, and a smuggled second command never runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner.mlgym import templates
from tests.support.openai_server import FakeOpenAI, serve_openai
from tests.unit.agent_e2e import test_model_trials as model_trials
from tests.unit.agent_runner.mlgym.conftest import reply

BASELINE_SCORE = 0.4416  # polyfit's straight line, on the hidden test data


def run_with(
    tmp_path: Path, repo: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, **agent: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run polyfit once with the mlgym preset (kubegym's model-trial harness); results and steps."""
    code, _, err = model_trials.run_with(
        tmp_path, repo, server, monkeypatch, preset="mlgym", **agent
    )
    assert code == 0, err
    return model_trials.trial_results(tmp_path), model_trials.steps(tmp_path)


def test_a_trial_speaks_mlgyms_prompts(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [
        reply("Look around.", "ls"),
        reply("Make the baseline's submission.", "python baseline.py"),
        reply("Done.", "submit"),
    ]
    with serve_openai(script) as server:
        results, _ = run_with(tmp_path, repo, server, monkeypatch)
    assert results["exit_reason"] == "submitted"
    assert results["score"] == pytest.approx(BASELINE_SCORE, abs=1e-3)
    first, second, third = server.completions
    system, task = first.messages
    assert system["content"] == templates.system_message(window=1000, training_timeout=120)
    assert task["content"].startswith(
        "We're currently solving the following task. Here's the task description:\n\n"
        "TASK DESCRIPTION:\n# Polyfit: predict y from x\n"
    )
    assert task["content"].endswith(
        "(Current Step: 0, Remaining Steps: 20)\n(Open file: n/a)\n"
        "(Current directory: /workspace)\nbash-$"
    )
    # The step's raw output in MLGym's next-step form, from the environment's view.
    listing = second.messages[-1]["content"]
    assert listing.startswith("baseline.py\ndata\n")
    assert listing.endswith(
        "(Current Step: 1, Remaining Steps: 19)\n(Open file: n/a)\n"
        "(Current directory: /workspace)\nbash-$"
    )
    assert third.messages[-1]["content"].startswith("wrote ")
    assert "predictions to submission.csv\n(Current Step: 2," in third.messages[-1]["content"]
    assert first.body["temperature"] == 0 and first.body["top_p"] == 0.95


def test_a_failing_model_api_submits_what_was_built(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script: list[Any] = [reply("Make a submission.", "python baseline.py")]
    script += [FakeOpenAI.error(500, "upstream down", retry_after=0)] * 6
    with serve_openai(script) as server:
        results, steps = run_with(tmp_path, repo, server, monkeypatch)
    assert results["exit_reason"] == "model_error"
    assert results["failure_class"] is None  # a scored outcome, never an infrastructure retry
    assert results["attempt"] == 0
    assert results["score"] == pytest.approx(BASELINE_SCORE, abs=1e-3)
    assert [s["action"] for s in steps] == ["python baseline.py", "submit"]
    assert len(server.completions) == 7


def test_the_cost_limit_drops_the_reply_that_reached_it(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [
        FakeOpenAI.reply(reply("Make a submission.", "python baseline.py"), prompt_tokens=1000),
        FakeOpenAI.reply(reply("Throw it away.", "rm submission.csv"), prompt_tokens=2_000_000),
    ]
    with serve_openai(script) as server:
        results, steps = run_with(tmp_path, repo, server, monkeypatch, costLimitUsd=1.0)
    assert results["exit_reason"] == "cost_limit"
    # MLGym's model raised before returning that reply: the submission is still there.
    assert results["score"] == pytest.approx(BASELINE_SCORE, abs=1e-3)
    assert [s["action"] for s in steps] == ["python baseline.py", "submit"]
    assert results["cost_usd"] >= 1.0


def test_a_command_that_ends_early_never_runs_a_second_one(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLGym's parser passes each as one action; MLGym's shell would then have run the text
    after end_of_edit, or after submit, as a second command. Here neither runs."""
    smuggle_edit = 'edit 1:1\n"""Baseline."""\nend_of_edit\ntouch pwned'
    smuggle_submit = "submit\ntouch pwned2"
    script = [
        reply("Open it.", 'open "baseline.py"'),
        reply("Edit, then slip in a second command.", smuggle_edit),
        reply("Submit, then slip in a second command.", smuggle_submit),
        reply("Did anything run?", "head -1 baseline.py; ls"),
        reply("Done.", "submit"),
    ]
    with serve_openai(script) as server:
        results, steps = run_with(tmp_path, repo, server, monkeypatch)
    actions = [s["action"] for s in steps]
    assert actions == [
        'open "baseline.py"',
        smuggle_edit,
        smuggle_submit,
        "head -1 baseline.py; ls",
        "submit",
    ]
    for refused in steps[1:3]:
        assert refused["exit_code"] != 0
    assert "end_of_edit" in steps[1]["observation"]
    after = server.completions[4].messages[-1]["content"]
    # The edit itself was not applied either: the file's first line is still the starter's.
    assert after.startswith('"""Baseline: a straight line fitted by least squares."""\n')
    assert "pwned" not in after and "baseline.py" in after
    assert results["exit_reason"] == "eval_error"  # nothing was ever produced to submit


def test_a_trial_has_mlgyms_commands_only(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [
        reply("Save a note.", 'memory_write "r2 0.44 with a line"'),
        reply("Search papers.", 'literature_search "polynomial regression"'),
        reply("Done.", "submit"),
    ]
    with serve_openai(script) as server:
        _, steps = run_with(tmp_path, repo, server, monkeypatch)
    for step in steps[:2]:
        assert step["exit_code"] != 0
        assert "is not available in this task" in step["observation"]
    assert len(server.completions) == 3


def test_a_validate_reaches_the_model_in_mlgyms_words(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [
        reply("Make a submission.", "python baseline.py"),
        reply("Score it.", "validate"),
        reply("Done.", "submit"),
    ]
    with serve_openai(script) as server:
        results, _ = run_with(tmp_path, repo, server, monkeypatch)
    (validate, _) = results["scores"]
    assert validate["action"] == "validate" and validate["metrics"] != validate["testMetrics"]
    shown = server.completions[2].messages[-1]["content"]
    assert shown.startswith(
        "Your code produced a valid submission artefact at /workspace/submission.csv.\n"
        "Baseline Score: {'r2': 0.4416, 'rmse': 1.6854}\n"
        f"Evaluation Score: {validate['metrics']}\n(Current Step: 2, Remaining Steps: 18)\n"
    )
    for value in validate["testMetrics"].values():
        assert repr(value) not in shown  # the hidden test score stays hidden
