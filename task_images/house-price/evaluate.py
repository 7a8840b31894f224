"""Scores house-price predictions: r2 (higher is better) and rmse (lower is better), as MLGym does.

Usage: evaluate.py --submission submission.csv --split validation|test --data answer=PATH

The submission has the columns Id,SalePrice with one row per house of
data/test.csv. Predictions are matched to the true prices by Id (MLGym matched
by row order; the baseline writes the rows in test.csv's order, so both give
the same numbers). The test split scores all 292 test houses; the validation
split scores a fixed half of them. Exits non-zero with a reason when the
submission is malformed.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: it ships in the kubegym package (and this repository)
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    _roots.append(str(Path(__file__).resolve().parent.parent.parent / "kubegym"))
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def read_prices(path: str, what: str) -> dict[int, float]:
    """Id → SalePrice from a CSV file; exits with the reason when it is malformed."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
    except OSError as exc:
        fail(f"cannot read the {what}: {exc.strerror}")
    with f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "Id" not in columns or "SalePrice" not in columns:
            fail(f"the {what} must have the columns Id,SalePrice; found {columns}")
        prices: dict[int, float] = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in row.items()}
            try:
                house = int(float(row["Id"]))
                price = float(row["SalePrice"])
            except (TypeError, ValueError):
                fail(
                    f"{what}, line {line}: Id and SalePrice must be numbers, got {row['Id']!r}, {row['SalePrice']!r}"
                )
            if not math.isfinite(price):
                fail(f"{what}, line {line}: the SalePrice of house {house} is {price}")
            if house in prices:
                fail(f"{what}, line {line}: house {house} appears more than once")
            prices[house] = price
    return prices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    truth = read_prices(data["answer"], "answer file")
    predicted = read_prices(args.submission, "submission")
    missing = sorted(set(truth) - set(predicted))
    if missing:
        fail(
            f"the submission has no SalePrice for {len(missing)} of the {len(truth)} houses "
            f"scored (Ids such as {missing[:5]}); predict every Id of data/test.csv"
        )
    actual = [truth[house] for house in truth]
    errors = [predicted[house] - truth[house] for house in truth]
    mean = sum(actual) / len(actual)
    total = sum((y - mean) ** 2 for y in actual)
    residual = sum(e * e for e in errors)
    kubegym_eval.report({"rmse": math.sqrt(residual / len(errors)), "r2": 1.0 - residual / total})


if __name__ == "__main__":
    main()
