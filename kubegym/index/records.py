"""A run's trial results as readers use them: one `TrialRecord` per finished trial, with notes.

One reading of ``results.json`` for everyone: the index's ingest stores what
`parse` returns, and `kubegym report` (`kubegym.report.loading`) builds its
tables from the same records, whether it read the files itself (`load`) or
took them from the index. That is what makes a report from the index the same
report, byte for byte.

The path is trusted, not the file: a trial's id (and, in the store's layout,
its attempt) come from its folder, so a results.json that claims another
trial cannot replace that trial's result; the claim is kept as a note.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pydantic

from kubegym.api import results as results_api
from kubegym.index import sources
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring import submissions
from kubegym.scoring.columns import BEST_ATTEMPT, DIRECTION, SEED, TASK

TRIAL: Final = "trial"
AGENT: Final = leaderboards.AGENT
RESULT_COLUMNS: Final = (
    TRIAL,
    TASK,
    AGENT,
    SEED,
    "attempt",
    "exit_reason",
    "failure_class",
    "message",
    "primary_metric",
    DIRECTION,
    "score",
    BEST_ATTEMPT,
    "steps",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "seconds",
)
"""The fields of a trial's results.json (`kubegym.api.results.TrialResult`) the report reads."""

TRIAL_ID_LIMIT: Final = 160
"""The longest trial id read (kubegym's are DNS labels, 63 at most); a longer folder name is
someone else's file, and would not fit a database index on every database."""

AUDIT_FIELDS: Final = (
    "trial",
    "task",
    "agent",
    "seed",
    "steps",
    "scores",
    "details",
    "validations",
    "exit_reason",
    "failure_class",
    "message",
    "egress",
)
"""What the report's integrity audit reads of a results.json: its ``RESULT_FIELDS`` are these,
kept here because the index reads results.json for the report and may not import it."""


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial's result, as read from its folder.

    Attributes:
        trial: the trial's id, from its folder's path.
        attempt: the attempt, from the folder (``attempt-<n>``) or else the file.
        folder: the trial folder relative to the run (``trials/<id>``, ``<id>/attempt-<n>``).
        values: `RESULT_COLUMNS`' values, then the trial's score under MLGym's last-score rule.
        audit: what the integrity audit reads (`AUDIT_FIELDS`, ``details`` cut to
            its validations).
        validations: validate calls the evaluator scored (None when not counted).
        started: when the trial started, as the file writes it.
        finished: when it ended, as the file writes it.
    """

    trial: str
    attempt: int
    folder: str
    values: tuple[Any, ...]
    audit: dict[str, Any]
    validations: int | None = None
    started: str = ""
    finished: str = ""

    def value(self, column: str) -> Any:
        """One of `RESULT_COLUMNS`' values."""
        return self.values[RESULT_COLUMNS.index(column)]

    @property
    def last_score(self) -> float | None:
        """The trial's score under MLGym's last-score rule (`submissions.last_score`)."""
        last: float | None = self.values[len(RESULT_COLUMNS)]
        return last


@dataclass(frozen=True)
class Parsed:
    """What one results.json gave: its record (None when skipped) and notes on it."""

    path: str
    record: TrialRecord | None
    notes: tuple[str, ...] = ()


@dataclass
class Trials:
    """A run's finished trials, one record per trial id, and the notes on files read."""

    records: dict[str, TrialRecord] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def results_paths(files: Iterable[str]) -> list[str]:
    """The results.json of every trial folder in a listing, in folder order."""
    present = set(files)
    return [
        path
        for folder in sorted(sources.trial_folders(present))
        if (path := f"{folder}/{results_api.RESULTS_JSON}") in present
    ]


def parse(path: str, data: bytes) -> Parsed:
    """One results.json (at `path` relative to the run) as a `TrialRecord`, or skipped with a note.

    Never raises on bad content: a file that is not JSON, of another format
    version, or not a `TrialResult` is skipped, and the note names its path.
    """
    try:
        loaded = json.loads(data)
    except ValueError as exc:
        return Parsed(path, None, (f"skipped {path}: not readable JSON ({exc})",))
    if not isinstance(loaded, dict) or loaded.get("format_version") != results_api.FORMAT_VERSION:
        note = f"skipped {path}: not a results.json of format {results_api.FORMAT_VERSION}"
        return Parsed(path, None, (note,))
    try:
        result = results_api.TrialResult.model_validate(loaded)
    except pydantic.ValidationError as exc:
        problems = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors())
        return Parsed(path, None, (f"skipped {path}: not a trial result ({problems})",))
    folder = path.rpartition("/")[0]
    trial, attempt = sources.trial_of(folder)
    if len(trial) > TRIAL_ID_LIMIT:
        note = f"skipped {path}: its trial id is longer than {TRIAL_ID_LIMIT} characters"
        return Parsed(path, None, (note,))
    notes = []
    if result.trial != trial:
        notes.append(
            f"{path}: it claims the trial {_shown(result.trial)}; "
            f"read as the trial {_shown(trial)} (its folder)"
        )
    if attempt is not None and result.attempt != attempt:
        notes.append(
            f"{path}: it claims attempt {result.attempt}; read as attempt {attempt} (its folder)"
        )
    # The fields as results.json's JSON form has them (model_dump(mode="json") did this
    # for the whole model, scores and details included: a tenth of an ingest).
    row = {c: _plain(getattr(result, c)) for c in RESULT_COLUMNS}
    row[TRIAL] = trial
    row["attempt"] = result.attempt if attempt is None else attempt
    last = submissions.last_score(result.scores, result.primary_metric)
    audit = {k: loaded.get(k) for k in AUDIT_FIELDS}
    audit["trial"] = trial
    details = loaded.get("details")
    audit["details"] = (
        {"validations": details.get("validations")} if isinstance(details, dict) else {}
    )
    record = TrialRecord(
        trial=trial,
        attempt=int(row["attempt"]),
        folder=folder,
        values=(*(row[c] for c in RESULT_COLUMNS), last),
        audit=audit,
        validations=result.validations,
        started=result.started,
        finished=result.finished,
    )
    return Parsed(path, record, tuple(notes))


def choose(parsed: Iterable[Parsed]) -> Trials:
    """The record of each trial (its highest attempt; on a tie the later folder) and every note.

    Args:
        parsed: results in folder order (`results_paths`).
    """
    chosen = Trials()
    for one in parsed:
        chosen.notes.extend(one.notes)
        record = one.record
        if record is None:
            continue
        held = chosen.records.get(record.trial)
        if held is None or record.attempt >= held.attempt:
            chosen.records[record.trial] = record
    return chosen


def read(source: sources.RunSource, path: str) -> Parsed:
    """Read and `parse` one results.json; a file that cannot be read is skipped with a note."""
    try:
        data = source.read_bytes(path)
    except OSError as exc:
        return Parsed(path, None, (f"skipped {path}: not readable JSON ({exc})",))
    return parse(path, data)


def load(source: sources.RunSource, paths: Iterable[str]) -> Trials:
    """Read and `choose` the results at `paths` (`results_paths`) straight from the run."""
    return choose(read(source, path) for path in paths)


def _plain(value: Any) -> Any:
    """A field's value as ``model_dump(mode="json")`` gives it: an enum as its value."""
    return value.value if isinstance(value, enum.Enum) else value


def _shown(name: str, limit: int = 200) -> str:
    """A name from a file, quoted and cut for a note (a hostile file's name can be huge)."""
    return repr(name if len(name) <= limit else f"{name[:limit]}…")


def audit_json(audit: Mapping[str, Any]) -> str:
    """The audit fields as the index stores them."""
    return json.dumps(audit, ensure_ascii=False, separators=(",", ":"))


__all__ = [
    "AUDIT_FIELDS",
    "RESULT_COLUMNS",
    "TRIAL_ID_LIMIT",
    "Parsed",
    "TrialRecord",
    "Trials",
    "audit_json",
    "choose",
    "load",
    "parse",
    "read",
    "results_paths",
]
