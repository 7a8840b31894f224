"""The fineweb-proxy task's adapter: the submitted model's forward pass, in the scorer's jail.

Run by ``kubegym_eval serve`` inside the jail (or a plain child process when
evaluate.py runs by hand). It loads ``model.Model.load(folder)`` from the
jail's copy of the submission and answers kubegym_lm's protocol: the
log-probabilities of a batch's targets, then the full log-softmax rows the
evaluation picks, both computed here from ``model.forward(idx)``'s logits.
evaluate.py checks them (normalisation, consistency, causality) and computes
the loss itself: the model never touches the score or the metrics channel.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kubegym_eval
import kubegym_lm


def setup(submission: Path, options: dict[str, Any]) -> kubegym_eval.Handler:
    """Load the model; the handler runs one forward pass per ``logprobs`` request."""
    sys.path.insert(0, str(submission))
    try:
        module = kubegym_eval.load_module("model", submission / "model.py")
        model = module.Model.load(str(submission))
    except Exception as exc:  # anything the agent's code raises is the submission's fault
        raise kubegym_eval.Refusal(
            f"could not load the model with model.Model.load: {type(exc).__name__}: {exc}"
        ) from None

    def forward(x: kubegym_lm.Tokens, y: kubegym_lm.Tokens) -> kubegym_lm.Output:
        return kubegym_lm.Logits(model.forward(x.copy()), y)

    return kubegym_lm.handler(forward)
