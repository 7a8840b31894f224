"""Makes the cifar10-proxy task's data: synthetic 32x32 colour images of 10 classes.

A PROXY, never CIFAR-10: kubegym has no offline copy of CIFAR-10, so this task
stands in for it on machines without a network. Each class is a kind of shape
(disc, square, triangle, ring, bars, stripes, cross, chequer, two blobs, arc)
drawn at a random place, size, angle and colour on a random two-tone
background, with clutter and pixel noise; classes lean towards some colours,
as CIFAR-10's do (ships are often blue), without being told by them. Pixel
models get part of the way; models that see shapes (convolutions) do far
better.

Called as ``prepare.py --out DIR``; writes the same files as the cifar10 task
(see its prepare.py), deterministically: every random draw comes from one seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 20250215
SIZE = 32
CLASSES = 10
TRAIN, TEST = 25_000, 5_000  # CIFAR-10 has 50,000 and 10,000: smaller, so CPUs cope
VALIDATION_SHARE = 0.1  # of the training set, held out for `validate`, as for cifar10

CHUNK = 2_500  # images made at once (vectorised), each chunk from its own seeded stream

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
# Each class's preferred hue (0-1): a tendency, followed half of the time.
_HUES = np.linspace(0.0, 1.0, CLASSES, endpoint=False)[[3, 7, 1, 9, 5, 0, 8, 2, 6, 4]]


def _hsv(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB colours (n×3, 0-1) from hues, saturations and values (n each)."""
    i = (np.floor(h * 6.0).astype(np.int64) % 6)[:, None]
    f = (h * 6.0 - np.floor(h * 6.0))[:, None]
    s, v = s[:, None], v[:, None]
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [
        np.concatenate(c, axis=1)
        for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))
    ]
    return np.select([i == k for k in range(6)], choices).astype(np.float32)


def _random_colours(
    n: int, rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]
) -> np.ndarray:
    return _hsv(rng.random(n), rng.uniform(*s, size=n), rng.uniform(*v, size=n))


def _mask(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The soft masks (n×32×32, 0-1) of one class's shape, in shape coordinates (unit = size)."""
    d = np.hypot(u, v)
    edge = 0.12  # softness of the edges, in shape units
    box = np.maximum(abs(u), abs(v))
    if label == 0:  # disc
        m = (1 - d) / edge
    elif label == 1:  # square
        m = (0.85 - box) / edge
    elif label == 2:  # triangle
        m = np.minimum(np.minimum(v + 0.5, 0.5 - v - 1.6 * u), 0.5 - v + 1.6 * u) / edge
    elif label == 3:  # ring
        m = (0.25 - abs(d - 0.75)) / edge
    elif label == 4:  # horizontal bars
        m = np.minimum(np.cos(v * np.pi * 2.2) * 2.0, (1.0 - box) / edge)
    elif label == 5:  # vertical bars
        m = np.minimum(np.cos(u * np.pi * 2.2) * 2.0, (1.0 - box) / edge)
    elif label == 6:  # cross
        m = np.minimum((0.28 - np.minimum(abs(u), abs(v))) / edge, (1.0 - d) / edge)
    elif label == 7:  # chequer
        m = np.minimum(np.sign(np.sin(u * 4.5) * np.sin(v * 4.5)) * 3.0, (1.0 - d) / edge)
    elif label == 8:  # two blobs
        m = np.maximum(0.45 - np.hypot(u - 0.55, v), 0.45 - np.hypot(u + 0.55, v)) / edge
    else:  # an arc: a ring open on one side
        m = np.minimum((0.22 - abs(d - 0.7)) / edge, (u + 0.2) / edge)
    return np.clip(m, 0.0, 1.0)


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 32x32x3 uint8 image per label."""
    n = len(labels)
    # The shape: where, how big, at what angle (bars stay near their orientation).
    cy, cx = rng.uniform(10, 22, size=(2, n, 1, 1)).astype(np.float32)
    r = rng.uniform(5.5, 10.0, size=(n, 1, 1)).astype(np.float32)
    free = rng.uniform(0, 2 * np.pi, size=n)
    near = rng.uniform(-0.35, 0.35, size=n)
    angle = np.where(np.isin(labels, (4, 5)), near, free)[:, None, None].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u = (c * (_XX - cx) + s * (_YY - cy)) / r
    v = (-s * (_XX - cx) + c * (_YY - cy)) / r
    mask = np.empty((n, SIZE, SIZE), np.float32)
    for label in range(CLASSES):
        mine = labels == label
        mask[mine] = _mask(label, u[mine], v[mine])

    # Its colour: near the class's hue half of the time, any hue otherwise.
    leaning = rng.random(n) < 0.5
    hue = np.where(leaning, _HUES[labels] + rng.normal(0, 0.05, size=n), rng.random(n)) % 1.0
    fg = _hsv(hue, rng.uniform(0.4, 1.0, size=n), rng.uniform(0.45, 1.0, size=n))

    # The background: a ramp between two colours, with one to three small rectangles of clutter.
    bg1 = _random_colours(n, rng, (0.0, 0.7), (0.1, 0.9))
    bg2 = _random_colours(n, rng, (0.0, 0.7), (0.1, 0.9))
    slope = rng.uniform(-1, 1, size=(2, n, 1, 1)).astype(np.float32)
    ramp = np.clip(0.5 + (slope[0] * (_XX - 16) + slope[1] * (_YY - 16)) / 32, 0, 1)[..., None]
    img = ramp * bg1[:, None, None, :] + (1 - ramp) * bg2[:, None, None, :]
    clutter = rng.integers(1, 4, size=n)
    for k in range(3):
        y0, x0 = rng.integers(0, SIZE - 4, size=(2, n, 1, 1))
        h, w = rng.integers(2, 8, size=(2, n, 1, 1))
        colour = _random_colours(n, rng, (0.0, 1.0), (0.2, 1.0))
        inside_rows = (y0 <= _YY) & (y0 + h > _YY)
        inside_cols = (x0 <= _XX) & (x0 + w > _XX)
        box = inside_rows & inside_cols & (k < clutter)[:, None, None]
        img = np.where(box[..., None], colour[:, None, None, :], img)

    img = mask[..., None] * fg[:, None, None, :] + (1 - mask[..., None]) * img
    noise = rng.uniform(0.04, 0.14, size=(n, 1, 1, 1)).astype(np.float32)
    img += rng.standard_normal(size=img.shape, dtype=np.float32) * noise
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def make(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images with balanced, shuffled labels, made chunk by chunk."""
    labels = np.random.default_rng([seed, 0]).permutation(np.arange(count) % CLASSES)
    images = np.concatenate(
        [
            _images(
                labels[start : start + CHUNK], np.random.default_rng([seed, 1 + start // CHUNK])
            )
            for start in range(0, count, CHUNK)
        ]
    )
    return images, labels.astype(np.int64)


def write_labels(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("label\n" + "".join(f"{int(v)}\n" for v in labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="unused: no sources")
    args = parser.parse_args()

    train_x, train_y = make(TRAIN, SEED)
    test_x, test_y = make(TEST, SEED + 1)
    rng = np.random.default_rng(SEED)

    # The same split as the cifar10 task: hold out part of the training set for
    # `validate`, and shuffle it in with the test images the agent labels.
    order = rng.permutation(len(train_x))
    n_valid = round(VALIDATION_SHARE * len(train_x))
    valid_idx, keep_idx = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    images = np.concatenate([test_x, train_x[valid_idx]])
    split = np.concatenate([np.zeros(len(test_x), np.int8), np.ones(n_valid, np.int8)])
    labels = np.concatenate([test_y, train_y[valid_idx]])
    shuffle = rng.permutation(len(images))
    images, split, labels = images[shuffle], split[shuffle], labels[shuffle]

    out: Path = args.out
    (out / "data").mkdir(parents=True, exist_ok=True)
    np.save(out / "data" / "train_images.npy", np.ascontiguousarray(train_x[keep_idx]))
    np.save(out / "data" / "train_labels.npy", np.ascontiguousarray(train_y[keep_idx]))
    np.save(out / "data" / "test_images.npy", np.ascontiguousarray(images))
    write_labels(out / "hidden" / "test.csv", np.where(split == 0, labels, -1))
    write_labels(out / "hidden" / "validation.csv", np.where(split == 1, labels, -1))
    print(
        f"train {len(keep_idx)}, to label {len(images)} ({len(test_x)} test, {n_valid} validation)"
    )


if __name__ == "__main__":
    main()
