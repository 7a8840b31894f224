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

Prints ``{"val_loss": …}`` last; exits non-zero with the reason on stderr when
the submission is missing or malformed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import pickle
import sys
from pathlib import Path

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

MAGIC = 20240520
BATCH, SEQUENCE_LENGTH = 64, 1024
EVAL_TOKENS = 10_485_760  # MLGym's val_tokens
REQUIRED = ("model.py", "model.pt", "model_config.pt")


def fail(message: str) -> None:
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


def load_model(folder: Path, device: str):  # returns a torch module
    import torch

    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("model", folder / "model.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["model"] = module
        spec.loader.exec_module(module)
        import __main__

        # MLGym's baseline pickles the config from __main__; accept both spellings.
        __main__.ModelConfig = module.ModelConfig
        with (folder / "model_config.pt").open("rb") as f:
            config = pickle.load(f)
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        state = {
            k.replace("module._orig_mod.", "").replace("_orig_mod.", ""): v
            for k, v in state.items()
        }
        model = module.Model(config)
        model.load_state_dict(state)
    except Exception as exc:  # anything here is the submission's fault
        fail(
            f"could not load the model (model.py, model_config.pt, model.pt): {type(exc).__name__}: {exc}"
        )
    return model.to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    check_submission(args.submission)
    tokens = load_shard(Path(data["tokens"]))
    sys.argv = sys.argv[:1]  # the agent's code gets no hint where the held-out data lives

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(args.submission, device)
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    available = min(EVAL_TOKENS, tokens.size - 1) // (BATCH * SEQUENCE_LENGTH)
    steps = max(1, min(available, math.ceil(available * budget)))
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")
    total = 0.0
    with torch.no_grad():
        for step in range(steps):
            start = step * BATCH * SEQUENCE_LENGTH
            chunk = torch.from_numpy(
                tokens[start : start + BATCH * SEQUENCE_LENGTH + 1].astype(np.int64)
            )
            x = chunk[:-1].view(BATCH, SEQUENCE_LENGTH).to(device)
            y = chunk[1:].view(BATCH, SEQUENCE_LENGTH).to(device)
            try:
                with autocast:
                    logits, _ = model(x, y, return_logits=True)
                logits = logits.float().view(-1, logits.size(-1))
            except Exception as exc:
                fail(f"the model's forward pass failed: {type(exc).__name__}: {exc}")
            total += torch.nn.functional.cross_entropy(logits, y.view(-1)).item()
    loss = total / steps
    if not math.isfinite(loss):
        fail(f"the model's loss is {loss}, not a finite number")
    print(f"scored {steps} batches of {BATCH} x {SEQUENCE_LENGTH} tokens", file=sys.stderr)
    kubegym_eval.report({"val_loss": loss})


if __name__ == "__main__":
    main()
