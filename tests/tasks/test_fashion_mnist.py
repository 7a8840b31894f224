"""The fashion-mnist task: valid, prepared reproducibly from Debian's IDX files, baseline in range, bad files refused.

The data is Fashion-MNIST's original IDX files from the Debian package
`dataset-fashion-mnist`. The agent gets 54,000 labelled training images and
16,000 images to label (the 10,000 test images MLGym scores on, and 6,000
held-out training images for `validate`). The starter baseline (a NumPy MLP
with MLGym's optimiser settings) reaches 0.8368 at budget 1 (MLGym's CNN:
0.7835); at the CI budget of 0.1 (one epoch) it reaches 0.7268.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kubegym.tasks import catalog, checksums, preparation
from tests.tasks.conftest import TASK_IMAGES, baseline, bundle, score_file

TASK = "fashion-mnist"
FOLDER = TASK_IMAGES / TASK
CI_BUDGET = 0.1


def _labels(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.int64, skiprows=1)


def _prepare_and_hash(task: catalog.TaskBundle, *, force: bool = True) -> dict[str, str]:
    """Prepare ``task`` (once) and return the sha256 of every file its datasets name, by path."""
    root = preparation.prepare(task, force=force)
    spec = task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    return {d.path: checksums.sha256_of(root / d.path) for d in sets if d.path is not None}


def _pinned(task: catalog.TaskBundle) -> dict[str, str | None]:
    spec = task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    return {d.path: d.sha256 for d in sets if d.path is not None}


def test_preparation_is_reproducible_and_hides_the_test_labels() -> None:
    task = bundle(TASK)
    first, again = _prepare_and_hash(task), _prepare_and_hash(task)
    assert first == again == _pinned(task)

    root = preparation.prepared_root(task)
    train_x = np.load(root / "data" / "train_images.npy")
    train_y = np.load(root / "data" / "train_labels.npy")
    to_label = np.load(root / "data" / "test_images.npy")
    assert train_x.shape == (54_000, 28, 28) and train_x.dtype == np.uint8
    assert train_y.shape == (54_000,) and set(np.unique(train_y)) == set(range(10))
    assert to_label.shape == (16_000, 28, 28)
    test, valid = _labels(root / "hidden" / "test.csv"), _labels(root / "hidden" / "validation.csv")
    # Every image to label belongs to exactly one split: 10,000 test rows, 6,000 validation rows.
    assert ((test >= 0) != (valid >= 0)).all()
    assert ((test >= 0).sum(), (valid >= 0).sum()) == (10_000, 6_000)
    # Fashion-MNIST's test set is balanced: 1,000 images per class.
    assert np.bincount(test[test >= 0]).tolist() == [1000] * 10
    # Nothing under data/ holds the test labels.
    assert sorted(p.name for p in (root / "data").iterdir()) == [
        "full",
        "test_images.npy",
        "train_images.npy",
        "train_labels.npy",
    ]
    # The full variant (profile mlgym-bench): all 60,000 training images, which are the
    # training images and the held-out ones, never a test image.
    full_x = np.load(root / "data" / "full" / "train_images.npy")
    full_y = np.load(root / "data" / "full" / "train_labels.npy")
    assert full_x.shape == (60_000, 28, 28) and np.bincount(full_y).tolist() == [6000] * 10
    held_out = to_label[valid >= 0]
    assert sorted(map(bytes, full_x)) == sorted(map(bytes, np.concatenate([train_x, held_out])))


def test_the_baseline_scores_in_range() -> None:
    results = baseline(TASK, budget=CI_BUDGET)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    # 0.7268 here; a chance-level or misaligned submission scores about 0.1.
    assert 0.68 <= results.final["accuracy"] <= 0.77


def test_validate_scores_the_held_out_rows(tmp_path: Path) -> None:
    root = preparation.prepare(bundle(TASK))
    test, valid = _labels(root / "hidden" / "test.csv"), _labels(root / "hidden" / "validation.csv")
    # Right on every validation row, wrong on every test row.
    wrong = (np.maximum(test, 0) + 1) % 10
    submission = tmp_path / "submission.csv"
    submission.write_text("label\n" + "".join(f"{v}\n" for v in np.where(valid >= 0, valid, wrong)))
    assert score_file(TASK, submission, "validation").metrics == {"accuracy": 1.0}
    assert score_file(TASK, submission, "test").metrics == {"accuracy": 0.0}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("label\n" + "3\n" * 10, "has 10 rows; it needs one label per image"),
        ("prediction\n" + "3\n" * 16_000, "expected a CSV with a `label` column"),
        ("label\n" + "3\n" * 15_999 + "shirt\n", "`label` must be an integer class"),
        ("label\n" + "3\n" * 15_999 + "12\n", "labels must be classes 0-9"),
    ],
)
def test_a_malformed_submission_is_an_eval_error(tmp_path: Path, content: str, reason: str) -> None:
    submission = tmp_path / "submission.csv"
    submission.write_text(content)
    scoring = score_file(TASK, submission, "test")
    assert scoring.metrics is None
    assert scoring.error is not None and reason in scoring.error
