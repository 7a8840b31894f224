"""Issue 14's whole path: an `mlgym` agent on the `mlgym-bench` profile, through `kubegym run`.

A real MLGym task (prisoners-dilemma, from task_images/), MLGym-Bench's setting (the profile:
its training timeout, validate on the test data, MLGym's last-score rule, egress to the package
index and the hub), MLGym's agent (the preset) driven by a scripted OpenAI-protocol server, the
real sandbox, egress proxy and evaluator. The agent also tries a host its allowlist lacks: the
proxy refuses it, the results record it, and the report flags it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubegym import report
from kubegym.agent_runner.mlgym import templates
from kubegym.api import runs
from kubegym.cli import main
from tests.support.openai_server import serve_openai
from tests.unit.agent_runner.mlgym.conftest import reply

KEY_ENV = "KUBEGYM_TEST_MLGYM_KEY"
AGENT = {
    "name": "scripted-mlgym",
    "model": "openai/scripted-model",
    "preset": "mlgym",
    "apiKeyEnv": KEY_ENV,
    "pricing": {"inputUsdPerMillionTokens": 1.0, "outputUsdPerMillionTokens": 2.0},
}


def test_an_mlgym_agent_on_the_mlgym_bench_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-scripted")
    script = [
        reply("Look around.", "ls"),
        # Not on the allowlist: the proxy refuses its CONNECT (curl prints the 403).
        reply(
            "Fetch a strategy.", "curl -s -o /dev/null -w '%{http_connect}' https://example.com/"
        ),
        reply("Score the starter.", "validate"),
        reply("Done.", "submit"),
    ]
    with serve_openai(script) as server:
        agent: dict[str, Any] = {**AGENT, "apiBase": server.base_url}
        run = {
            "apiVersion": "kubegym.io/v1alpha1",
            "kind": "BenchmarkRun",
            "metadata": {"name": "mlgym-parity"},
            "spec": {
                "tasks": {"names": ["prisoners-dilemma"]},
                "profile": "mlgym-bench",
                "agents": [agent],
            },
        }
        run_file = tmp_path / "run.yaml"
        run_file.write_text(yaml.safe_dump(run))
        out = tmp_path / "out"
        result = CliRunner().invoke(main, ["run", str(run_file), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output

    # MLGym's prompts, with the profile's training timeout, and MLGym's sampling.
    first = server.completions[0]
    system, task = first.messages
    assert system["content"] == templates.system_message(window=1000, training_timeout=1800)
    assert task["content"].startswith(
        "We're currently solving the following task. Here's the task description:"
    )
    assert (first.body["temperature"], first.body["top_p"]) == (0, 0.95)
    refused = server.completions[2].messages[-1]["content"]
    assert refused.startswith("403")

    (results_path,) = (out / "trials").glob("*/results.json")
    results = json.loads(results_path.read_text())
    assert results["exit_reason"] == "submitted"
    # The profile's egress: the package index and the hub only, every request recorded.
    egress = results["egress"]
    assert egress["network"] == "allowlist"
    assert {"pypi.org", "files.pythonhosted.org", "huggingface.co"} <= set(egress["allowlist"])
    assert [(h["host"], h["allowed"], h["refused"]) for h in egress["hosts"]] == [
        ("example.com", 0, 1)
    ]

    # The leaderboard says what it can be compared with: the profile, MLGym's rule, the agent.
    scope = json.loads((out / "leaderboard.json").read_text())["scope"]
    assert scope["profile"] == "mlgym-bench"
    assert scope["best_submission"] == "last-score"
    assert scope["designs"] == {"scripted-mlgym": runs.Agent.model_validate(agent).design()}

    # The report says the run had egress and flags the host refused.
    document = report.build_report(report.load_run(report.LocalRunFolder(out)), with_plots=False)
    assert any("had network egress" in note for note in document.notes)
    (flagged,) = [t for t in document.tables if t.key == "integrity_flagged"]
    assert list(flagged.frame["rules"]) == ["egress-refused"]
