"""Baseline: train the GPT of model.py on the FineWeb shards, as MLGym's baseline does, and save a submission.

Run: ``python baseline.py`` (one GPU; gradient accumulation makes up MLGym's
batch of 8 x 64 sequences of 1024 tokens). Settings at ``KUBEGYM_BUDGET=1``
are MLGym's: 500 iterations; Adam for the embedding (lr 0.3) and the head
(lr 0.002), Muon (lr 0.02, momentum 0.95, Nesterov) for the blocks; a linear
warmdown of 1308 iterations (longer than the run, so the rate decays from the
first step). ``KUBEGYM_BUDGET`` scales the iterations.

Writes ``submission/``: ``model.py``, ``model.pt`` (the state dict) and
``model_config.pt`` (the pickled `ModelConfig`).
"""

from __future__ import annotations

import glob
import os
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from model import Model, ModelConfig

TRAIN_GLOB = "data/fineweb10B/fineweb_train_*.bin"
ITERATIONS = 500
BATCH = 8 * 64  # sequences per iteration
DEVICE_BATCH = 64  # sequences per forward pass
SEQUENCE_LENGTH = 1024
WARMDOWN = 1308


def load_shard(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        assert header[0] == 20240520 and header[1] == 1, f"{path}: not a fineweb10B shard"
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    assert tokens.size == header[2], f"{path}: truncated"
    return tokens


class Batches:
    """Consecutive (x, y) batches of B sequences of T tokens, shard after shard."""

    def __init__(self, pattern: str, b: int, t: int, device: str) -> None:
        self.files = sorted(glob.glob(pattern))
        assert self.files, f"no shard matches {pattern}"
        self.b, self.t, self.device = b, t, device
        self.shard, self.position = 0, 0
        self.tokens = load_shard(self.files[0])

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.b * self.t
        if self.position + n + 1 > self.tokens.size:
            self.shard = (self.shard + 1) % len(self.files)
            self.tokens, self.position = load_shard(self.files[self.shard]), 0
        chunk = torch.from_numpy(
            self.tokens[self.position : self.position + n + 1].astype(np.int64)
        )
        self.position += n
        x, y = chunk[:-1].view(self.b, self.t), chunk[1:].view(self.b, self.t)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def orthogonalize(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Newton-Schulz iteration towards the nearest semi-orthogonal matrix (Muon's update)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.bfloat16() if g.is_cuda else g.float()
    x = x / (x.norm() + eps)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """SGD with Nesterov momentum whose 2-D updates are orthogonalized (Keller Jordan's Muon)."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p.grad))
                buf.mul_(group["momentum"]).add_(p.grad)
                g = p.grad.add(buf, alpha=group["momentum"])
                update = orthogonalize(g) * max(1.0, g.size(0) / g.size(1)) ** 0.5
                p.add_(update, alpha=-group["lr"])


def main() -> None:
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    iterations = max(1, round(ITERATIONS * budget))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    accumulation = BATCH // DEVICE_BATCH
    batches = Batches(TRAIN_GLOB, DEVICE_BATCH, SEQUENCE_LENGTH, device)

    model = Model(ModelConfig()).to(device)
    optimizers = [
        torch.optim.Adam([model.transformer.wte.weight], lr=0.3, betas=(0.9, 0.95)),
        torch.optim.Adam([model.lm_head.weight], lr=0.002, betas=(0.9, 0.95)),
        Muon(model.transformer.h.parameters(), lr=0.02, momentum=0.95),
    ]

    def schedule(it: int) -> float:
        return 1.0 if it < iterations - WARMDOWN else (iterations - it) / WARMDOWN

    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in optimizers]
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")
    started = time.time()
    for it in range(iterations):
        for _ in range(accumulation):
            x, y = batches.next()
            with autocast:
                _, loss = model(x, y, return_logits=False)
            (loss / accumulation).backward()
        for opt, sched in zip(optimizers, schedulers, strict=True):
            opt.step()
            sched.step()
        model.zero_grad(set_to_none=True)
        print(
            f"step {it + 1}/{iterations} train_loss {loss.item():.4f} ({time.time() - started:.0f} s)"
        )

    out = Path("submission")
    out.mkdir(exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    with open(out / "model_config.pt", "wb") as f:
        pickle.dump(model.get_config(), f)
    shutil.copyfile(Path(__file__).with_name("model.py"), out / "model.py")
    print("wrote submission/ (model.py, model.pt, model_config.pt)")


if __name__ == "__main__":
    main()
