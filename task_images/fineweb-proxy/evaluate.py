"""Scores a fineweb-proxy submission: the model's mean cross-entropy (nats per token) on held-out shards.

Usage: evaluate.py --submission DIR --split validation|test --data tokens=SHARD_OR_FOLDER

The submission is a folder holding ``model.py``, which defines ``Model`` with
``Model.load(folder)`` and ``model.forward(idx)``: (B, T) int64 tokens →
(B, T, vocab) logits of each next token. The held-out tokens are read as
sequences of 1024 (+1 for the targets), as MLGym's evaluation reads FineWeb's
validation shard; ``KUBEGYM_BUDGET`` (default 1: every full sequence) scales how
many are scored. The model runs in the scorer's jail and answers kubegym_lm's
protocol (log-probabilities of the targets, then full rows at positions picked
afterwards); `kubegym_lm.Judge` checks every batch's rows (normalisation,
consistency with the returned log-probabilities) and probes causality in a
second jail (random tokens after a random position must leave the model's
log-probabilities up to it alone).

Prints ``{"val_loss": …}`` as its last line; exits non-zero with the reason on
stderr when the submission is missing, malformed, fails a check, or not finite.
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

import kubegym_lm

SEQUENCE_LENGTH = 1024
BATCH = 4  # sequences per forward call
MIN_SEQUENCES = 8
LOAD_SECONDS = 120.0
FORWARD_SECONDS = 300.0
MAGIC = 20240520
# Every batch: 32 random rows checked; every batch probed for causality (numpy models
# are cheap; float32 on a CPU agrees across processes to ~1e-6).
CHECKS = kubegym_lm.Checks(rows=32, causal_share=1.0, tolerance=1e-3, causal_tolerance=1e-3)


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


def start_model(folder: Path) -> kubegym_eval.Agent:
    """The submitted model, running in a jail of the scorer's (by hand: a child process)."""
    try:
        return kubegym_eval.start(
            "adapter.py", folder, timeout=LOAD_SECONDS, task_dir=Path(__file__).resolve().parent
        )
    except kubegym_eval.AgentError as exc:
        fail(str(exc))


def check_folder(folder: Path) -> None:
    if not folder.is_dir():
        fail(
            f"the submission must be a folder holding model.py and its weights; {folder.name} is a file"
        )
    if not (folder / "model.py").is_file():
        fail(
            f"the submission folder has no model.py (it holds: {sorted(p.name for p in folder.iterdir())})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    tokens = load_tokens(Path(data["tokens"]))
    check_folder(args.submission)
    # Two jails: the model scores, the probe (a fresh process that never sees the
    # scored batches) answers the causality probes. Neither sees this process or the data.
    model = start_model(args.submission)
    probe = start_model(args.submission)

    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    available = (tokens.size - 1) // SEQUENCE_LENGTH
    sequences = min(available, max(MIN_SEQUENCES, math.ceil(available * budget)))
    vocab = int(tokens.max()) + 1
    judge = kubegym_lm.Judge(model, probe, vocab=vocab, checks=CHECKS, timeout=FORWARD_SECONDS)

    total, count = 0.0, 0
    with model, probe:
        for start in range(0, sequences, BATCH):
            n = min(BATCH, sequences - start)
            chunk = tokens[start * SEQUENCE_LENGTH : (start + n) * SEQUENCE_LENGTH + 1]
            x = chunk[:-1].reshape(n, SEQUENCE_LENGTH)
            y = chunk[1:].reshape(n, SEQUENCE_LENGTH)
            try:
                logp = judge.score(x, y)
            except (kubegym_eval.AgentError, kubegym_lm.CheckFailed) as exc:
                fail(str(exc))
            total -= float(logp.astype(np.float64).sum())
            count += y.size
    # The jails end (with ``with``) before the metrics leave this process.
    print(
        f"scored {count} tokens ({sequences} sequences of {SEQUENCE_LENGTH}); checked "
        f"{judge.rows_checked} rows, {judge.causal_checked} causality probes",
        file=sys.stderr,
    )
    kubegym_eval.report({"val_loss": total / count})


if __name__ == "__main__":
    main()
