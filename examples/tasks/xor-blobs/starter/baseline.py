"""Baseline: nearest class centroid."""

import numpy as np

train = np.loadtxt("data/train.csv", delimiter=",", skiprows=1)
points, labels = train[:, :2], train[:, 2].astype(int)
centroids = np.stack([points[labels == c].mean(axis=0) for c in (0, 1)])

inputs = np.loadtxt("data/inputs.csv", delimiter=",", skiprows=1)
ids, queries = inputs[:, 0].astype(int), inputs[:, 1:]
distances = ((queries[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
predictions = distances.argmin(axis=1)

with open("submission.csv", "w") as f:
    f.write("id,label\n")
    for i, p in zip(ids, predictions, strict=True):
        f.write(f"{i},{p}\n")
print(f"wrote {len(ids)} predictions to submission.csv")
