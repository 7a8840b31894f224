"""`kubegym aup` states what its AUPs were computed over, and `--compare` says whether another
leaderboard's can be set beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from click.testing import CliRunner

from kubegym.cli import main
from kubegym.scoring import compute_leaderboard, tidy_trials
from kubegym.scoring.leaderboard import REFERENCE_COLUMNS, TRIAL_COLUMNS
from tests.unit.scoring.hand_case import CSV


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def aup(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["aup", *args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_rule_given_is_recorded_and_none_is_unstated(tmp_path: Path) -> None:
    scores = str(write(tmp_path, CSV, "scores.csv"))
    assert aup(scores)["scope"]["best_submission"] is None
    stated = aup(scores, "--best-submission", "last-score")
    assert stated["scope"]["best_submission"] == "last-score"
    refused = CliRunner().invoke(main, ["aup", scores, "--best-submission", "best-ever"])
    assert refused.exit_code == 2 and "'best-ever' is not one of" in refused.stderr


def test_the_same_scores_under_the_same_rule_are_comparable(tmp_path: Path) -> None:
    scores = str(write(tmp_path, CSV, "scores.csv"))
    first = aup(scores, "--best-submission", "final-submit")
    other = write(tmp_path, json.dumps(first), "other.json")
    compared = aup(scores, "--best-submission", "final-submit", "--compare", str(other))
    assert compared["comparison"] == {"with": str(other), "comparable": True, "reasons": []}
    text = CliRunner().invoke(
        main, ["aup", scores, "--best-submission", "final-submit", "--compare", str(other)]
    )
    assert text.exit_code == 0, text.output
    assert f"comparable with {other}: the same scope" in text.stdout
    assert "scope: 5 methods (A, B, C, D, baseline) over 2 tasks (acc, loss)" in text.stdout


def test_scores_over_another_method_set_are_not_comparable(tmp_path: Path) -> None:
    scores = str(write(tmp_path, CSV, "scores.csv"))
    without_d = "\n".join(line for line in CSV.splitlines() if ",D," not in line)
    fewer = str(write(tmp_path, without_d, "fewer.csv"))
    other = write(tmp_path, json.dumps(aup(fewer, "--best-submission", "last-score")), "o.json")
    compared = aup(scores, "--best-submission", "last-score", "--compare", str(other))
    comparison = compared["comparison"]
    assert comparison["comparable"] is False
    assert comparison["reasons"][0] == "the methods differ (only in scores.csv: D)"
    text = CliRunner().invoke(
        main, ["aup", scores, "--best-submission", "last-score", "--compare", str(other)]
    )
    assert text.exit_code == 0, text.output
    assert f"not comparable with {other}:\n  - the methods differ" in text.stdout


def test_a_csv_against_a_runs_leaderboard_names_every_difference(tmp_path: Path) -> None:
    # A run's leaderboard.json over the same tasks, with its own reference method and rule.
    references = pd.DataFrame(
        [("acc", "max", 0.5), ("loss", "min", 2.0)], columns=REFERENCE_COLUMNS
    )
    trials = pd.DataFrame(
        [("acc", "max", "A", 0, 0.8, 0.6, None), ("loss", "min", "A", 0, 1.0, 0.5, None)],
        columns=TRIAL_COLUMNS,
    )
    board = compute_leaderboard(tidy_trials(references, trials), intervals=False)
    leaderboard = write(tmp_path, json.dumps(board.to_json("run")), "leaderboard.json")
    scores = str(write(tmp_path, CSV, "scores.csv"))
    reasons = aup(scores, "--compare", str(leaderboard))["comparison"]["reasons"]
    assert reasons[0] == (
        "the methods differ (only in scores.csv: B, C, D, baseline; "
        "only in leaderboard.json: task-baseline)"
    )
    assert reasons[1] == (
        "the reference methods differ (scores.csv: baseline, leaderboard.json: task-baseline)"
    )
    assert reasons[2].startswith("scores.csv does not state its best-submission rule")


def test_a_file_without_a_scope_is_a_one_line_error(tmp_path: Path) -> None:
    scores = str(write(tmp_path, CSV, "scores.csv"))
    old = write(tmp_path, json.dumps({"run": "r", "agents": {}}), "old.json")
    result = CliRunner().invoke(main, ["aup", scores, "--compare", str(old)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {old} records no scope")
    not_json = write(tmp_path, "task,method\n", "table.csv")
    result = CliRunner().invoke(main, ["aup", scores, "--compare", str(not_json)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: --compare: cannot read {not_json} as JSON")


def test_the_profile_given_is_recorded_and_a_different_one_is_not_comparable(
    tmp_path: Path,
) -> None:
    scores = str(write(tmp_path, CSV, "scores.csv"))
    assert aup(scores)["scope"]["profile"] is None
    mlgym = aup(scores, "--best-submission", "last-score", "--profile", "mlgym-bench")
    assert mlgym["scope"]["profile"] == "mlgym-bench"
    other = write(tmp_path, json.dumps(mlgym), "mlgym.json")
    same = aup(
        scores,
        "--best-submission",
        "last-score",
        "--profile",
        "mlgym-bench",
        "--compare",
        str(other),
    )
    assert same["comparison"]["comparable"] is True
    ours = aup(scores, "--best-submission", "last-score", "--compare", str(other))
    assert ours["comparison"]["reasons"] == [
        "the suite profiles differ (scores.csv: none, mlgym.json: mlgym-bench): the tasks ran "
        "with other resources, limits or data"
    ]
