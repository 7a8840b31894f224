"""Scores a fineweb-lm submission as MLGym does: the mean cross-entropy on 10,485,760 held-out FineWeb tokens.

Usage: evaluate.py --submission DIR --split validation|test --data tokens=SHARD

The submission is a folder holding ``model.py`` (defines ``Model`` and
``ModelConfig``), ``model.pt`` (the state dict, ``torch.save``) and
``model_config.pt`` (the pickled config). As in MLGym, the model is rebuilt
with ``Model(config)``, given the state dict (a ``module._orig_mod.`` prefix
from DDP/compile is dropped), and run under bfloat16 autocast on batches of 64
sequences of 1024 tokens, read consecutively from the shard; ``val_loss`` is
the mean of the per-batch losses. ``KUBEGYM_BUDGET`` (default 1: all 160
batches, MLGym's count) scales the number of batches.

The model's code (and its pickled config) runs only in the scorer's jail,
behind ``adapter.py``: this process never imports torch or the submission. The
jail answers kubegym_lm's protocol (the targets' log-probabilities, then full
rows at positions picked after the reply), and `kubegym_lm.Judge` checks every
batch (normalisation, consistency) and probes causality in a second jail on a
share of the batches. The loss is computed here from the checked
log-probabilities.

Reports ``val_loss`` (kubegym_eval.report); exits non-zero with the reason on
stderr when the submission is missing, malformed, or fails a check.
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

MAGIC = 20240520
BATCH, SEQUENCE_LENGTH = 64, 1024
EVAL_TOKENS = 10_485_760  # MLGym's val_tokens
REQUIRED = ("model.py", "model.pt", "model_config.pt")
LOAD_SECONDS = 600.0  # importing torch and initialising CUDA in a fresh jail
FORWARD_SECONDS = 300.0
# 16 random rows a batch; a quarter of the batches (and the first) probed for causality,
# 64 probes each: 40 of MLGym's 160 batches, +25 % forward passes. The causal tolerance
# allows bfloat16's rounding between two processes (~1 ulp of a logit near 10 is 0.06);
# it also bounds what a model can gain by bending its rows within it.
CHECKS = kubegym_lm.Checks(rows=16, causal_share=0.25, tolerance=2e-3, causal_tolerance=0.1)


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


def check_submission(folder: Path) -> None:
    """Everything that can be checked before loading torch (so it fails fast and clearly)."""
    if not folder.is_dir():
        fail(
            f"the submission must be a folder holding {', '.join(REQUIRED)}; {folder.name} is a file"
        )
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        fail(
            f"the submission folder lacks {', '.join(missing)} (it holds: {sorted(p.name for p in folder.iterdir())})"
        )


def start_model(folder: Path) -> kubegym_eval.Agent:
    """The submitted model, loaded in a jail of the scorer's (by hand: a child process)."""
    try:
        return kubegym_eval.start(
            "adapter.py", folder, timeout=LOAD_SECONDS, task_dir=Path(__file__).resolve().parent
        )
    except kubegym_eval.AgentError as exc:
        fail(str(exc))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    check_submission(args.submission)
    tokens = load_shard(Path(data["tokens"]))
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    available = min(EVAL_TOKENS, tokens.size - 1) // (BATCH * SEQUENCE_LENGTH)
    if available < 1:
        fail(f"the data shard holds {tokens.size} tokens: less than one batch (a task bug)")
    steps = max(1, min(available, math.ceil(available * budget)))
    # Two jails: the model scores; the probe, a fresh process that never sees the
    # scored batches, answers the causality probes.
    model = start_model(args.submission)
    probe = start_model(args.submission)
    judge = kubegym_lm.Judge(model, probe, vocab=50257, checks=CHECKS, timeout=FORWARD_SECONDS)
    total = 0.0
    with model, probe:
        for step in range(steps):
            start = step * BATCH * SEQUENCE_LENGTH
            chunk = tokens[start : start + BATCH * SEQUENCE_LENGTH + 1].astype(np.int64)
            x = chunk[:-1].reshape(BATCH, SEQUENCE_LENGTH)
            y = chunk[1:].reshape(BATCH, SEQUENCE_LENGTH)
            try:
                logp = judge.score(x, y)
            except (kubegym_eval.AgentError, kubegym_lm.CheckFailed) as exc:
                fail(str(exc))
            total += float(-logp.astype(np.float64).mean())
    loss = total / steps
    if not math.isfinite(loss):
        fail(f"the model's loss is {loss}, not a finite number")
    print(
        f"scored {steps} batches of {BATCH} x {SEQUENCE_LENGTH} tokens; checked "
        f"{judge.rows_checked} rows, {judge.causal_checked} causality probes",
        file=sys.stderr,
    )
    kubegym_eval.report({"val_loss": loss})


if __name__ == "__main__":
    main()
