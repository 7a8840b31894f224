"""Scores polyfit predictions: r2 (higher is better) and rmse (lower is better).

Usage: evaluate.py --submission submission.csv --split validation|test --data labels=PATH
Prints the metrics as one JSON line. Exits non-zero with a reason when the
submission is malformed (missing ids, non-numbers).
"""

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


def read(path: str, column: str) -> dict[int, float]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if (
            reader.fieldnames is None
            or "id" not in reader.fieldnames
            or column not in reader.fieldnames
        ):
            sys.exit(f"{path}: expected the columns id,{column}; found {reader.fieldnames}")
        out = {}
        for line, row in enumerate(reader, start=2):
            try:
                out[int(row["id"])] = float(row[column])
            except (TypeError, ValueError):
                sys.exit(f"line {line}: id and {column} must be numbers, got {row}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    truth = read(data["labels"], "y")
    predicted = read(args.submission, "y")
    missing = [i for i in truth if i not in predicted]
    if missing:
        sys.exit(
            f"the submission has no prediction for {len(missing)} of the ids (e.g. {missing[:3]})"
        )
    errors = [predicted[i] - y for i, y in truth.items()]
    mean = sum(truth.values()) / len(truth)
    total = sum((y - mean) ** 2 for y in truth.values())
    residual = sum(e * e for e in errors)
    if any(not math.isfinite(e) for e in errors):
        sys.exit("the submission holds predictions that are not finite numbers")
    kubegym_eval.report({"r2": 1.0 - residual / total, "rmse": math.sqrt(residual / len(errors))})


if __name__ == "__main__":
    main()
