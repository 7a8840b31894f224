"""What the results index answers with: runs, trials, pages of trials, score points, ingest reports.

Plain frozen dataclasses, built by `kubegym.index.queries` from the tables of
`kubegym.index.schema` and read by the viewer, ``kubegym index`` and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunRow:
    """A run in the index.

    Attributes:
        run_id: opaque and unique: derived from `source` (`kubegym.index.run_id`).
        name: the run's name (its leaderboard.json's, else its folder's).
        source: where it was read from (a folder path or an ``s3://`` URI).
        status: its phase from status.json (``Running``, ``Succeeded``…), None without one.
        started: when it started (status.json, else its first trial), ISO 8601.
        finished: when it ended (status.json's completion time), ISO 8601.
        trials: trials in its grid (status.json), at least those finished.
        finished_trials: trials with a result.
        failed_trials: finished trials that failed (agent or infrastructure).
        agents: its agents, sorted.
        tasks: its tasks, sorted.
        cost_usd: the model spend of its finished trials.
        updated: when the index last changed the run (UTC, ISO 8601).
    """

    run_id: str
    name: str
    source: str
    status: str | None
    started: str | None
    finished: str | None
    trials: int
    finished_trials: int
    failed_trials: int
    agents: tuple[str, ...]
    tasks: tuple[str, ...]
    cost_usd: float
    updated: str


@dataclass(frozen=True)
class TrialRow:
    """A finished trial in the index: the result fields the report reads, and where its steps are.

    `message` is cut at `kubegym.index.schema.MESSAGE_LIMIT` characters; `complete`
    says whether anything was cut. `trajectory` is the path of its
    ``trajectory.jsonl`` relative to the run's source (None when it has none).
    """

    run_id: str
    trial: str
    task: str
    agent: str
    seed: int
    attempt: int
    exit_reason: str
    failure_class: str | None
    message: str
    primary_metric: str
    direction: str
    score: float | None
    best_attempt: float | None
    last_score: float | None
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    seconds: float | None
    validations: int | None
    started: str
    finished: str
    folder: str
    trajectory: str | None
    complete: bool


@dataclass(frozen=True)
class TrialPage:
    """One page of a run's trials, ordered by task, agent, seed, trial.

    Attributes:
        rows: the trials of this page.
        next_cursor: pass it as ``cursor`` for the next page; None on the last.
        total: trials matching the filters, over every page.
    """

    rows: list[TrialRow]
    next_cursor: str | None
    total: int


@dataclass(frozen=True)
class ScorePoint:
    """One trial's scores in a task's history, ordered by when it finished."""

    run_id: str
    run: str
    trial: str
    agent: str
    seed: int
    finished: str
    score: float | None
    best_attempt: float | None
    exit_reason: str


@dataclass
class RunIngest:
    """What one ingest did to one run.

    Attributes:
        run_id: the run.
        name: its name.
        source: where it was read from.
        added: trials new to the index.
        updated: trials whose row changed (a new attempt, a rewritten result).
        removed: trials gone from the source (their rows deleted).
        unchanged: results.json files left alone (same fingerprint as last time).
        read: results.json files read this time.
        skipped: notes on files not taken, or taken with doubt, each naming the path.
    """

    run_id: str
    name: str
    source: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    read: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def wrote(self) -> bool:
        """Whether anything was written for this run."""
        return bool(self.added or self.updated or self.removed or self.read)


@dataclass
class IngestReport:
    """What an ingest did, run by run."""

    runs: list[RunIngest] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(r.added for r in self.runs)

    @property
    def updated(self) -> int:
        return sum(r.updated for r in self.runs)

    @property
    def removed(self) -> int:
        return sum(r.removed for r in self.runs)

    @property
    def unchanged(self) -> int:
        return sum(r.unchanged for r in self.runs)

    @property
    def read(self) -> int:
        return sum(r.read for r in self.runs)

    @property
    def skipped(self) -> list[str]:
        return [note for r in self.runs for note in r.skipped]


__all__ = ["IngestReport", "RunIngest", "RunRow", "ScorePoint", "TrialPage", "TrialRow"]
