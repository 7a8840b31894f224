"""The house-price task: valid, MLGym's split reproduced, MLGym's baseline reproduced, bad files refused.

The data is Kaggle's train.csv read from a PyPI wheel; the split is MLGym's
(1022 / 146 / 292 rows) and the starter baseline reproduces MLGym's baseline
scores (r2 0.8799891, rmse 30340.11) to floating-point noise. Training takes a
second, so the CI budget changes nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kubegym.tasks import checksums, preparation
from tests.tasks.conftest import TASK_IMAGES, baseline, bundle, prepared, score_file

TASK = "house-price"
FOLDER = TASK_IMAGES / TASK
MLGYM_R2 = 0.8799891474739243
MLGYM_RMSE = 30340.111853413255


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_preparation_is_reproducible_and_splits_as_mlgym() -> None:
    task = bundle(TASK)
    spec = task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    hashes = []
    for _ in range(2):  # prepare from scratch twice: the same bytes both times
        root = preparation.prepare(task, force=True)
        hashes.append({d.path: checksums.sha256_of(root / d.path) for d in sets})
    first, again = hashes
    assert first == again == {d.path: d.sha256 for d in sets}
    root = preparation.prepared_root(task)
    train, valid, test = (
        _rows(root / "data" / f"{n}.csv") for n in ("train", "validation", "test")
    )
    answer = _rows(root / "hidden" / "answer.csv")
    held = _rows(root / "hidden" / "validate_answer.csv")
    assert (len(train), len(valid), len(test), len(answer), len(held)) == (1022, 146, 292, 292, 146)
    assert "SalePrice" in train[0] and "SalePrice" in valid[0] and "SalePrice" not in test[0]
    ids = [{r["Id"] for r in rows} for rows in (train, valid, test)]
    assert len(ids[0] | ids[1] | ids[2]) == 1460
    assert [r["Id"] for r in answer] == [r["Id"] for r in test]
    assert {r["Id"] for r in held} < {r["Id"] for r in answer}


def test_the_baseline_reproduces_mlgyms_numbers() -> None:
    results = baseline(TASK, budget=0.05)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    assert results.final["r2"] == pytest.approx(MLGYM_R2, abs=1e-9)
    assert results.final["rmse"] == pytest.approx(MLGYM_RMSE, rel=1e-9)


def test_validate_scores_the_held_out_half(tmp_path: Path) -> None:
    root = preparation.prepare(bundle(TASK))
    answer = _rows(root / "hidden" / "answer.csv")
    submission = tmp_path / "submission.csv"
    # A perfect prediction plus a fixed error of 1000 dollars everywhere: rmse is 1000 on any rows.
    submission.write_text(
        "Id,SalePrice\n" + "".join(f"{r['Id']},{float(r['SalePrice']) + 1000}\n" for r in answer)
    )
    scoring = score_file(TASK, submission, "validation")
    assert scoring.metrics is not None, scoring.error
    assert scoring.metrics["rmse"] == pytest.approx(1000.0)
    assert 0.99 < scoring.metrics["r2"] < 1.0


BROKEN = {
    "wrong-columns": ("Id,Price\n1,2\n", "must have the columns Id,SalePrice"),
    "missing-houses": ("Id,SalePrice\n1,200000\n", "no SalePrice for"),
    "not-a-number": ("Id,SalePrice\n1,expensive\n", "must be numbers"),
    "not-finite": ("Id,SalePrice\n1,nan\n", "is nan"),
    "duplicate": ("Id,SalePrice\n1,1\n1,2\n", "more than once"),
    "empty": ("", "must have the columns Id,SalePrice"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_submission_is_an_eval_error_with_the_reason(kind: str, tmp_path: Path) -> None:
    source, reason = BROKEN[kind]
    submission = tmp_path / "submission.csv"
    submission.write_text(source)
    prepared(TASK)
    scoring = score_file(TASK, submission, "test")
    assert scoring.metrics is None
    assert scoring.error is not None and reason in scoring.error, scoring.error
