"""The key layout: stable, idempotent, and readable back."""

from __future__ import annotations

import pytest

from kubegym.store import keys


def test_an_attempts_files_and_the_runs_rollups_have_fixed_keys() -> None:
    assert keys.attempt_key("toy", "toy-t-a-s0-1234abcd", 2, keys.TRAJECTORY) == (
        "toy/toy-t-a-s0-1234abcd/attempt-2/trajectory.jsonl"
    )
    assert keys.attempt_key("toy", "trial", 0, "agent.log") == "toy/trial/attempt-0/logs/agent.log"
    assert (
        keys.attempt_key("toy", "trial", 0, "logs/eval.log") == "toy/trial/attempt-0/logs/eval.log"
    )
    assert keys.run_key("toy", keys.LEADERBOARD) == "toy/leaderboard.json"
    assert keys.trial_prefix("toy", "trial") == "toy/trial"


def test_keys_take_apart_again() -> None:
    parsed = keys.parse(keys.attempt_key("toy", "trial", 3, "agent.log"))
    assert parsed == keys.ArtifactKey("toy", "logs/agent.log", trial="trial", attempt=3)
    assert keys.parse("toy/results.csv") == keys.ArtifactKey("toy", "results.csv")
    assert keys.parse("toy/trial/not-an-attempt/x") is None


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "with space"])
def test_names_that_would_break_the_layout_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.trial_prefix("toy", bad)


def test_an_empty_prefix_adds_nothing() -> None:
    assert keys.join("", "toy", "results.csv") == "toy/results.csv"
    assert keys.join("kubegym/", "toy") == "kubegym/toy"
