"""Makes the polyfit task's data: a noisy 1-D curve, split into train, validation and test.

The agent sees `data/train.csv` (x, y) and `data/inputs.csv` (id, x) for the
validation and test points mixed together; the labels of those points stay in
`hidden/`, which only the evaluator reads. Deterministic: running it twice
gives the same bytes (the task YAML pins their sha256).
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def curve(x: np.ndarray) -> np.ndarray:
    return 2.0 * np.sin(2.5 * x) + 0.3 * x**2 + 0.9 * x


def write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = np.random.default_rng(20260101)
    x = rng.uniform(-3.0, 3.0, size=600)
    y = curve(x) + rng.normal(0.0, 0.25, size=x.size)
    train, valid, test = np.split(np.arange(x.size), [300, 400])
    write(HERE / "data" / "train.csv", ["x", "y"], [[f"{x[i]:.6f}", f"{y[i]:.6f}"] for i in train])
    held = np.concatenate([valid, test])
    order = rng.permutation(held.size)
    write(
        HERE / "data" / "inputs.csv",
        ["id", "x"],
        [[int(held[k]), f"{x[held[k]]:.6f}"] for k in order],
    )
    write(HERE / "hidden" / "valid.csv", ["id", "y"], [[int(i), f"{y[i]:.6f}"] for i in valid])
    write(HERE / "hidden" / "test.csv", ["id", "y"], [[int(i), f"{y[i]:.6f}"] for i in test])


if __name__ == "__main__":
    main()
