"""Prepares the MNLI task's data from the Hugging Face copy of MultiNLI (nyu-mll/multi_nli).

Usage: prepare.py --out DIR --source mnli=PATH

PATH is what kubegym's `huggingface` source leaves: the DatasetDict saved by
`datasets.save_to_disk` (a `dataset_dict.json`, then one folder per split of
Arrow stream files listed in its `state.json`). It is read with pyarrow alone.

Writes, deterministically:

- data/train.jsonl: the training pairs (id, premise, hypothesis, genre, label),
  less 9,815 of them held out for `validate` (a tenth of a smaller copy);
- data/eval.jsonl: the pairs to label (id, premise, hypothesis): the held-out
  training pairs and validation_matched (MLGym's test set), shuffled together;
- hidden/valid.csv and hidden/test.csv: id,label of the held-out pairs and of
  validation_matched.
- data/full/train.jsonl: every training pair, the held-out ones included (in
  MNLI's order): the `full` variant a suite profile selects under `validation:
  test` (MLGym trained on the whole split). Training pairs only: no pair of
  validation_matched ever enters it.

Labels are MultiNLI's: 0 entailment, 1 neutral, 2 contradiction; pairs without
a gold label (-1) are dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import pyarrow as pa

SEED = 20240501
VALIDATION_PAIRS = 9815  # as many as validation_matched holds
SPLITS = ("train", "validation_matched")


def read_split(root: Path, split: str) -> list[dict]:
    """The rows of one split of a `save_to_disk` folder, in their stored order."""
    folder = root / split
    state = folder / "state.json"
    if not state.is_file():
        sys.exit(
            f"{root} holds no split {split!r} ({state} is missing): expected the DatasetDict "
            "of nyu-mll/multi_nli saved by datasets.save_to_disk"
        )
    rows: list[dict] = []
    for entry in json.loads(state.read_text())["_data_files"]:
        with pa.OSFile(str(folder / entry["filename"]), "rb") as f:
            table = pa.ipc.open_stream(f).read_all()
        missing = {"premise", "hypothesis", "label"} - set(table.column_names)
        if missing:
            sys.exit(f"{folder}: the split has no column(s) {sorted(missing)}")
        rows.extend(table.to_pylist())
    return rows


def pair(row: dict, **extra: object) -> dict:
    return {"premise": row["premise"], "hypothesis": row["hypothesis"], **extra}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_labels(path: Path, labels: list[tuple[int, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("id,label\n")
        for i, label in sorted(labels):
            f.write(f"{i},{label}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args()
    sources = dict(item.split("=", 1) for item in args.source)
    if "mnli" not in sources:
        sys.exit("missing --source mnli=PATH (the saved nyu-mll/multi_nli DatasetDict)")
    root = Path(sources["mnli"])
    train, matched = (
        [r for r in read_split(root, split) if r["label"] in (0, 1, 2)] for split in SPLITS
    )
    # A tenth of a small copy (such as the tests' fixture) stands in for the 9,815.
    held_out = min(VALIDATION_PAIRS, len(train) // 10)
    if held_out < 1 or not matched:
        sys.exit(f"too little data: {len(train)} training and {len(matched)} test pairs")

    rng = random.Random(SEED)
    held = set(rng.sample(range(len(train)), held_out))
    kept = [
        {"id": n, **pair(r, genre=r.get("genre", "")), "label": r["label"]}
        for n, r in enumerate(r for i, r in enumerate(train) if i not in held)
    ]
    # Held-out and test pairs are shuffled together and numbered after the shuffle,
    # so neither the order nor the id tells which split a pair belongs to.
    pool = [("valid", train[i]) for i in sorted(held)] + [("test", r) for r in matched]
    rng.shuffle(pool)
    evaluation, answers = [], {"valid": [], "test": []}
    for n, (split, row) in enumerate(pool):
        evaluation.append({"id": n, **pair(row)})
        answers[split].append((n, row["label"]))

    write_jsonl(args.out / "data" / "train.jsonl", kept)
    write_jsonl(args.out / "data" / "eval.jsonl", evaluation)
    # The full variant (`profiles/mlgym-bench.yaml`): the training split, none held out.
    full = [
        {"id": n, **pair(r, genre=r.get("genre", "")), "label": r["label"]}
        for n, r in enumerate(train)
    ]
    write_jsonl(args.out / "data" / "full" / "train.jsonl", full)
    write_labels(args.out / "hidden" / "valid.csv", answers["valid"])
    write_labels(args.out / "hidden" / "test.csv", answers["test"])
    print(
        f"train {len(kept)}, validation {len(answers['valid'])}, test {len(answers['test'])} pairs"
    )


if __name__ == "__main__":
    main()
