"""Scores a fineweb-proxy submission: the model's mean cross-entropy (nats per token) on held-out shards.

Usage: evaluate.py --submission DIR --split validation|test --data tokens=SHARD_OR_FOLDER

The submission is a folder holding ``model.py``, which defines ``Model`` with
``Model.load(folder)`` and ``model.forward(idx)``: (B, T) int64 tokens →
(B, T, vocab) logits of each next token. The held-out tokens are read as
sequences of 1024 (+1 for the targets), as MLGym's evaluation reads FineWeb's
validation shard; ``KUBEGYM_BUDGET`` (default 1: every full sequence) scales how
many are scored. A cheap check makes sure the model is causal: changing the
second half of a sequence must leave the logits of its first half alone.

Prints ``{"val_loss": …}`` as its last line; exits non-zero with the reason on
stderr when the submission is missing, malformed, not causal, or not finite.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: it ships in the kubegym package (and this repository)
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    _roots.append(str(Path(__file__).resolve().parent.parent.parent / "kubegym"))
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

SEQUENCE_LENGTH = 1024
BATCH = 4  # sequences per forward call
MIN_SEQUENCES = 8
LOAD_SECONDS = 120.0
FORWARD_SECONDS = 300.0
MAGIC = 20240520


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(1)


def load_shard(path: Path) -> np.ndarray:
    with path.open("rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    if header.size != 256 or header[0] != MAGIC or header[1] != 1 or header[2] != tokens.size:
        fail(f"the data shard {path.name} is corrupt (a task bug, not the submission's)")
    return tokens


def load_tokens(path: Path) -> np.ndarray:
    shards = sorted(path.glob("*.bin")) if path.is_dir() else [path]
    return np.concatenate([load_shard(p) for p in shards]).astype(np.int64)


def load_model(folder: Path) -> kubegym_eval.Agent:
    """The submitted model, running in the scorer's jail (by hand: a child process)."""
    if not folder.is_dir():
        fail(
            f"the submission must be a folder holding model.py and its weights; {folder.name} is a file"
        )
    if not (folder / "model.py").is_file():
        fail(
            f"the submission folder has no model.py (it holds: {sorted(p.name for p in folder.iterdir())})"
        )
    try:
        return kubegym_eval.start(
            "adapter.py", folder, timeout=LOAD_SECONDS, task_dir=Path(__file__).resolve().parent
        )
    except kubegym_eval.AgentError as exc:
        fail(str(exc))
        raise


def logits_of(model: kubegym_eval.Agent, idx: np.ndarray, vocab: int | None) -> np.ndarray:
    """The model's logits for ``idx``: raw float32 from the jail, checked here."""
    idx = np.ascontiguousarray(idx, dtype="<i8")
    try:
        _, arrays = model.call(
            {"op": "forward"},
            [("<i8", idx.shape, idx.tobytes())],
            timeout=FORWARD_SECONDS,
            doing="model.forward",
        )
    except kubegym_eval.AgentError as exc:
        fail(str(exc))
    if len(arrays) != 1:
        fail("model.forward returned no array of logits")
    dtype, shape, raw = arrays[0]
    logits = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).astype(np.float64)
    if logits.ndim != 3 or logits.shape[:2] != idx.shape or (vocab and logits.shape[2] < vocab):
        fail(f"model.forward returned shape {logits.shape}; expected {(*idx.shape, 'vocab')}")
    if not np.isfinite(logits).all():
        fail("model.forward returned logits that are not finite")
    return logits


def check_causal(model: kubegym_eval.Agent, x: np.ndarray, vocab: int) -> None:
    half = x.shape[1] // 2
    changed = x.copy()
    changed[:, half:] = (x[:, half:] + 1 + np.arange(x.shape[1] - half)) % vocab
    before = logits_of(model, x, vocab)[:, :half]
    after = logits_of(model, changed, vocab)[:, :half]
    if not np.allclose(before, after, atol=1e-3, rtol=1e-3):
        fail("the model is not causal: its logits at a position depend on later tokens")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    tokens = load_tokens(Path(data["tokens"]))
    model = load_model(args.submission)  # in a jail: it never sees this process or the data

    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    available = (tokens.size - 1) // SEQUENCE_LENGTH
    sequences = min(available, max(MIN_SEQUENCES, math.ceil(available * budget)))
    vocab = int(tokens.max()) + 1
    first = tokens[: BATCH * SEQUENCE_LENGTH].reshape(BATCH, SEQUENCE_LENGTH)
    check_causal(model, first, vocab)

    total, count = 0.0, 0
    for start in range(0, sequences, BATCH):
        n = min(BATCH, sequences - start)
        chunk = tokens[start * SEQUENCE_LENGTH : (start + n) * SEQUENCE_LENGTH + 1]
        x = chunk[:-1].reshape(n, SEQUENCE_LENGTH)
        y = chunk[1:].reshape(n, SEQUENCE_LENGTH)
        logits = logits_of(model, x, vocab)
        peak = logits.max(axis=2, keepdims=True)
        log_z = np.log(np.exp(logits - peak).sum(axis=2)) + peak[..., 0]
        picked = np.take_along_axis(logits, y[..., None], axis=2)[..., 0]
        total += float((log_z - picked).sum())
        count += y.size
    model.close()  # the jail ends before the metrics leave this process
    print(f"scored {count} tokens ({sequences} sequences of {SEQUENCE_LENGTH})", file=sys.stderr)
    kubegym_eval.report({"val_loss": total / count})


if __name__ == "__main__":
    main()
