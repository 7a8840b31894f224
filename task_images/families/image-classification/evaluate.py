"""Scores an image-classification submission: accuracy (higher is better).

The image-classification family's evaluator (cifar10, cifar10-proxy, fashion-mnist).

Usage: evaluate.py --submission submission.csv --split validation|test --data labels=PATH

`labels` holds one `label` row per image of data/test_images.npy: the true
class on the rows of this split, -1 on the others. The submission must hold a
`label` column with one integer class (0-9) per image, in the same order (as
MLGym's submission.csv); other columns are ignored. Prints the metrics as one
JSON line; exits non-zero with the reason when the submission is malformed.
"""

import argparse
import csv
import sys
from pathlib import Path

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: PYTHONPATH=<kubegym>/evaluator/kit, or kubegym installed
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

CLASSES = 10


def as_class(value: str) -> int:
    """An integer class from a CSV cell: `3` and `3.0` are fine, `3.5`, `nan` and `` are not."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def read_labels(path: str, who: str) -> list[int]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "label" not in reader.fieldnames:
                sys.exit(
                    f"{who}: expected a CSV with a `label` column; found the columns {reader.fieldnames}"
                )
            labels = []
            for line, row in enumerate(reader, start=2):
                value = (row["label"] or "").strip()
                try:
                    labels.append(as_class(value))
                except ValueError:
                    sys.exit(f"{who}, line {line}: `label` must be an integer class, got {value!r}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        sys.exit(f"{who}: cannot read it as CSV: {exc}")
    return labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", required=True, choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[], help="NAME=PATH")
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    truth = read_labels(data["labels"], "the answer file")
    predicted = read_labels(args.submission, "submission.csv")
    if len(predicted) != len(truth):
        sys.exit(
            f"submission.csv has {len(predicted)} rows; it needs one label per image of "
            f"data/test_images.npy ({len(truth)} rows), in order"
        )
    bad = [p for p in predicted if not 0 <= p < CLASSES]
    if bad:
        sys.exit(
            f"submission.csv: labels must be classes 0-{CLASSES - 1}; found {sorted(set(bad))[:5]}"
        )
    scored = [(p, t) for p, t in zip(predicted, truth, strict=True) if t >= 0]
    accuracy = sum(p == t for p, t in scored) / len(scored)
    kubegym_eval.report({"accuracy": accuracy})


if __name__ == "__main__":
    main()
