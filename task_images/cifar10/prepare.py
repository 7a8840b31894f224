"""Makes the cifar10 task's data from the original CIFAR-10 archive (`cifar-10-python.tar.gz`).

Called by `kubegym tasks prepare` as ``prepare.py --out DIR --source cifar10=PATH``,
where PATH is the archive (or the `cifar-10-batches-py` folder it unpacks to):
five training batches and one test batch, each a pickled dict with `data`
(uint8, N×3072: the red, green and blue 32×32 planes) and `labels`. Batches
are read with an unpickler that builds nothing but NumPy arrays and plain
values, so a tampered file cannot run code. Writes, deterministically (the
task YAML pins every file's sha256):

- ``data/train_images.npy`` (uint8, N×32×32×3) and ``data/train_labels.npy``
  (int64, N): the training images minus a held-out validation set (10 %);
- ``data/test_images.npy`` (uint8, M×32×32×3): the images the agent labels,
  the test images and the held-out training images, shuffled together;
- ``hidden/validation.csv`` and ``hidden/test.csv``: one ``label`` row per image
  of ``test_images.npy``, the true class on the rows of that split and -1 elsewhere.
- ``data/full/train_images.npy`` and ``data/full/train_labels.npy``: the whole training
  set (50,000 images, held-out ones included, in the original order): the ``full``
  variant a suite profile selects under ``validation: test`` (MLGym trained on it). It
  holds training images only, never a test image or label.
"""

from __future__ import annotations

import argparse
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

SEED = 20250214  # fixes the validation split and the order of the images to label
VALIDATION_SHARE = 0.1  # of the training set, held out for `validate`
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
SIZE = 32

# What a CIFAR batch may build when unpickled: NumPy arrays and bytes, nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        # NumPy 2 renamed numpy.core to numpy._core; batches name either.
        canonical = module.replace("numpy._core", "numpy.core", 1)
        if (canonical, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR batch may not hold {module}.{name}")
        if canonical.startswith("numpy.core") and hasattr(np, "_core"):
            module = canonical.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def read_batches(source: Path) -> dict[str, bytes]:
    """The raw bytes of every batch file, by name, from the archive or its unpacked folder."""
    wanted = {*TRAIN_BATCHES, TEST_BATCH}
    found: dict[str, bytes] = {}
    if source.is_dir():
        folder = (
            source / "cifar-10-batches-py" if (source / "cifar-10-batches-py").is_dir() else source
        )
        for name in wanted:
            if (folder / name).is_file():
                found[name] = (folder / name).read_bytes()
    else:
        try:
            with tarfile.open(source, "r:*") as archive:
                for member in archive:
                    name = Path(member.name).name
                    if member.isfile() and name in wanted:
                        extracted = archive.extractfile(member)
                        assert extracted is not None
                        found[name] = extracted.read()
        except (tarfile.TarError, OSError) as exc:
            raise SystemExit(f"{source}: not a readable CIFAR-10 archive ({exc})") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise SystemExit(
            f"{source}: not the CIFAR-10 python archive: missing {', '.join(missing)} "
            "(expected cifar-10-batches-py/data_batch_1..5 and test_batch)"
        )
    return found


def decode(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch as images (N×32×32×3, uint8) and labels (N, int64)."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise SystemExit(f"{name}: not a CIFAR batch ({exc})") from None
    # The original batches were pickled by Python 2: their keys come back as bytes.
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * SIZE * SIZE or len(data) != len(labels):
        raise SystemExit(f"{name}: data of shape {data.shape} for {len(labels)} labels")
    if labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"{name}: labels outside 0-9")
    images = data.reshape(-1, 3, SIZE, SIZE).transpose(0, 2, 3, 1)  # planes → height, width, colour
    return np.ascontiguousarray(images), labels


def write_labels(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("label\n" + "".join(f"{int(v)}\n" for v in labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="cifar10=PATH")
    args = parser.parse_args()
    sources = {k: Path(v) for k, v in (s.split("=", 1) for s in args.source)}
    if "cifar10" not in sources:
        raise SystemExit("missing the source cifar10=PATH (cifar-10-python.tar.gz)")

    raw = read_batches(sources["cifar10"])
    train = [decode(raw[name], name) for name in TRAIN_BATCHES]
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    test_x, test_y = decode(raw[TEST_BATCH], TEST_BATCH)

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
