"""The object keys of a run, one rule for every backend and every writer.

A run's objects live under ``<prefix>/<run>/`` (the prefix belongs to the store,
see `kubegym.store.open`)::

    <run>/<trial-id>/attempt-<n>/trajectory.jsonl
    <run>/<trial-id>/attempt-<n>/results.json
    <run>/<trial-id>/attempt-<n>/workspace.tar.gz
    <run>/<trial-id>/attempt-<n>/logs/<name>
    <run>/results.csv   <run>/leaderboard.json   <run>/profiles.png   <run>/status.json

Keys depend only on names fixed before a trial starts, so writing the same
artifact twice lands on the same key (idempotent uploads). Readers such as
``kubegym report`` take them apart with `parse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRAJECTORY = "trajectory.jsonl"
RESULTS = "results.json"
WORKSPACE = "workspace.tar.gz"
LOGS = "logs"
RESULTS_CSV = "results.csv"
LEADERBOARD = "leaderboard.json"

#: The files of an attempt that have a fixed name; anything else goes under ``logs/``.
ATTEMPT_FILES = (TRAJECTORY, WORKSPACE, RESULTS)

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ATTEMPT = re.compile(r"^attempt-(\d+)$")


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise ValueError(f"{what} {value!r} cannot be part of an object key")
    return value


def join(*parts: str) -> str:
    """Join key parts with ``/``, skipping empty ones (an empty store prefix)."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def run_prefix(run: str) -> str:
    """``<run>``: everything of one run lies under it."""
    return _segment(run, "run name")


def trial_prefix(run: str, trial: str) -> str:
    """``<run>/<trial-id>``: every attempt of one trial."""
    return join(run_prefix(run), _segment(trial, "trial id"))


def attempt_prefix(run: str, trial: str, attempt: int) -> str:
    """``<run>/<trial-id>/attempt-<n>``."""
    if attempt < 0:
        raise ValueError(f"attempt {attempt} is negative")
    return join(trial_prefix(run, trial), f"attempt-{attempt}")


def attempt_key(run: str, trial: str, attempt: int, name: str) -> str:
    """The key of one file of an attempt: a fixed name, or ``logs/<name>`` for anything else."""
    parts = [_segment(p, "file name") for p in name.split("/")]
    if parts[0] not in ATTEMPT_FILES and parts[0] != LOGS:
        parts = [LOGS, *parts]
    return join(attempt_prefix(run, trial, attempt), *parts)


def run_key(run: str, name: str) -> str:
    """The key of one of the run's rollups (``results.csv``, ``leaderboard.json``…)."""
    return join(run_prefix(run), _segment(name, "file name"))


@dataclass(frozen=True)
class ArtifactKey:
    """A key taken apart: the run's rollups have no trial and no attempt."""

    run: str
    name: str
    """The file, relative to its attempt (``results.json``, ``logs/agent.log``) or to the run."""
    trial: str | None = None
    attempt: int | None = None


def parse(key: str) -> ArtifactKey | None:
    """Take a key relative to the store's prefix apart; None for keys outside the layout."""
    parts = key.strip("/").split("/")
    if len(parts) == 2:
        return ArtifactKey(run=parts[0], name=parts[1])
    if len(parts) >= 4:
        match = _ATTEMPT.match(parts[2])
        if match:
            name = "/".join(parts[3:])
            return ArtifactKey(parts[0], name, trial=parts[1], attempt=int(match.group(1)))
    return None
