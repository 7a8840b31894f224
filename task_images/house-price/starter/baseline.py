"""Baseline: ridge regression on standardised numbers and one-hot categories.

Numeric columns: missing values take the training mean, then each column is
standardised. Text columns: missing values become the category "missing",
then one-hot encoding (categories unseen in training are ignored). The model is
a ridge regression with alpha = 0.1, fitted on data/train.csv; it reports its
RMSE and R2 on data/validation.csv and writes its predictions for
data/test.csv to submission.csv (Id,SalePrice).

Training takes a second, so KUBEGYM_BUDGET does not change anything here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "SalePrice"


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The numeric and the text columns of the features."""
    numeric = frame.select_dtypes(include="number").columns.tolist()
    text = [c for c in frame.columns if c not in numeric]
    return numeric, text


def build_model(numeric: list[str], text: list[str]):
    features = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                text,
            ),
        ]
    )
    return make_pipeline(features, Ridge(alpha=0.1))


def main() -> None:
    train = pd.read_csv("data/train.csv")
    validation = pd.read_csv("data/validation.csv")
    test = pd.read_csv("data/test.csv")

    x_train = train.drop(columns=["Id", TARGET])
    numeric, text = split_columns(x_train)
    # Text columns as plain objects, so "missing" can fill their gaps.
    for frame in (train, validation, test):
        frame[text] = frame[text].astype(object)
    model = build_model(numeric, text)
    model.fit(train.drop(columns=["Id", TARGET]), train[TARGET])

    for name, frame in (("Training", train), ("Validation", validation)):
        predicted = model.predict(frame.drop(columns=["Id", TARGET]))
        rmse = float(np.sqrt(mean_squared_error(frame[TARGET], predicted)))
        print(f"{name} RMSE: {rmse:.2f}  R2: {r2_score(frame[TARGET], predicted):.4f}")

    predictions = model.predict(test.drop(columns=["Id"]))
    pd.DataFrame({"Id": test["Id"], TARGET: predictions}).to_csv("submission.csv", index=False)
    print(f"wrote {len(test)} predictions to submission.csv")


if __name__ == "__main__":
    main()
