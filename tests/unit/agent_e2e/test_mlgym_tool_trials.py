"""The mlgym preset's tools in whole trials, in both runtimes: `kubegym run` locally, and the
agent pod (``python -m kubegym.agent_runner`` against the real sandbox and evaluator servers).

A scripted model opens the starter, sends an edit that brings an undefined name, then submits:
the trial must show MLGym's 1,000-line window and MLGym's lint refusal, and the file must stay
as it was (the submission is the baseline's), whichever runtime built the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.openai_server import FakeOpenAI, serve_openai
from tests.unit.agent_e2e import test_model_trials as model_trials
from tests.unit.agent_pod.conftest import Launch, launch  # noqa: F401 (the pod fixture)

BASELINE_SCORE = 0.4416  # polyfit's straight line, on the hidden test data


def reply(thought: str, command: str) -> str:
    return f"DISCUSSION\n{thought}\n\n```\n{command}\n```"


SCRIPT = [
    reply("Read the baseline.", "open baseline.py"),
    reply("Use a name that does not exist.", "edit 1:1\nprint(undefined_name)\nend_of_edit"),
    reply("Make the submission.", "python baseline.py"),
    reply("Done.", "submit"),
]


def check(steps: list[dict[str, Any]], server: FakeOpenAI, workspace: str) -> None:
    opened, edited = steps[0]["observation"], steps[1]["observation"]
    assert opened.startswith(f"[File: {workspace}/baseline.py (")
    assert "more lines below" not in opened  # the starter fits in MLGym's 1,000 lines
    assert edited.startswith(
        "Your proposed edit has introduced new syntax error(s). Please read this error message "
        "carefully and then retry editing the file."
    )
    assert "- F821 undefined name 'undefined_name'" in edited
    assert "DO NOT re-run the same failed edit command." in edited
    # The model read the refusal in its next request.
    assert "- F821 undefined name 'undefined_name'" in server.completions[2].messages[-1]["content"]


def test_kubegym_run_gives_the_mlgym_preset_its_tools(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_openai(SCRIPT) as server:
        code, _, err = model_trials.run_with(tmp_path, repo, server, monkeypatch, preset="mlgym")
    assert code == 0, err
    results = model_trials.trial_results(tmp_path)
    assert results["exit_reason"] == "submitted"
    assert results["score"] == pytest.approx(BASELINE_SCORE, abs=1e-3)  # the edit was refused
    check(model_trials.steps(tmp_path), server, "/workspace")


def test_the_agent_pod_gives_the_mlgym_preset_its_tools(launch: Launch) -> None:  # noqa: F811
    with serve_openai(SCRIPT) as server:
        agent = {
            "name": "scripted",
            "model": "openai/scripted-model",
            "apiBase": server.base_url,
            "apiKeyEnv": model_trials.KEY_ENV,
            "pricing": {"inputUsdPerMillionTokens": 1.0, "outputUsdPerMillionTokens": 2.0},
            "preset": "mlgym",
        }
        attempt = launch(agent)
        done = attempt.run_agent(120, **{model_trials.KEY_ENV: "sk-scripted"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert attempt.summary().exit == "submitted"
    (trajectory,) = (attempt.root / "trial").rglob("trajectory.jsonl")
    steps = [json.loads(line) for line in trajectory.read_text().splitlines()]
    # The sandbox server of this test runs unjailed: its workspace is the host folder.
    check(steps, server, str(attempt.workspace))
    assert "undefined_name" not in (attempt.workspace / "baseline.py").read_text()
