"""A trial's record: one JSON line per step, and `results.json` at the end.

Written by the agent loop (`kubegym.agent_runner.loop`) as the trial goes, so a
trial killed half-way still leaves every step it took; read back by the local
runner (resume, results.csv) and uploaded by the collector on a cluster.
`results.json` is written last and atomically: its presence means the trial
finished.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubegym.api import trials

FORMAT_VERSION = 1
TRAJECTORY = "trajectory.jsonl"
RESULTS = "results.json"


@dataclass
class Step:
    """One agent step, as recorded."""

    step: int
    action: str
    observation: str
    thought: str = ""
    exit_code: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    score: dict[str, Any] | None = None
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


@dataclass
class Results:
    """What a finished trial leaves: every score in order, the final score, the exit reason, totals."""

    trial: str
    task: str
    agent: str
    seed: int
    primary_metric: str
    direction: str
    exit_reason: str
    scores: list[dict[str, Any]]
    final: dict[str, float] | None
    score: float | None
    best_attempt: float | None
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    seconds: float
    attempt: int = 0
    message: str = ""
    failure_class: str | None = None
    started: str = ""
    finished: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    validations: int | None = None
    """validate calls the evaluator scored, from its ledger (never the agent's own count);
    None when this trial's evaluator was not here to count them."""
    validations_refused: int | None = None
    """validate calls the evaluator refused past the trial's ``maxValidations``."""
    format_version: int = FORMAT_VERSION

    @property
    def failed(self) -> bool:
        return self.failure_class is not None


class Recorder:
    """Appends steps to ``trajectory.jsonl`` in ``folder``, each flushed as it happens.

    ``results.json`` is the caller's to write (`write_json_atomic`), once the
    trial's other artifacts are safe: its presence is what marks a trial finished.
    """

    def __init__(self, folder: Path, on_step: Callable[[Step], None] | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # A rerun of an unfinished trial starts its trajectory again.
        self._file = (folder / TRAJECTORY).open("w", encoding="utf-8")
        self._on_step = on_step

    def step(self, step: Step) -> None:
        self._file.write(json.dumps(asdict(step), ensure_ascii=False) + "\n")
        self._file.flush()
        if self._on_step is not None:
            self._on_step(step)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def best_attempt(scores: list[trials.Score], metric: str, direction: str) -> float | None:
    """The best hidden test score over every validate and submit (MLGym's "best attempt")."""
    values = [s.test_metrics[metric] for s in scores if s.test_metrics and metric in s.test_metrics]
    if not values:
        return None
    return max(values) if direction == "max" else min(values)


def read_results(folder: Path) -> Results | None:
    """The results of a finished trial in ``folder``, or None when it has not finished."""
    path = folder / RESULTS
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format_version") != FORMAT_VERSION:
        return None
    return Results(**data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
