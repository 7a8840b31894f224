"""A trial's steps: one JSON line per step in ``trajectory.jsonl``, flushed as it happens.

Written by the agent loop (`kubegym.agent_runner.loop`) as the trial goes, so a
trial killed half-way still leaves every step it took; uploaded by the agent pod
and read by the report. The trial's end is `kubegym.api.results.TrialResult`,
written last as ``results.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubegym.api import results

TRAJECTORY = results.TRAJECTORY_JSONL


@dataclass
class Step:
    """One agent step, as recorded.

    The line's keys follow the fields' order, and ``step`` then ``action`` must stay
    first: the report cuts each action's tool name straight out of the bytes
    (`kubegym.report.loading.count_tools`). A field added later is read back with
    its default from a trajectory written before it (``edits``: none).
    """

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
    edits: list[dict[str, str]] = field(default_factory=list)
    """The files this step's editing tools wrote, each ``{"path", "diff"}``: the path relative
    to the workspace and a bounded unified diff (`kubegym.agent_runner.tools.file_edits`).
    Only tool edits: a shell command that changes files records none."""
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


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
