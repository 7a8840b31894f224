"""The fineweb-lm task's adapter: the submitted torch model, loaded and run in the scorer's jail.

Run by ``kubegym_eval serve`` inside the jail (or a plain child process when
evaluate.py runs by hand); torch is imported here, in the jail, never by the
evaluation. As in MLGym, the model is rebuilt with ``Model(config)`` from the
submission's ``model.py`` and ``model_config.pt`` (a pickle: unpickled here,
in the jail), given the state dict of ``model.pt`` (a ``module._orig_mod.``
prefix from DDP/compile is dropped), and run as ``model(x, y,
return_logits=True)`` under bfloat16 autocast on a GPU. It answers
kubegym_lm's protocol: the log-probabilities of the targets (a float32
log-softmax of the logits, one sequence at a time, so 64 × 1024 × 50,304
logits never leave the device), then the full rows evaluate.py picks.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import kubegym_eval
import kubegym_lm
import numpy as np


class TorchOutput:
    """One forward pass's logits, kept on the device until the next request."""

    def __init__(self, torch: Any, logits: Any, y: Any) -> None:
        self.torch, self.logits, self.y = torch, logits, y
        if logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(y.shape):
            raise kubegym_eval.Refusal(
                f"the model returned logits of shape {tuple(logits.shape)}; "
                f"expected {(*y.shape, 'vocab')}"
            )

    def logprobs(self) -> kubegym_lm.Floats:
        torch = self.torch
        out = []
        for b in range(self.logits.shape[0]):  # one sequence at a time: float32 rows are big
            rows = torch.log_softmax(self.logits[b].float(), dim=-1)
            out.append(rows.gather(-1, self.y[b][:, None])[:, 0].cpu().numpy())
        return np.stack(out).astype(np.float32)

    def rows(self, positions: kubegym_lm.Tokens) -> kubegym_lm.Floats:
        torch = self.torch
        picked = self.logits[torch.from_numpy(positions[:, 0]), torch.from_numpy(positions[:, 1])]
        return np.asarray(torch.log_softmax(picked.float(), dim=-1).cpu().numpy(), np.float32)


def setup(submission: Path, options: dict[str, Any]) -> kubegym_eval.Handler:
    """Load the model (torch, in the jail); the handler runs one forward pass per batch."""
    sys.path.insert(0, str(submission))
    try:
        module = kubegym_eval.load_module("model", submission / "model.py")
    except Exception as exc:
        raise kubegym_eval.Refusal(
            f"could not import model.py: {type(exc).__name__}: {exc}"
        ) from None
    try:
        import torch
    except ImportError as exc:
        raise kubegym_eval.Refusal(f"the task's environment lacks torch: {exc}") from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        import __main__

        # MLGym's baseline pickles the config from __main__; accept both spellings.
        __main__.ModelConfig = module.ModelConfig  # type: ignore[attr-defined]
        with (submission / "model_config.pt").open("rb") as f:
            config = pickle.load(f)
        state = torch.load(submission / "model.pt", map_location="cpu", weights_only=True)
        state = {
            k.replace("module._orig_mod.", "").replace("_orig_mod.", ""): v
            for k, v in state.items()
        }
        model = module.Model(config)
        model.load_state_dict(state)
        model = model.to(device).eval()
    except Exception as exc:  # anything here is the submission's fault
        raise kubegym_eval.Refusal(
            "could not load the model (model.py, model_config.pt, model.pt): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")

    def forward(x: kubegym_lm.Tokens, y: kubegym_lm.Tokens) -> kubegym_lm.Output:
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.no_grad(), autocast:
            logits, _ = model(xt, yt, return_logits=True)
        return TorchOutput(torch, logits, yt)

    return kubegym_lm.handler(forward, name="model(x, y, return_logits=True)")
