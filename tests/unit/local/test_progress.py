"""The live progress view: one redrawn line on a terminal, log lines elsewhere."""

from __future__ import annotations

import io
import json

import pytest

from kubegym import log
from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.local.progress import Progress


def results(trial: str, failed: bool = False) -> results_api.TrialResult:
    return results_api.TrialResult(
        trial=trial,
        task="t",
        agent="a",
        seed=0,
        primary_metric="r2",
        direction="max",
        exit_reason="infra_error" if failed else "submitted",
        scores=[],
        final=None,
        score=None if failed else 0.5,
        best_attempt=None,
        steps=3,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.25,
        seconds=1.0,
        failure_class="infra" if failed else None,
    )


def test_a_terminal_gets_one_status_line_and_a_line_per_finished_trial() -> None:
    stream = io.StringIO()
    progress = Progress(total=3, stream=stream, live=True)
    progress.resume([results("old")])
    progress.started("new")
    progress.step("new", trajectory.Step(step=1, action="ls", observation="", cost_usd=0.5))
    progress.finished(results("new", failed=True))
    progress.close()
    text = stream.getvalue()
    assert "resuming: 1 of 3 trials already finished" in text
    assert "FAILED new: infra_error" in text
    final = text.split("\r\033[K")[-1]
    assert final.startswith("trials 2/3 · pending 1 · running 0 · done 1 · failed 1")
    # resumed trials count whole; running ones step by step (3 + 1 steps, $0.25 + $0.50)
    assert "steps 4" in final and "spent $0.75" in final


def test_elsewhere_each_event_is_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure("info", "json")
    progress = Progress(total=1, stream=io.StringIO(), live=False)
    progress.started("t1")
    progress.finished(results("t1"))
    progress.close()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["trial_started", "trial_finished"]
    assert events[-1]["progress"] == "1/1" and events[-1]["score"] == 0.5
