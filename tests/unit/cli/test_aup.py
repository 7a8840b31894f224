"""`kubegym aup`, run in-process through the real command group."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubegym.cli import main
from tests.unit.scoring.hand_case import CSV

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scoring"


def write(tmp_path: Path, text: str, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_output_of_the_hand_case(tmp_path: Path) -> None:
    # The AUP values are worked out by hand in tests/unit/scoring/test_scoring_profiles.py.
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, CSV)), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "tau_max": 0.7,
        "methods": {
            "baseline": {"best_attempt": 0.447, "best_submission": 0.358},
            "A": {"best_attempt": 0.7, "best_submission": 0.7},
            "B": {"best_attempt": 0.426, "best_submission": 0.337},
            "C": {"best_attempt": 0.426, "best_submission": 0.337},
            "D": {"best_attempt": 0.549, "best_submission": 0.348},
        },
        "scope": {
            "methods": ["A", "B", "C", "D", "baseline"],
            "tasks": ["acc", "loss"],
            "reference": "baseline",
            "best_submission": None,
            "tau_max": 0.7,
            "profile": None,
            "designs": None,
        },
    }


def test_table_output_is_sorted_by_best_attempt(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, CSV))])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["method", "AUP", "best", "attempt", "AUP", "best", "submission"]
    assert [line.split()[0] for line in lines[1:6]] == ["A", "D", "baseline", "B", "C"]
    assert lines[1].split() == ["A", "0.700", "0.700"]
    assert lines[3].split() == ["baseline", "0.447", "0.358", "(baseline)"]
    assert "tau_max = 0.7  (2 tasks)" in result.stdout


def test_several_rows_per_task_and_method_are_seeds(tmp_path: Path) -> None:
    # An extra, weaker seed for A changes nothing (best over seeds); a better one for B on
    # acc (0.9 > 0.8) makes B the best there: acc ratios become baseline 0.9/0.5 = 1.8, A and
    # D 0.9/0.8 = 1.125, B 1, C 1.05 × 1.8 = 1.89 — so B's best-attempt AUP changes.
    weaker = CSV + "\nacc,max,A,0.1,0.1"
    base = CliRunner().invoke(main, ["aup", str(write(tmp_path, CSV)), "--json"])
    same = CliRunner().invoke(main, ["aup", str(write(tmp_path, weaker, "w.csv")), "--json"])
    assert json.loads(same.stdout) == json.loads(base.stdout)
    better = CSV + "\nacc,max,B,0.9,"
    changed = CliRunner().invoke(main, ["aup", str(write(tmp_path, better, "b.csv")), "--json"])
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["methods"]["B"]["best_attempt"] != 0.426


def test_baseline_option(tmp_path: Path) -> None:
    renamed = CSV.replace(",baseline,", ",ref,")
    path = write(tmp_path, renamed)
    result = CliRunner().invoke(main, ["aup", str(path), "--json", "--baseline", "ref"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["methods"]["ref"] == {
        "best_attempt": 0.447,
        "best_submission": 0.358,
    }
    missing = CliRunner().invoke(main, ["aup", str(path)])
    assert missing.exit_code == 1
    assert "no row for the baseline method 'baseline'" in missing.stderr


def test_plot_writes_a_png(tmp_path: Path) -> None:
    png = tmp_path / "profiles.png"
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, CSV)), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_malformed_csv_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = CSV.replace("loss,min,A,1.0", "loss,min,A,fast")
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, bad))])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: best_attempt: row 8: 'fast' is not a number "
        "(leave the cell empty when there is no valid score)"
    )


def test_missing_column_and_bad_direction(tmp_path: Path) -> None:
    no_column = "task,direction,method,best_attempt\nacc,max,baseline,1\n"
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, no_column))])
    assert result.exit_code == 1
    assert "best_submission: missing column(s) best_submission" in result.stderr
    bad_direction = CSV.replace("acc,max,B", "acc,up,B")
    result = CliRunner().invoke(main, ["aup", str(write(tmp_path, bad_direction, "d.csv"))])
    assert result.exit_code == 1
    assert "direction: row 4: unknown direction 'up'" in result.stderr


def test_reproduces_mlgym_published_aup() -> None:
    result = CliRunner().invoke(main, ["aup", str(FIXTURES / "mlgym_unrounded.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tau_max"] == 1.5
    # results/tables/aup_scores_aggregate_results.csv in facebookresearch/MLGym
    assert data["methods"]["gpt-o1"] == {"best_attempt": 1.423, "best_submission": 1.444}
    assert data["methods"]["claude-35-sonnet-new"] == {
        "best_attempt": 1.426,
        "best_submission": 1.419,
    }
    assert data["methods"]["baseline"] == {"best_attempt": 1.22, "best_submission": 1.243}


def test_rows_per_seed_give_the_same_result_as_the_folded_table() -> None:
    runner = CliRunner()
    seeds = runner.invoke(main, ["aup", str(FIXTURES / "mlgym_seeds.csv"), "--json"])
    folded = runner.invoke(main, ["aup", str(FIXTURES / "mlgym_unrounded.csv"), "--json"])
    assert seeds.exit_code == 0, seeds.output
    assert json.loads(seeds.stdout) == json.loads(folded.stdout)
