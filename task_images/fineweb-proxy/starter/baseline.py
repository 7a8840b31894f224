"""Baseline: train the numpy n-gram network of model.py on the training shards, save a submission.

Run: ``python baseline.py``. Writes ``submission/`` (model.py, model_config.json,
model.npz), which the evaluator scores by the mean cross-entropy (nats per
token) of the model on held-out shards.

The number of training steps scales with ``KUBEGYM_BUDGET`` (1.0 = the full
run, a few minutes on one CPU core).
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from pathlib import Path

import numpy as np
from model import Model, ModelConfig

TRAIN_GLOB = "data/fineweb10B/fineweb_train_*.bin"
VAL_SHARD = "data/fineweb10B/fineweb_val_000000.bin"
STEPS = 2000  # at budget 1
BATCH = 512  # predicted tokens per step
LR = 1e-2
WARMDOWN = 0.3  # the last 30 % of the steps decay the learning rate linearly to 0
SEED = 1337


def load_shard(path: str) -> np.ndarray:
    """The tokens of one shard: a 256-int32 header (magic 20240520, version 1, count), then uint16."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        if header[0] != 20240520 or header[1] != 1:
            raise SystemExit(f"{path}: not a version-1 token shard")
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    if tokens.size != header[2]:
        raise SystemExit(f"{path}: the header says {header[2]} tokens, found {tokens.size}")
    return tokens


def mean_loss(model: Model, tokens: np.ndarray, sequences: int, length: int = 1024) -> float:
    """Mean cross-entropy (nats per token) over the first ``sequences`` sequences of ``tokens``."""
    losses = []
    for s in range(sequences):
        chunk = tokens[s * length : (s + 1) * length + 1]
        logits = model.forward(chunk[None, :-1])[0].astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=1))
        losses.append(np.mean(log_z - logits[np.arange(length), chunk[1:]]))
    return float(np.mean(losses))


def adam(params: dict, grads: dict, state: dict, lr: float, step: int) -> None:
    b1, b2, eps = 0.9, 0.95, 1e-8
    for name, g in grads.items():
        m, v = state.setdefault(name, (np.zeros_like(g), np.zeros_like(g)))
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / (1 - b1**step)
        v_hat = v / (1 - b2**step)
        params[name] -= lr * m_hat / (np.sqrt(v_hat) + eps)


def main() -> None:
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    steps = max(1, round(STEPS * budget))
    tokens = np.concatenate([load_shard(p) for p in sorted(glob.glob(TRAIN_GLOB))]).astype(np.int64)
    print(f"training tokens: {tokens.size}, steps: {steps}, batch: {BATCH}")

    config = ModelConfig()
    model = Model(config)
    # Start from the unigram distribution: the output bias is the log frequency of each token.
    counts = np.bincount(tokens, minlength=config.vocab_size).astype(np.float64) + 1.0
    model.params["b2"] = np.log(counts / counts.sum()).astype(np.float32)

    rng = np.random.default_rng(SEED)
    k = config.context
    offsets = np.arange(-k + 1, 1)
    state: dict = {}
    started = time.time()
    for step in range(1, steps + 1):
        # Random positions; each window holds the context tokens, the target follows it.
        positions = rng.integers(k - 1, tokens.size - 1, size=BATCH)
        ctx = tokens[positions[:, None] + offsets]
        targets = tokens[positions + 1]
        loss, grads = model.loss_and_grads(ctx, targets)
        decay_from = steps * (1 - WARMDOWN)
        scale = 1.0 if step <= decay_from else (steps - step + 1) / (steps - decay_from)
        adam(model.params, grads, state, LR * scale, step)
        if step % 100 == 0 or step == steps:
            print(f"step {step}/{steps} train_loss {loss:.4f} ({time.time() - started:.0f} s)")

    val_loss = mean_loss(model, load_shard(VAL_SHARD).astype(np.int64), sequences=16)
    print(f"val_loss (16 sequences of the validation shard): {val_loss:.4f}")

    model.save("submission")
    shutil.copyfile(Path(__file__).with_name("model.py"), "submission/model.py")
    print("wrote submission/ (model.py, model_config.json, model.npz)")


if __name__ == "__main__":
    main()
