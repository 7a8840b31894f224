"""What the run-reading benches share: timing a call, and the baseline they are measured against.

Imported by bench/report_scale.py, bench/index_scale.py and bench/viewer_load.py (a bench
script's own folder is first on ``sys.path``). The baseline is the least any reader of a run
folder must do: list the trials and ``json.load`` every results.json.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def read_every_results(folder: Path) -> int:
    """The baseline: list the trials of the run folder and ``json.load`` every results.json."""
    count = 0
    with os.scandir(folder / "trials") as entries:
        for entry in entries:
            path = os.path.join(entry.path, "results.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    json.load(f)
                count += 1
    return count


def once(fn: Callable[[], object]) -> float:
    """Seconds one call of `fn` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The median of `repeat` timed calls of `fn`."""
    return statistics.median(once(fn) for _ in range(repeat))
