"""Scores xor-blobs predictions: error_rate (lower is better) and accuracy.

Usage: evaluate.py --submission submission.csv --split validation|test --data labels=PATH
Prints the metrics as one JSON line; exits non-zero with a reason when the
submission is malformed.
"""

import argparse
import csv
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


def read(path: str) -> dict[int, int]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"id", "label"} <= set(reader.fieldnames):
            sys.exit(f"{path}: expected the columns id,label; found {reader.fieldnames}")
        out = {}
        for line, row in enumerate(reader, start=2):
            try:
                out[int(row["id"])] = int(row["label"])
            except (TypeError, ValueError):
                sys.exit(f"line {line}: id and label must be integers, got {row}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    truth = read(data["labels"])
    predicted = read(args.submission)
    missing = [i for i in truth if i not in predicted]
    if missing:
        sys.exit(f"the submission has no label for {len(missing)} of the ids (e.g. {missing[:3]})")
    wrong = sum(predicted[i] != label for i, label in truth.items())
    error_rate = wrong / len(truth)
    kubegym_eval.report({"error_rate": error_rate, "accuracy": 1.0 - error_rate})


if __name__ == "__main__":
    main()
