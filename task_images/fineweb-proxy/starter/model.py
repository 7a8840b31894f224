"""The baseline's language model, in numpy: a feed-forward n-gram network (Bengio et al., 2003).

The next token is predicted from the last `context` tokens: their embeddings are
concatenated, go through one ReLU layer, and a linear layer gives the logits
over the vocabulary. Positions near the start of a sequence see `<|endoftext|>`
in place of the tokens before it.

The evaluator imports this file from the submission folder and calls
``Model.load(folder)`` then ``model.forward(idx)``; any model that keeps that
interface (and stays causal) can be submitted.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

PARAMS = ("wte", "w1", "b1", "w2", "b2")


@dataclasses.dataclass
class ModelConfig:
    vocab_size: int = 8192
    context: int = 3  # tokens the prediction looks at
    n_embd: int = 64
    n_hidden: int = 128
    eot: int = 0  # the <|endoftext|> token, used as left padding


class Model:
    def __init__(self, config: ModelConfig, params: dict[str, np.ndarray] | None = None) -> None:
        self.config = config
        if params is None:
            params = self.initial_params(np.random.default_rng(0))
        self.params = params

    def initial_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        fan_in = c.context * c.n_embd
        return {
            "wte": (rng.standard_normal((c.vocab_size, c.n_embd)) * 0.5).astype(np.float32),
            "w1": (rng.standard_normal((fan_in, c.n_hidden)) / np.sqrt(fan_in)).astype(np.float32),
            "b1": np.zeros(c.n_hidden, np.float32),
            "w2": np.zeros((c.n_hidden, c.vocab_size), np.float32),
            "b2": np.zeros(c.vocab_size, np.float32),
        }

    # -- the forward pass --------------------------------------------------

    def windows(self, idx: np.ndarray) -> np.ndarray:
        """(B, T) tokens → (B, T, context): for each position, the tokens up to and including it."""
        k = self.config.context
        padded = np.concatenate(
            [np.full((idx.shape[0], k - 1), self.config.eot, idx.dtype), idx], 1
        )
        return np.stack([padded[:, i : i + idx.shape[1]] for i in range(k)], axis=-1)

    def hidden(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, context) tokens → the concatenated embeddings and the ReLU layer's output."""
        p = self.params
        x = p["wte"][ctx].reshape(ctx.shape[0], -1)
        return x, np.maximum(x @ p["w1"] + p["b1"], 0.0)

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """(B, T) int tokens → (B, T, vocab) logits of the token that follows each position."""
        b, t = idx.shape
        _, h = self.hidden(self.windows(idx).reshape(b * t, -1))
        logits = h @ self.params["w2"] + self.params["b2"]
        return logits.reshape(b, t, -1)

    # -- training ----------------------------------------------------------

    def loss_and_grads(self, ctx: np.ndarray, targets: np.ndarray) -> tuple[float, dict]:
        """Mean cross-entropy of ``targets`` given (N, context) windows, and its gradients."""
        p, n = self.params, ctx.shape[0]
        x, h = self.hidden(ctx)
        logits = h @ p["w2"] + p["b2"]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -float(np.mean(np.log(probs[np.arange(n), targets] + 1e-30)))
        d_logits = probs
        d_logits[np.arange(n), targets] -= 1.0
        d_logits /= n
        d_h = (d_logits @ p["w2"].T) * (h > 0)
        d_x = (d_h @ p["w1"].T).reshape(n * self.config.context, -1)
        d_wte = np.zeros_like(p["wte"])
        np.add.at(d_wte, ctx.reshape(-1), d_x)
        grads = {
            "wte": d_wte,
            "w1": x.T @ d_h,
            "b1": d_h.sum(axis=0),
            "w2": h.T @ d_logits,
            "b2": d_logits.sum(axis=0),
        }
        return loss, grads

    # -- saving and loading ------------------------------------------------

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model_config.json").write_text(json.dumps(dataclasses.asdict(self.config)))
        np.savez(folder / "model.npz", **self.params)

    @classmethod
    def load(cls, folder: str | Path) -> Model:
        folder = Path(folder)
        config = ModelConfig(**json.loads((folder / "model_config.json").read_text()))
        with np.load(folder / "model.npz") as weights:
            params = {name: weights[name].astype(np.float32) for name in PARAMS}
        return cls(config, params)
