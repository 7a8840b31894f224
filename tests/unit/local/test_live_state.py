"""The live display's model (`kubegym.local.live`) and its rendering, fed events by hand."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.console import Console

from kubegym.api import results as results_api
from kubegym.api import runs, trials
from kubegym.local import display, live


def result(
    trial: str,
    task: str = "polyfit",
    agent: str = "a",
    *,
    score: float | None = 0.5,
    best: float | None = None,
    direction: str = "max",
    failed: bool = False,
    seconds: float = 10.0,
    message: str = "",
) -> results_api.TrialResult:
    return results_api.TrialResult(
        trial=trial,
        task=task,
        agent=agent,
        seed=0,
        primary_metric="m",
        direction=direction,
        exit_reason="agent_error" if failed else "submitted",
        score=None if failed else score,
        best_attempt=best,
        steps=2,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.1,
        seconds=seconds,
        failure_class="agent" if failed else None,
        message=message,
    )


def grid(n: int, agents: tuple[str, ...] = ("a", "b")) -> dict[str, tuple[str, str]]:
    return {f"t{i}": ("polyfit", agents[i % len(agents)]) for i in range(n)}


def test_counts_move_with_the_events() -> None:
    state = live.RunState(run="r", trials=grid(6), parallelism=2, budget_usd=2.0)
    state.resume([result("t0")])
    state.start("t1", at=0.0)
    state.start("t2", at=0.0)
    state.step("t1", tokens=30, cost_usd=0.25)
    assert (state.finished, len(state.running), state.queued) == (1, 2, 3)
    state.finish(result("t1", failed=True, message="boom"), at=4.0)
    state.attempt_failed("t2", "NodeLost", retrying=True)
    state.skip("t5", "budget")
    assert (state.succeeded, state.failed, state.skipped, state.queued) == (1, 1, 1, 2)
    assert state.steps == 3 and state.tokens == 45 and state.spent_usd == pytest.approx(0.35)
    assert state.budget_share() == pytest.approx(0.175)
    assert state.infra_retried == 1
    assert [f.reason for f in state.recent_failures] == [
        "agent_error",
        "NodeLost",
        "skipped: budget",
    ]
    # Only the trial timed in this run counts for the ETA, not the resumed one.
    assert state.durations == [4.0]


def test_best_so_far_follows_each_tasks_direction() -> None:
    state = live.RunState(run="r", trials=grid(4))
    state.finish(result("t0", task="loss", score=0.3, direction="min"), at=1)
    state.finish(result("t1", task="loss", score=0.1, direction="min"), at=1)
    state.finish(result("t2", task="acc", score=0.7, best=0.9), at=1)
    state.finish(result("t3", task="acc", score=0.8), at=1)
    bests = dict(state.standings())
    assert bests["a"].best == {"loss": 0.1, "acc": 0.9}  # best attempt over the final score
    assert bests["b"].finished == 0 and bests["b"].best == {}
    state.finish(result("t4", task="acc", failed=True), at=1)
    assert dict(state.standings())["a"].failed == 1
    assert dict(state.standings())["a"].best["acc"] == 0.9  # a failure scores nothing


def test_the_eta_runs_the_queue_in_waves_of_parallelism() -> None:
    state = live.RunState(run="r", trials=grid(7), parallelism=2, started_at=0.0)
    assert state.eta_seconds(now=0.0) is None  # nothing finished: no estimate
    for trial in ("t0", "t1"):
        state.start(trial, at=0.0)
        state.finish(result(trial), at=10.0)
    state.start("t2", at=10.0)
    state.start("t3", at=14.0)
    # now=16: the slots free in 4 s and 8 s; the 3 queued take them at 4, 8 and 14 s.
    assert state.eta_seconds(now=16.0) == pytest.approx(4.0 + 20.0)
    assert state.elapsed(now=16.0) == 16.0
    state.end(at=20.0)
    assert state.elapsed(now=99.0) == 20.0


def test_recent_failures_are_bounded() -> None:
    state = live.RunState(run="r", trials=grid(50))
    for i in range(50):
        state.finish(result(f"t{i}", failed=True), at=1)
    assert len(state.recent_failures) == live.RECENT_FAILURES
    assert state.recent_failures[-1].trial == "t49"


HOSTILE = [
    "\x1b]0;pwned\x07",  # retitles the window
    "\x1b[2J\x1b[H",  # clears the screen
    "\x1b[8m",  # hides what follows
    "\r\x08\x08done",  # overwrites the line
    "\x9b31m",  # a C1 CSI
    "[bold red]markup[/]",  # rich markup
    "gpt\u202eevil",  # a right-to-left override
]


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_text_leaves_no_control_character(text: str) -> None:
    shown = live.safe_text(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u202e" not in shown


def test_safe_text_cuts_long_names() -> None:
    assert live.safe_text("x" * 5000, limit=20) == "x" * 19 + "…"
    assert live.safe_text("\x1b" * 100, limit=10).endswith("…")


def test_hostile_names_reach_the_terminal_written_out() -> None:
    """Names and messages from a run render as text: no sequence of theirs reaches the terminal."""
    bad = "".join(HOSTILE)
    state = live.RunState(
        run=bad, trials={"t0": (bad, bad), "t1": ("x" * 500, "y" * 500)}, started_at=0.0
    )
    state.finish(result("t0", task=bad, agent=bad, failed=True, message=bad * 3), at=1)
    state.attempt_failed(bad, bad, retrying=False)
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, width=100, color_system="truecolor", record=True
    )
    console.print(display.render(state, now=2.0, log_file=bad))
    text = out.getvalue()
    for sequence in ("\x1b]", "\x1b[2J", "\x1b[H", "\x1b[8m", "\x07", "\r", "\x08", "\x9b"):
        assert sequence not in text
    assert "\\x1b]0;pwned\\x07" in text  # written out for the reader
    assert "[bold red]markup[/]" in text  # markup shown, not obeyed
    assert "x" * 100 not in text  # long names are cut
    assert all(len(line) <= 100 for line in console.export_text().splitlines())


def test_a_cluster_run_is_read_from_its_status_and_trials() -> None:
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    run = runs.BenchmarkRun.model_validate(
        {
            "metadata": {"name": "demo"},
            "spec": {
                "tasks": {"names": ["polyfit"]},
                "agents": [
                    {"name": "a", "builtin": "baseline"},
                    {"name": "b", "builtin": "baseline"},
                ],
                "seeds": 2,
                "parallelism": 2,
                "budgetUsd": 10,
            },
            "status": {
                "phase": "Running",
                "counters": {"total": 4, "running": 1, "succeeded": 1, "failed": 1, "pending": 1},
                "spentUsd": 1.5,
                "startTime": (now - dt.timedelta(seconds=100)).isoformat(),
                "leaderboard": [{"agent": "a", "bestAttemptAup": 1.2}],
            },
        }
    )

    def trial(name: str, agent: str, phase: str, **status: object) -> trials.Trial:
        return trials.Trial.model_validate(
            {
                "metadata": {"name": name},
                "spec": {"run": "demo", "task": "polyfit", "agent": agent, "seed": 0},
                "status": {"phase": phase, **status},
            }
        )

    objects = [
        trial(
            "ok",
            "a",
            "Succeeded",
            startTime=(now - dt.timedelta(seconds=90)).isoformat(),
            finishTime=(now - dt.timedelta(seconds=60)).isoformat(),
            exitReason="submitted",
            score=0.5,
            costUsd=1.0,
            tokens=100,
        ),
        trial(
            "bad",
            "b",
            "Failed",
            exitReason="agent_error",
            failureClass="agent",
            message="\x1b[2Jcrashed",
            infraFailures=[{"attempt": 0, "reason": "NodeLost", "message": "node went away"}],
        ),
        trial("busy", "b", "Running", startTime=(now - dt.timedelta(seconds=10)).isoformat()),
    ]
    state = live.RunState.from_cluster(run, objects, now=1000.0, wall_now=now.timestamp())
    assert (state.total, state.succeeded, state.failed, len(state.running), state.queued) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert state.spent_usd == 1.5 and state.tokens == 100 and state.budget_usd == 10
    assert state.elapsed(now=1000.0) == pytest.approx(100.0)
    assert state.durations == [30.0]
    assert state.aup == {"a": 1.2}
    assert [f.reason for f in state.recent_failures] == ["NodeLost", "agent_error"]
    assert state.running["busy"] == pytest.approx(990.0)
    # 20 s left for the running trial (median 30 s), 1 queued in 2 slots: one wave.
    assert state.eta_seconds(now=1000.0) == pytest.approx(30.0)


def _header(state: live.RunState) -> str:
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(display.render(state, now=5.0))
    return console.export_text().splitlines()[0]


def test_the_header_says_how_the_run_ended() -> None:
    state = live.RunState(run="r", trials=grid(2), started_at=0.0)
    assert "time left ~—" in _header(state)  # nothing finished yet: no estimate
    state.finish(result("t0"), at=1.0)
    state.end(at=2.0)
    assert _header(state).endswith("stopped")  # an error ended it early
    state.end(at=2.0, interrupted=True)
    assert _header(state).endswith("INTERRUPTED")
    state.finish(result("t1"), at=1.0)
    state.end(at=2.0)
    assert _header(state).endswith("finished")
