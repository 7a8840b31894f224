"""Per-task ranks and mean ranks on the hand-worked case."""

from __future__ import annotations

from kubegym.scoring import mean_rank, rank_methods
from tests.unit.scoring.hand_case import table


def test_ranks_follow_mlgym_raw_score_order_missing_last() -> None:
    # acc (max, best attempt): A 0.8 = D 0.8 → 1.5 each; baseline 0.5 → 3; B 0.4 → 4; C missing → 5
    # loss (min): C −1.0 → 1 (MLGym ranks the raw score, infeasible or not); A 1.0 → 2;
    #             baseline 2.0 = D 2.0 → 3.5 each; B 4.0 → 5
    ranks = rank_methods(table()).set_index(["task", "method"])["rank"]
    assert ranks.loc["acc"].to_dict() == {"baseline": 3.0, "A": 1.5, "B": 4.0, "C": 5.0, "D": 1.5}
    assert ranks.loc["loss"].to_dict() == {"baseline": 3.5, "A": 2.0, "B": 5.0, "C": 1.0, "D": 3.5}


def test_mean_rank() -> None:
    # A (1.5 + 2) / 2 = 1.75; D (1.5 + 3.5) / 2 = 2.5; C (5 + 1) / 2 = 3;
    # baseline (3 + 3.5) / 2 = 3.25; B (4 + 5) / 2 = 4.5
    result = mean_rank(table())
    assert list(result.index) == ["A", "D", "C", "baseline", "B"]
    assert result["mean_rank"].tolist() == [1.75, 2.5, 3.0, 3.25, 4.5]
    assert result["tasks"].tolist() == [2, 2, 2, 2, 2]


def test_mean_rank_with_infeasible_last() -> None:
    # acc: A, D 1.5; baseline 3; B (infeasible) 4; C (missing) 5
    # loss: A 1; baseline, D 2.5; then the infeasible by value: C −1.0 → 4, B 4.0 → 5
    # A 1.25; D 2.0; baseline 2.75; B 4.5; C 4.5
    result = mean_rank(table(), infeasible_last=True)
    assert result["mean_rank"].to_dict() == {
        "A": 1.25,
        "D": 2.0,
        "baseline": 2.75,
        "B": 4.5,
        "C": 4.5,
    }


def test_mean_rank_of_best_submission() -> None:
    # acc: A 0.6 → 1, baseline 0.5 → 2, B 0.45 → 3, D 0.2 → 4, C missing → 5
    # loss: A 0.5 → 1, baseline = D = 2.0 → 2.5, C 3.0 → 4, B missing → 5
    result = mean_rank(table(), "best_submission")
    assert result["mean_rank"].to_dict() == {
        "A": 1.0,
        "baseline": 2.25,
        "D": 3.25,
        "B": 4.0,
        "C": 4.5,
    }
