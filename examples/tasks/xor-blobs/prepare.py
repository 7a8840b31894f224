"""Makes the xor-blobs task's data: two classes in an XOR layout, which no straight line separates.

The agent sees `data/train.csv` (x1, x2, label) and `data/inputs.csv` (id, x1,
x2) for the validation and test points mixed together; their labels stay in
`hidden/` for the evaluator. Deterministic (the task YAML pins the sha256).
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = np.random.default_rng(20260202)
    n = 800
    centres = np.array([[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]])
    which = rng.integers(0, 4, size=n)
    points = centres[which] + rng.normal(0.0, 0.6, size=(n, 2))
    labels = (which >= 2).astype(int)  # the diagonal pairs share a class: XOR
    train, valid, test = np.split(np.arange(n), [400, 500])
    write(
        HERE / "data" / "train.csv",
        ["x1", "x2", "label"],
        [[f"{points[i, 0]:.6f}", f"{points[i, 1]:.6f}", int(labels[i])] for i in train],
    )
    held = np.concatenate([valid, test])
    order = rng.permutation(held.size)
    write(
        HERE / "data" / "inputs.csv",
        ["id", "x1", "x2"],
        [[int(held[k]), f"{points[held[k], 0]:.6f}", f"{points[held[k], 1]:.6f}"] for k in order],
    )
    write(HERE / "hidden" / "valid.csv", ["id", "label"], [[int(i), int(labels[i])] for i in valid])
    write(HERE / "hidden" / "test.csv", ["id", "label"], [[int(i), int(labels[i])] for i in test])


if __name__ == "__main__":
    main()
