"""The agent's summary in its termination message: it round-trips, fits in 4 KiB, and says
plainly when a message is not a summary."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kubegym.api import summary as summary_mod
from kubegym.api.summary import TrialSummary
from kubegym.api.trials import Score
from tests.unit.operator.builders import summary

MANY_METRICS = {f"metric_{i:02d}": 0.123456789 * i for i in range(12)}


def long_trial() -> TrialSummary:
    """300 scores with a dozen metrics each: validates, three submits, a best at step 137."""
    scores = []
    for step in range(300):
        action = "submit" if step in (50, 150, 250) else "validate"
        value = 0.5 + step / 1000 + (0.4 if step == 137 else 0.0)
        scores.append(
            Score(
                step=step,
                action=action,
                metrics={**MANY_METRICS, "r2": value},
                test_metrics={**MANY_METRICS, "r2": value - 0.01},
                time=dt.datetime(2025, 3, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=step),
            )
        )
    return TrialSummary(
        exit="max_steps",
        scores=scores,
        final={"r2": 0.74},
        steps=300,
        tokens=2_000_000,
        cost_usd=3.9,
        message="reached the step limit",
    )


def test_a_summary_round_trips() -> None:
    original = summary(message="submitted the model", omitted=0)
    text = original.to_message("r2")
    assert TrialSummary.from_message(text) == original
    # the documented wire shape: snake_case cost, compact JSON
    data = json.loads(text)
    assert data["cost_usd"] == 0.31 and data["exit"] == "submitted"
    assert " " not in text.replace("submitted the model", "")


def test_a_summary_without_a_submission_keeps_final_null() -> None:
    text = summary(exit="agent_error", scores=[], final=None).to_message("r2")
    assert json.loads(text)["final"] is None
    assert TrialSummary.from_message(text).final is None


def test_a_long_trial_fits_and_keeps_what_matters() -> None:
    original = long_trial()
    assert len(original.model_dump_json().encode()) > summary_mod.MAX_BYTES  # it must be thinned
    text = original.to_message("r2")
    assert len(text.encode()) <= summary_mod.MAX_BYTES
    kept = TrialSummary.from_message(text)
    steps = [s.step for s in kept.scores]
    assert {50, 150, 250} <= set(steps), "every submit"
    assert 137 in steps, "the best attempt"
    assert steps[-1] == 299, "the last score"
    assert steps == sorted(steps), "still in order"
    assert kept.omitted == 300 - len(kept.scores) > 0
    assert kept.final == original.final and kept.exit == original.exit
    assert kept.steps == 300 and kept.tokens == 2_000_000 and kept.cost_usd == 3.9
    best = next(s for s in kept.scores if s.step == 137)
    assert best.test_metrics is not None and set(best.test_metrics) == {"r2"}, "only the primary"
    assert best.test_metrics["r2"] == pytest.approx(0.5 + 0.137 + 0.4 - 0.01)


def test_the_best_of_a_lower_is_better_metric_is_kept_too() -> None:
    scores = [
        Score(step=i, action="validate", test_metrics={**MANY_METRICS, "rmse": 5.0 - (i == 42)})
        for i in range(300)
    ]
    text = TrialSummary(exit="submitted", scores=scores, final={"rmse": 4.2}).to_message("rmse")
    steps = [s.step for s in TrialSummary.from_message(text).scores]
    assert 42 in steps and steps[-1] == 299


def test_a_thinned_summary_counts_what_was_already_omitted() -> None:
    original = long_trial().model_copy(update={"omitted": 10})
    kept = TrialSummary.from_message(original.to_message("r2"))
    assert kept.omitted == 10 + 300 - len(kept.scores)


def test_a_long_message_is_cut_to_fit() -> None:
    original = summary(message="x" * 10_000)
    text = original.to_message("r2")
    assert len(text.encode()) <= summary_mod.MAX_BYTES
    assert TrialSummary.from_message(text).message == "x" * 512


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "not JSON"),
        ("Traceback (most recent call last):\n  ...\nKeyError: 'x'", "not JSON"),
        ("[1, 2]", "not a trial summary: (root)"),
        ('"submitted"', "not a trial summary: (root)"),
        ("{}", "not a trial summary: exit"),
        ('{"exit": "won"}', "not a trial summary: exit"),
        ('{"exit": "submitted", "steps": -1}', "not a trial summary: steps"),
        ('{"exit": "submitted", "scores": [{"step": 1}]}', "not a trial summary: scores.0.action"),
        ('{"exit": "submitted", "final": {"r2": "high"}}', "not a trial summary: final.r2"),
    ],
)
def test_what_is_not_a_summary_is_refused_with_a_readable_message(text: str, expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        TrialSummary.from_message(text)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message.split(":", 1)[0]
    assert "pydantic" not in message and "errors.pydantic.dev" not in message


def test_a_crash_log_is_quoted_by_its_tail_only() -> None:
    log = "start\n" + "noise " * 2000 + "\nRuntimeError: CUDA out of memory"
    with pytest.raises(ValueError) as caught:
        TrialSummary.from_message(log)
    message = str(caught.value)
    assert message.endswith("RuntimeError: CUDA out of memory")
    assert len(message) < 400
