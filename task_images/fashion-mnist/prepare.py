"""Makes the fashion-mnist task's data from the original IDX files (Debian's `dataset-fashion-mnist`).

Called by `kubegym tasks prepare` as ``prepare.py --out DIR --source NAME=PATH …``
with the four gzipped IDX files of Fashion-MNIST (train/test images/labels).
Writes, deterministically (the task YAML pins every file's sha256):

- ``data/train_images.npy`` (uint8, N×28×28) and ``data/train_labels.npy``
  (int64, N): the 60,000 training images minus a held-out validation set;
- ``data/test_images.npy`` (uint8, M×28×28): the images the agent labels, the
  10,000 test images and the 6,000 held-out training images, shuffled together;
- ``hidden/validation.csv`` and ``hidden/test.csv``: one ``label`` row per image
  of ``test_images.npy``, the true class on the rows of that split and -1 elsewhere.
- ``data/full/train_images.npy`` and ``data/full/train_labels.npy``: the whole training
  set (60,000 images, held-out ones included, in the original order): the ``full``
  variant a suite profile selects under ``validation: test`` (MLGym trained on it). It
  holds training images only, never a test image or label.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

SEED = 20250214  # fixes the validation split and the order of the images to label
VALIDATION_SHARE = 0.1  # of the training set, held out for `validate`
IMAGE_MAGIC, LABEL_MAGIC = 0x0803, 0x0801


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: a big-endian header, then the raw bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    found = int.from_bytes(raw[0:4], "big")
    if found != magic:
        raise SystemExit(
            f"{path}: not an IDX file of the expected kind (magic {found:#06x}, wanted {magic:#06x})"
        )
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise SystemExit(f"{path}: {data.size} bytes of data, the header promises {shape}")
    return data.reshape(shape)


def write_labels(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("label\n" + "".join(f"{int(v)}\n" for v in labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="NAME=PATH")
    args = parser.parse_args()
    sources = {k: Path(v) for k, v in (s.split("=", 1) for s in args.source)}
    wanted = ("train-images", "train-labels", "test-images", "test-labels")
    missing = [name for name in wanted if name not in sources]
    if missing:
        raise SystemExit(f"missing sources: {', '.join(missing)}")

    train_x = read_idx(sources["train-images"], IMAGE_MAGIC)
    train_y = read_idx(sources["train-labels"], LABEL_MAGIC).astype(np.int64)
    test_x = read_idx(sources["test-images"], IMAGE_MAGIC)
    test_y = read_idx(sources["test-labels"], LABEL_MAGIC).astype(np.int64)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise SystemExit("the image and label files disagree on the number of examples")

    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(train_x))
    n_valid = round(VALIDATION_SHARE * len(train_x))
    valid_idx, keep_idx = np.sort(order[:n_valid]), np.sort(order[n_valid:])

    # The images to label: test images and held-out training images, shuffled together.
    images = np.concatenate([test_x, train_x[valid_idx]])
    split = np.concatenate([np.zeros(len(test_x), np.int8), np.ones(n_valid, np.int8)])
    labels = np.concatenate([test_y, train_y[valid_idx]])
    shuffle = rng.permutation(len(images))
    images, split, labels = images[shuffle], split[shuffle], labels[shuffle]

    out: Path = args.out
    (out / "data").mkdir(parents=True, exist_ok=True)
    np.save(out / "data" / "train_images.npy", np.ascontiguousarray(train_x[keep_idx]))
    np.save(out / "data" / "train_labels.npy", np.ascontiguousarray(train_y[keep_idx]))
    np.save(out / "data" / "test_images.npy", np.ascontiguousarray(images))
    # The full variant (`profiles/mlgym-bench.yaml`): every training image, none held out.
    (out / "data" / "full").mkdir(exist_ok=True)
    np.save(out / "data" / "full" / "train_images.npy", np.ascontiguousarray(train_x))
    np.save(out / "data" / "full" / "train_labels.npy", np.ascontiguousarray(train_y))
    write_labels(out / "hidden" / "test.csv", np.where(split == 0, labels, -1))
    write_labels(out / "hidden" / "validation.csv", np.where(split == 1, labels, -1))
    print(
        f"train {len(keep_idx)}, to label {len(images)} ({len(test_x)} test, {n_valid} validation)"
    )


if __name__ == "__main__":
    main()
