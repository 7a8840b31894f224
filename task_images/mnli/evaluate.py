"""Scores MNLI predictions: accuracy in percent (higher is better), as MLGym reports it.

Usage: evaluate.py --submission submission.csv --split validation|test --data labels=PATH

The submission is a CSV with the columns id,label: one row per pair of
data/eval.jsonl, label 0 (entailment), 1 (neutral) or 2 (contradiction). Only
the ids of the split's answer file are scored. Prints the metrics as one JSON
line; exits non-zero with the reason when the submission is malformed.
"""

from __future__ import annotations

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

LABELS = {"0": 0, "1": 1, "2": 2}


def read_labels(path: str, *, what: str) -> dict[int, int]:
    """id → label, checking the header, the values and duplicate ids."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return _parse(csv.DictReader(f), what)
    except OSError as exc:
        sys.exit(f"cannot read the {what} {path}: {exc}")
    except UnicodeDecodeError:
        sys.exit(f"the {what} is not UTF-8 text")


def _parse(reader: csv.DictReader, what: str) -> dict[int, int]:
    if reader.fieldnames is None or not {"id", "label"} <= set(reader.fieldnames):
        sys.exit(f"the {what} must have the columns id,label; found {reader.fieldnames}")
    out: dict[int, int] = {}
    for line, row in enumerate(reader, start=2):
        try:
            key = int(row["id"])
        except (TypeError, ValueError):
            sys.exit(f"the {what}, line {line}: id must be an integer, got {row['id']!r}")
        label = LABELS.get((row["label"] or "").strip())
        if label is None:
            sys.exit(
                f"the {what}, line {line}: label must be 0 (entailment), 1 (neutral) "
                f"or 2 (contradiction), got {row['label']!r}"
            )
        if key in out:
            sys.exit(f"the {what}, line {line}: id {key} appears twice")
        out[key] = label
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", required=True, choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    truth = read_labels(data["labels"], what="answer file")
    predicted = read_labels(args.submission, what="submission")
    missing = sorted(i for i in truth if i not in predicted)
    if missing:
        sys.exit(
            f"the submission has no label for {len(missing)} of the {len(truth)} scored pairs "
            f"(ids {missing[:3]}…): write one row per pair of data/eval.jsonl"
        )
    correct = sum(predicted[i] == label for i, label in truth.items())
    kubegym_eval.report({"accuracy": 100.0 * correct / len(truth)})


if __name__ == "__main__":
    main()
