"""Baseline: caption retrieval by nearest neighbours on colour histograms.

Every image is shrunk to 32x32 and described by colour histograms (4x4x4 RGB
bins) of the whole image and of its four quarters. Each image of
`data/eval_images.jsonl` takes the captions of its K nearest training images
(cosine similarity) and keeps the consensus one: the caption that shares the
most words and word pairs with the other candidates. The captions go to
`submission.csv` (columns `image_id,caption`).

`KUBEGYM_BUDGET` (default 1) scales how many training images are indexed:
budget 1 uses all of them, a small budget at least MIN_IMAGES.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
from collections import Counter

import numpy as np
from PIL import Image

K = 5
MIN_IMAGES = 1000
SIZE = 32
BINS = 4
SEED = 0


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def histograms(path: str) -> np.ndarray:
    """Colour histograms of the whole image and its quarters, square-rooted and unit-length."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
    codes = (pixels // (256 // BINS)).astype(np.int64)
    codes = codes[..., 0] * BINS * BINS + codes[..., 1] * BINS + codes[..., 2]
    half = SIZE // 2
    parts = [codes] + [codes[r : r + half, c : c + half] for r in (0, half) for c in (0, half)]
    feature = np.concatenate([np.bincount(p.ravel(), minlength=BINS**3) for p in parts])
    feature = np.sqrt(feature.astype(np.float32))
    return feature / np.linalg.norm(feature)


def words(caption: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", caption.lower())


def consensus(candidates: list[str]) -> str:
    """The candidate that overlaps most (words and word pairs) with the others."""
    bags = []
    for caption in candidates:
        w = words(caption)
        bags.append(Counter(w) + Counter(itertools.pairwise(w)))
    best, best_score = candidates[0], -1.0
    for i, bag in enumerate(bags):
        size = sum(bag.values()) or 1
        score = sum(
            2 * sum((bag & other).values()) / (size + (sum(other.values()) or 1))
            for j, other in enumerate(bags)
            if j != i
        )
        if score > best_score:
            best, best_score = candidates[i], score
    return best


def main() -> None:
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    train = read_jsonl("data/train_captions.jsonl")
    wanted = min(len(train), max(MIN_IMAGES, int(budget * len(train))))
    rng = np.random.default_rng(SEED)
    train = [train[i] for i in sorted(rng.choice(len(train), size=wanted, replace=False))]
    queries = read_jsonl("data/eval_images.jsonl")

    index = np.stack([histograms(os.path.join("data/train", r["file_name"])) for r in train])
    print(f"indexed {len(train)} training images", flush=True)
    with open("submission.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image_id", "caption"])
        for start in range(0, len(queries), 256):
            chunk = queries[start : start + 256]
            features = np.stack(
                [histograms(os.path.join("data/eval", q["file_name"])) for q in chunk]
            )
            nearest = np.argsort(-(features @ index.T), axis=1, kind="stable")[:, :K]
            for query, neighbours in zip(chunk, nearest, strict=True):
                candidates = [c for n in neighbours for c in train[n]["captions"]]
                writer.writerow([query["image_id"], consensus(candidates)])
    print(f"wrote {len(queries)} captions to submission.csv")


if __name__ == "__main__":
    main()
