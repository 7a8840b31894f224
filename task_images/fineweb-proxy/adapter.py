"""The fineweb-proxy task's adapter: the submitted model's forward pass, in the scorer's jail.

Run by ``kubegym_eval serve`` inside the jail (or a plain child process when
evaluate.py runs by hand). It loads ``model.Model.load(folder)`` from the
jail's copy of the submission; each ``{"op": "forward"}`` request carries one
int64 array of token ids (B, T) and is answered with the raw float32 logits
(B, T, vocab). evaluate.py checks their shape and finiteness and computes the
loss itself: the model never sees the targets' scoring or the metrics channel.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kubegym_eval
import numpy as np


def setup(submission: Path, options: dict[str, Any]) -> kubegym_eval.Handler:
    """Load the model; the handler runs one forward pass per request."""
    sys.path.insert(0, str(submission))
    try:
        module = kubegym_eval.load_module("model", submission / "model.py")
        model = module.Model.load(str(submission))
    except Exception as exc:  # anything the agent's code raises is the submission's fault
        raise kubegym_eval.Refusal(
            f"could not load the model with model.Model.load: {type(exc).__name__}: {exc}"
        ) from None

    def forward(header: dict[str, Any], arrays: kubegym_eval.Arrays) -> Any:
        dtype, shape, raw = arrays[0]
        idx = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
        try:
            logits = np.ascontiguousarray(np.asarray(model.forward(idx), dtype="<f4"))
        except Exception as exc:
            raise kubegym_eval.Refusal(
                f"model.forward failed: {type(exc).__name__}: {exc}"
            ) from None
        return {}, [("<f4", tuple(logits.shape), logits.tobytes())]

    return forward
