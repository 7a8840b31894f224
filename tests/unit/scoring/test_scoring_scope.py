"""A leaderboard's scope, and when two leaderboards can be compared."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.scoring import (
    FINAL_SUBMIT,
    LAST_SCORE,
    REFERENCE,
    Scope,
    comparable,
    compute_leaderboard,
    read_scope,
    tidy_trials,
)
from kubegym.scoring.leaderboard import REFERENCE_COLUMNS, TRIAL_COLUMNS

REFERENCES = pd.DataFrame([("loss", "min", 2.0), ("acc", "max", 0.5)], columns=REFERENCE_COLUMNS)
SCORES = {
    "A": {"acc": 0.8, "loss": 1.0},
    "B": {"acc": 0.7, "loss": 1.5},
    "C": {"acc": 0.6, "loss": 1.9},
}


def board_over(methods: list[str], references: pd.DataFrame = REFERENCES) -> Scope:
    """The scope of a run's leaderboard over ``methods`` (one seed each, on every task)."""
    directions = dict(zip(references["task"], references["direction"], strict=True))
    trials = pd.DataFrame(
        [
            (task, directions[task], method, 0, SCORES[method][task], SCORES[method][task], None)
            for task in references["task"]
            for method in methods
        ],
        columns=TRIAL_COLUMNS,
    )
    board = compute_leaderboard(tidy_trials(references, trials), intervals=False)
    assert board.result is not None and board.scope is not None
    return board.scope


def test_the_scope_lists_sorted_methods_and_tasks_with_the_rule_and_tau_max() -> None:
    scope = board_over(["B", "A"])
    assert scope.methods == ("A", "B", REFERENCE)
    assert scope.tasks == ("acc", "loss")
    assert (scope.reference, scope.best_submission) == (REFERENCE, FINAL_SUBMIT)
    assert scope.tau_max is not None and scope.tau_max > 0


def test_leaderboards_over_the_same_methods_and_tasks_are_comparable() -> None:
    # The same sets listed in another order, the same tau grid: nothing stands in the way.
    assert comparable(board_over(["A", "B"]), board_over(["B", "A"])) == []


def test_leaderboards_over_different_method_sets_are_not() -> None:
    reasons = comparable(board_over(["A", "B"]), board_over(["A", "C"]), names=("run1", "run2"))
    assert reasons[0] == "the methods differ (only in run1: B; only in run2: C)"


def test_leaderboards_over_different_task_sets_are_not() -> None:
    one_task = REFERENCES.iloc[:1].reset_index(drop=True)
    reasons = comparable(board_over(["A"]), board_over(["A"], one_task))
    assert "the tasks differ (only in the first: acc)" in reasons


def test_different_rules_references_or_grids_are_named() -> None:
    base = board_over(["A", "B"])
    other = Scope(
        methods=base.methods,
        tasks=base.tasks,
        reference="baseline",
        best_submission=LAST_SCORE,
        tau_max=(base.tau_max or 0) + 0.1,
    )
    reasons = comparable(base, other, names=("a", "b"))
    assert reasons[0] == f"the reference methods differ (a: {REFERENCE}, b: baseline)"
    assert reasons[1] == f"the best-submission rules differ (a: {FINAL_SUBMIT}, b: {LAST_SCORE})"
    assert reasons[2].startswith("tau_max differs (a: ")
    assert len(reasons) == 3


def test_an_unstated_rule_or_a_missing_aup_is_a_reason() -> None:
    base = board_over(["A", "B"])
    unstated = Scope(base.methods, base.tasks, base.reference, None, None)
    reasons = comparable(base, unstated)
    assert "the second does not state its best-submission rule" in reasons[0]
    assert reasons[1] == "the second has no AUP"


def test_the_scope_reads_back_from_a_leaderboard_or_a_report() -> None:
    scope = board_over(["A", "B"])
    written = json.loads(json.dumps({"run": "r", "scope": scope.to_json()}))
    assert read_scope(written, name="leaderboard.json") == scope
    assert read_scope({"leaderboard": written}, name="report.json") == scope


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"run": "r", "agents": {}}, "old.json records no scope"),
        ({"scope": {"methods": "A", "tasks": [], "reference": "x"}}, "scope.methods"),
        (
            {"scope": {"methods": [], "tasks": [], "reference": "x", "best_submission": "best"}},
            "unknown best-submission rule 'best'",
        ),
        ({"scope": {"methods": [], "tasks": [], "reference": "x", "tau_max": "1"}}, "tau_max"),
    ],
)
def test_a_missing_or_malformed_scope_is_a_config_error(
    document: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        read_scope(document, name="old.json")


def test_leaderboards_of_different_suite_profiles_are_not_comparable() -> None:
    # The same methods and tasks run under MLGym-Bench's setting (other GPUs, full training
    # sets, validate on test) and under kubegym's own: their AUPs say different things.
    base = board_over(["A", "B"])
    mlgym = Scope(
        base.methods, base.tasks, base.reference, base.best_submission, base.tau_max, "mlgym-bench"
    )
    assert comparable(mlgym, mlgym) == []
    reasons = comparable(base, mlgym, names=("ours", "theirs"))
    assert reasons == [
        "the suite profiles differ (ours: none, theirs: mlgym-bench): the tasks ran with "
        "other resources, limits or data"
    ]
    # A run that departed from the profile is labelled so, and is not the profile's peer.
    departed = Scope(
        base.methods,
        base.tasks,
        base.reference,
        base.best_submission,
        base.tau_max,
        "mlgym-bench (validation=heldout)",
    )
    assert comparable(mlgym, departed) != []


def test_the_profile_reads_back_and_an_old_leaderboard_has_none() -> None:
    scope = Scope(("A", REFERENCE), ("acc",), REFERENCE, FINAL_SUBMIT, 1.0, "mlgym-bench")
    written = json.loads(json.dumps({"scope": scope.to_json()}))
    assert read_scope(written, name="leaderboard.json") == scope
    del written["scope"]["profile"]  # written before profiles existed: kubegym's setting
    assert read_scope(written, name="leaderboard.json").profile is None
    written["scope"]["profile"] = ["mlgym-bench"]
    with pytest.raises(ConfigError, match=r"scope\.profile"):
        read_scope(written, name="leaderboard.json")


def test_a_method_name_that_means_another_agent_is_not_comparable() -> None:
    # The attack: score gpt-4o under kubegym's own agent, name it "gpt-4o", and set it
    # beside MLGym's published gpt-4o (MLGym's agent) as if the same method. The designs
    # the runs recorded tell the two apart.
    ours = runs.Agent(name="gpt-4o", model="openai/gpt-4o")
    theirs = runs.Agent(name="gpt-4o", model="openai/gpt-4o", preset="mlgym")
    hotter = runs.Agent(name="gpt-4o", model="openai/gpt-4o", sampling={"temperature": 0.7})
    base = board_over(["A", "B"])

    def scoped(agent: runs.Agent) -> Scope:
        return dataclasses.replace(base, designs={"A": agent.design(), "B": "builtin baseline"})

    assert comparable(scoped(ours), scoped(ours)) == []
    reasons = comparable(scoped(ours), scoped(theirs), names=("ours", "theirs"))
    assert len(reasons) == 1 and reasons[0].startswith("method A is another agent (ours: ")
    assert "preset kubegym" in reasons[0] and "preset mlgym" in reasons[0]
    assert comparable(scoped(ours), scoped(hotter)) != []  # same preset, other sampling
    # A score table from elsewhere states no designs: nothing to compare them by.
    assert comparable(base, scoped(theirs)) == []


def test_an_agents_design_leaves_out_where_it_is_served_and_what_it_costs() -> None:
    plain = runs.Agent(name="m", model="openai/gpt-4o")
    served = runs.Agent(
        name="m",
        model="openai/gpt-4o",
        api_base="http://gateway:8000",
        api_key_env="KEY",
        pricing={"input_usd_per_million_tokens": 1, "output_usd_per_million_tokens": 2},
    )
    assert plain.design() == served.design()
    limited = runs.Agent(name="m", model="openai/gpt-4o", cost_limit_usd=1.0)
    assert plain.design() != limited.design()
    assert runs.Agent(name="b", builtin="baseline").design() == "builtin baseline"


def test_designs_read_back_and_a_malformed_map_is_a_config_error() -> None:
    scope = dataclasses.replace(
        board_over(["A"]), designs={"A": runs.Agent(name="a", model="x/y").design()}
    )
    written = json.loads(json.dumps({"scope": scope.to_json()}))
    assert read_scope(written, name="leaderboard.json") == scope
    written["scope"]["designs"] = {"A": 3}
    with pytest.raises(ConfigError, match=r"scope\.designs"):
        read_scope(written, name="leaderboard.json")
