"""Baseline: frozen MiniLM sentence embeddings + logistic regression.

Each premise and hypothesis is embedded with the all-MiniLM-L6-v2 encoder
(`minilm.py`, numpy only); a logistic regression reads the pair features
[u, v, |u - v|, u * v] and predicts entailment (0), neutral (1) or
contradiction (2) for every pair of `data/eval.jsonl`, written to
`submission.csv` (columns `id,label`).

`KUBEGYM_BUDGET` (default 1) scales how many training pairs are embedded:
budget 1 uses TRAIN_PAIRS of them, a small budget a few hundred.
"""

from __future__ import annotations

import csv
import json
import os
import time

import numpy as np
from minilm import MiniLM
from sklearn.linear_model import LogisticRegression

TRAIN_PAIRS = 20_000  # pairs embedded at budget 1 (of the 382,887 in data/train.jsonl)
MIN_PAIRS = 200
SEED = 0


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pair_features(encoder: MiniLM, rows: list[dict]) -> np.ndarray:
    u = encoder.encode([r["premise"] for r in rows])
    v = encoder.encode([r["hypothesis"] for r in rows])
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def main() -> None:
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    train = read_jsonl("data/train.jsonl")
    wanted = min(len(train), max(MIN_PAIRS, int(budget * TRAIN_PAIRS)))
    rng = np.random.default_rng(SEED)
    train = [train[i] for i in sorted(rng.choice(len(train), size=wanted, replace=False))]
    evaluation = read_jsonl("data/eval.jsonl")

    encoder = MiniLM("model")
    started = time.time()
    x_train = pair_features(encoder, train)
    y_train = np.array([r["label"] for r in train])
    print(f"embedded {len(train)} training pairs in {time.time() - started:.0f} s", flush=True)

    classifier = LogisticRegression(C=1.0, max_iter=2000)
    classifier.fit(x_train, y_train)
    print(f"training accuracy {classifier.score(x_train, y_train):.3f}", flush=True)

    predicted = classifier.predict(pair_features(encoder, evaluation))
    with open("submission.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "label"])
        for row, label in zip(evaluation, predicted, strict=True):
            writer.writerow([row["id"], int(label)])
    print(f"wrote {len(evaluation)} predictions to submission.csv")


if __name__ == "__main__":
    main()
