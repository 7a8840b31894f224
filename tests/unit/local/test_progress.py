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


def test_the_live_display_ends_on_its_last_frame() -> None:
    stream = io.StringIO()
    progress = Progress(total=3, stream=stream, live=True)
    progress.resume([results("old")])
    progress.started("new")
    progress.step("new", trajectory.Step(step=1, action="ls", observation="", cost_usd=0.5))
    progress.finished(results("new", failed=True))
    progress.close()
    # Off a real terminal rich draws only the last frame, once the display stops.
    text = stream.getvalue()
    assert "trials 2/3" in text and "done 1" in text and "failed 1" in text
    assert "queued 1" in text and "resumed 1" in text
    # resumed trials count whole; running ones step by step (3 + 1 steps, $0.25 + $0.50)
    assert "steps 4" in text and "spend $0.75" in text
    assert "recent failures" in text and "new: infra_error" in text
    assert progress.done == 1 and progress.failed == 1 and progress.pending == 1


def test_elsewhere_each_event_is_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure("info", "json")
    progress = Progress(total=1, stream=io.StringIO(), live=False)
    progress.started("t1")
    progress.finished(results("t1"))
    progress.close()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["trial_started", "trial_finished"]
    assert events[-1]["progress"] == "1/1" and events[-1]["score"] == 0.5
