"""Whole trials of a model agent: litellm → a real OpenAI-protocol server on loopback → the sandbox.

The model's replies are scripted; everything else is real: `kubegym run`, the
bubblewrap sandbox, the tools, the evaluator, the trajectory and the limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubegym.cli import main
from tests.support.openai_server import FakeOpenAI, serve_openai

KEY_ENV = "KUBEGYM_TEST_MODEL_KEY"


def reply(thought: str, command: str) -> str:
    return f"{thought}\n```\n{command}\n```"


IMPROVE = [
    reply("Let me read the baseline first.", 'open "baseline.py"'),
    reply(
        "A straight line underfits; use polynomial features.",
        "edit 8:10\nfeatures = np.stack([x**k for k in range(10)], axis=1)\n"
        "coef, *_ = np.linalg.lstsq(features, y, rcond=None)\nend_of_edit",
    ),
    reply(
        "The prediction line must use the same features (now line 13).",
        "edit 13:13\npredictions = np.stack([xs**k for k in range(10)], axis=1) @ coef\nend_of_edit",
    ),
    reply("Produce the submission.", "python baseline.py"),
    reply("Check it on the validation data.", "validate"),
    reply("Good enough: submit.", "submit"),
]


def run_with(
    tmp_path: Path,
    repo: Path,
    server: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    **agent: Any,
) -> tuple[int, dict[str, Any], str]:
    monkeypatch.setenv(KEY_ENV, "sk-scripted")
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    spec = {
        "name": "scripted",
        "model": "openai/scripted-model",
        "apiBase": server.base_url,
        "apiKeyEnv": KEY_ENV,
        "pricing": {"inputUsdPerMillionTokens": 1.0, "outputUsdPerMillionTokens": 2.0},
        "historyWindow": 2,
        **agent,
    }
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "model-e2e"},
        "spec": {"tasks": {"names": ["polyfit"]}, "agents": [spec], "seeds": 1},
    }
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(run))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(run_file), "--out", str(out), "--json"])
    summary = json.loads(result.stdout) if result.exit_code == 0 else {}
    return result.exit_code, summary, result.stderr


def trial_results(tmp_path: Path) -> dict[str, Any]:
    (path,) = (tmp_path / "out" / "trials").glob("*/results.json")
    return json.loads(path.read_text())


def steps(tmp_path: Path) -> list[dict[str, Any]]:
    (path,) = (tmp_path / "out" / "trials").glob("*/trajectory.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_model_opens_edits_validates_and_submits(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_openai(IMPROVE) as server:
        code, summary, err = run_with(tmp_path, repo, server, monkeypatch)
    assert code == 0, err
    (trial,) = summary["trials"]
    assert trial["exit_reason"] == "submitted"
    assert trial["score"] > 0.95  # r2 of the polynomial fit, on the hidden test data
    results = trial_results(tmp_path)
    assert [s["action"] for s in results["scores"]] == ["validate", "submit"]
    assert results["steps"] == 6 and results["prompt_tokens"] > 0
    assert results["cost_usd"] == pytest.approx(
        (results["prompt_tokens"] * 1.0 + results["completion_tokens"] * 2.0) / 1e6
    )
    first = server.requests[0]
    assert first.api_key == "sk-scripted"
    assert first.messages[0]["role"] == "system" and "edit" in first.messages[0]["content"]
    assert "Polyfit" in first.messages[1]["content"]
    # history window 2: system + task + at most 2 (reply, observation) pairs
    assert max(len(r.messages) for r in server.requests) == 2 + 2 * 2
    observation = steps(tmp_path)[1]["observation"]
    assert "np.stack([x**k for k in range(10)], axis=1)" in observation


def test_malformed_replies_are_reasked_then_end_the_trial(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [reply("Baseline first.", "python baseline.py")] + ["I think I will do it."] * 3
    with serve_openai(script) as server:
        code, summary, err = run_with(tmp_path, repo, server, monkeypatch)
    assert code == 0, err
    (trial,) = summary["trials"]
    assert trial["exit_reason"] == "format_error"
    assert trial["score"] == pytest.approx(0.4416, abs=1e-3)  # the artifact was auto-submitted
    reasks = [r.messages[-1]["content"] for r in server.requests[2:]]
    assert len(server.requests) == 4 and all("code block" in m.lower() for m in reasks)


def test_the_step_limit_submits_automatically(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [reply("Run it.", "python baseline.py"), reply("Look around.", "ls")]
    with serve_openai(script) as server:
        code, summary, err = run_with(tmp_path, repo, server, monkeypatch, maxSteps=2)
    assert code == 0, err
    (trial,) = summary["trials"]
    assert trial["exit_reason"] == "max_steps"
    assert trial["score"] == pytest.approx(0.4416, abs=1e-3)
    assert steps(tmp_path)[-1]["action"] == "submit"


def test_the_cost_limit_submits_automatically(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [reply("Run it.", "python baseline.py"), reply("More.", "ls")]
    expensive = {"inputUsdPerMillionTokens": 1e6, "outputUsdPerMillionTokens": 1e6}
    with serve_openai(script) as server:
        code, summary, err = run_with(
            tmp_path, repo, server, monkeypatch, pricing=expensive, costLimitUsd=1.0
        )
    assert code == 0, err
    (trial,) = summary["trials"]
    assert trial["exit_reason"] == "cost_limit"
    assert len(server.requests) == 1
    assert trial["score"] == pytest.approx(0.4416, abs=1e-3)
    assert summary["spent_usd"] > 1.0


def test_a_rate_limit_is_retried(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [FakeOpenAI.error(429, retry_after=0), *IMPROVE]
    with serve_openai(script) as server:
        code, summary, err = run_with(tmp_path, repo, server, monkeypatch)
    assert code == 0, err
    assert summary["trials"][0]["exit_reason"] == "submitted"
    assert len(server.requests) == len(IMPROVE) + 1


def test_an_unknown_model_stops_before_any_trial(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_openai([]) as server:
        code, _, err = run_with(tmp_path, repo, server, monkeypatch, model="nosuchprovider/x")
    assert code == 1
    assert "unknown model 'nosuchprovider/x'" in err
    assert "spec.agents[scripted].model" in err
    assert not list((tmp_path / "out").glob("trials/*"))
    assert server.requests == []
