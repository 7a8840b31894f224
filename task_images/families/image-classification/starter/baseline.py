"""Baseline: a one-hidden-layer perceptron in NumPy, trained with MLGym's optimiser settings.

MLGym's baseline trains a small CNN with Hugging Face's Trainer defaults: AdamW
(learning rate 5e-5, weight decay 0.01), a linear schedule with 500 warm-up
steps, batches of 64, 10 epochs. This one keeps those settings and swaps the
CNN for a NumPy MLP, so it runs anywhere without PyTorch. `KUBEGYM_BUDGET`
(default 1) scales the number of epochs and the warm-up.

Reads data/train_images.npy, data/train_labels.npy and data/test_images.npy;
writes submission.csv with one `label` per test image, in order.
"""

import os
import time

# Batches of 64 are too small for BLAS threads to pay off: on a shared machine they only
# contend (tenfold slower). Set these variables yourself to use more threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings, which numpy reads on import)

EPOCHS = 10
BATCH = 64
LEARNING_RATE = 5e-5
WARMUP_STEPS = 500
WEIGHT_DECAY = 0.01
HIDDEN = 256
SEED = 42


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images as flat float32 rows scaled to [0, 1], and the training labels."""
    train_x = np.load("data/train_images.npy")
    train_x = train_x.reshape(len(train_x), -1).astype(np.float32) / 255.0
    train_y = np.load("data/train_labels.npy")
    test_x = np.load("data/test_images.npy")
    test_x = test_x.reshape(len(test_x), -1).astype(np.float32) / 255.0
    return train_x, train_y, test_x


class MLP:
    """input → ReLU(hidden) → 10 logits, trained with AdamW on the cross-entropy."""

    def __init__(self, inputs: int, hidden: int, classes: int, rng: np.random.Generator) -> None:
        self.params = {
            "w1": (rng.standard_normal((inputs, hidden)) * np.sqrt(2.0 / inputs)).astype(
                np.float32
            ),
            "b1": np.zeros(hidden, np.float32),
            "w2": (rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden)).astype(
                np.float32
            ),
            "b2": np.zeros(classes, np.float32),
        }
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.t = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        return np.maximum(x @ p["w1"] + p["b1"], 0.0) @ p["w2"] + p["b2"]

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        p = self.params
        h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        z = h @ p["w2"] + p["b2"]
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        loss = float(-np.log(prob[np.arange(len(y)), y] + 1e-12).mean())
        dz = prob
        dz[np.arange(len(y)), y] -= 1.0
        dz /= len(y)
        dh = (dz @ p["w2"].T) * (h > 0)
        grads = {"w1": x.T @ dh, "b1": dh.sum(0), "w2": h.T @ dz, "b2": dz.sum(0)}
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            decay = WEIGHT_DECAY * p[k] if k.startswith("w") else 0.0  # no decay on biases, as HF
            p[k] -= lr * (m_hat / (np.sqrt(v_hat) + eps) + decay)
        return loss


def main() -> None:
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    rng = np.random.default_rng(SEED)
    train_x, train_y, test_x = load()
    model = MLP(train_x.shape[1], HIDDEN, 10, rng)

    per_epoch = int(np.ceil(len(train_x) / BATCH))
    total = max(1, round(EPOCHS * budget * per_epoch))
    # The warm-up shrinks with the budget, and never takes more than a tenth of the steps.
    warmup = max(1, min(round(WARMUP_STEPS * budget), total // 10))
    print(f"training for {total} steps ({total / per_epoch:.2f} epochs), budget {budget:g}")
    started, step, losses = time.time(), 0, []
    while step < total:
        order = rng.permutation(len(train_x))
        for start in range(0, len(order), BATCH):
            if step >= total:
                break
            # Linear warm-up, then linear decay to zero (the Trainer's default schedule).
            lr = (
                LEARNING_RATE * (step + 1) / warmup
                if step < warmup
                else (LEARNING_RATE * max(0.0, (total - step) / max(1, total - warmup)))
            )
            batch = order[start : start + BATCH]
            losses.append(model.step(train_x[batch], train_y[batch], lr))
            step += 1
            if step % per_epoch == 0 or step == total:
                print(
                    f"step {step}: loss {np.mean(losses[-per_epoch:]):.4f} ({time.time() - started:.0f} s)"
                )

    predictions = np.concatenate(
        [model.logits(test_x[i : i + 4096]).argmax(axis=1) for i in range(0, len(test_x), 4096)]
    )
    with open("submission.csv", "w") as f:
        f.write("label\n")
        f.writelines(f"{int(p)}\n" for p in predictions)
    print(f"wrote {len(predictions)} predictions to submission.csv")


if __name__ == "__main__":
    main()
