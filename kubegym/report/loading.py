"""Loading a finished run into DataFrames: its trials, its tasks' baselines, the tools its agents used.

Reads through a `sources.RunSource` (local folder or S3), so it works on any
layout that keeps one folder per trial: ``trials/<id>/`` as `kubegym run`
writes it, or ``<id>/attempt-<n>/`` as the store keys it (the highest attempt
wins). Each results.json is read by `kubegym.index.records`, the reading the
results index stores too, so a trial's id and attempt are its folder's; given
an index that holds the run as it is now, the results come from the index and
the report is the same. Called by `kubegym.report.sections`; the tables are
built from what this returns, with no further I/O.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from kubegym.api import results as results_api
from kubegym.errors import ConfigError
from kubegym.index import records, results_index, sources
from kubegym.report import images, integrity, trial_integrity
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring import scope as scopes
from kubegym.scoring import submissions
from kubegym.scoring.columns import BEST_ATTEMPT, DIRECTION, MAXIMIZE, SEED, TASK
from kubegym.tasks import catalog

LEADERBOARD: Final = "leaderboard.json"
STATUS: Final = "status.json"

AGENT: Final = leaderboards.AGENT
TRIAL: Final = "trial"
TOOL: Final = "tool"
COUNT: Final = "count"
RESULT_COLUMNS: Final = records.RESULT_COLUMNS
"""The fields of a trial's results.json (`kubegym.api.results.TrialResult`) the report reads."""
LAST_SCORE: Final = leaderboards.LAST_SCORE_COLUMN
"""A column worked out of each trial's scores: its score under MLGym's rule."""
TRIAL_COLUMNS: Final = (*RESULT_COLUMNS, LAST_SCORE)
"""The columns of `RunData.trials`."""
NUMBER_COLUMNS: Final = (
    SEED,
    "attempt",
    "score",
    BEST_ATTEMPT,
    "steps",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "seconds",
    LAST_SCORE,
)

NO_ACTION: Final = "(empty)"
"""The tool name of a step whose action is blank."""

# kubegym's recorder writes each step as json.dumps(asdict(Step)): "step" first,
# then "action". For such lines the action's first word is cut straight out of
# the bytes: a run of characters with no quote, backslash or space, ended by the
# closing quote, a space or an escaped newline/tab. The pattern starts with the
# newline before the line (the reader puts one before the first), which anchors
# it at a line's start (a step's "score" holds {"step": …, "action": … } too) and
# gives the regex engine a literal prefix to jump between, five times faster than
# ``^`` with MULTILINE. Any other line (another writer's key order, an escaped
# character inside the word) is parsed as JSON.
_FAST_ACTION = re.compile(rb'\n\{"step": \d+, "action": "([^"\\\s]+)(?:"|\s|\\[ntr])')


@dataclass
class RunData:
    """A run as the report sees it.

    Attributes:
        run: the run's name.
        location: where it was read from.
        trials: one row per finished trial (`TRIAL_COLUMNS`), in the run's plan
            order: task, agent, seed.
        references: per task of the run, in run order: ``task, direction,
            baseline_score`` (the leaderboard's `REFERENCE` rows).
        actions: ``agent, tool, count``: how often each agent's steps started
            with each tool (the first word of the action).
        unfinished: ids of trial folders without results (still running, killed,
            or lost).
        recorded: the run's own leaderboard.json, when it has one.
        status: the run's status.json, when it has one.
        notes: what the loader skipped and why, for the report to show.
        integrity: the integrity audit of the finished trials (`kubegym.report.integrity`).
        best_submission: the run's best-submission rule, as its leaderboard.json
            records it (kubegym's `final-submit` for a run that records none: the
            only rule there was).
        profile: the suite profile the run ran under, as its leaderboard.json's scope
            records it (`kubegym.tasks.profiles.scope_label`); None: kubegym's setting.
        designs: the agents' designs the run's leaderboard.json records
            (`kubegym.scoring.scope.Scope.designs`); None when it records none.
    """

    run: str
    location: str
    trials: pd.DataFrame
    references: pd.DataFrame
    actions: pd.DataFrame
    unfinished: list[str] = field(default_factory=list)
    recorded: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    integrity: integrity.RunIntegrity | None = None
    best_submission: str = submissions.FINAL_SUBMIT
    profile: str | None = None
    designs: dict[str, str] | None = None

    @property
    def agents(self) -> list[str]:
        """The agents in plan order."""
        return [str(a) for a in pd.unique(self.trials[AGENT])]


def load_run(source: sources.RunSource, index: results_index.ResultsIndex | None = None) -> RunData:
    """Read every trial's results and trajectory, and the run's leaderboard and status.

    Args:
        source: the run.
        index: a results index; the trials' results are taken from it when it holds
            the run exactly as `source` has it now (the report is the same either way).

    Raises:
        ConfigError: the source holds no run (no trial results, no trajectory
            and no leaderboard.json), or its leaderboard.json is not JSON.
    """
    files = source.list_files()
    present = set(files)
    folders = sources.trial_folders(files)
    recorded = _read_json(source, LEADERBOARD) if LEADERBOARD in present else None
    status = _read_json(source, STATUS) if STATUS in present else None
    if not folders and recorded is None:
        below = _runs_below(files)
        raise ConfigError(
            f"{source.location} is not a run: it holds no trials (trials/<id>/results.json "
            f"or <id>/attempt-<n>/results.json) and no {LEADERBOARD}",
            hint=f"it holds the runs {', '.join(below[:5])}: give one of them"
            if below
            else "give the folder `kubegym run --out` wrote, or the run's s3:// URI",
        )

    # One reading of results.json for the report and the index (`kubegym.index.records`):
    # the trials come from the index when it holds the run as it is now, else from the files.
    loaded = index.trials_for(source, files) if index is not None else None
    if loaded is None:
        loaded = records.load(source, records.results_paths(files))
    notes = list(loaded.notes)
    rows = {
        trial_id: (r.attempt, list(r.values), r.folder) for trial_id, r in loaded.records.items()
    }
    audit_input = {trial_id: r.audit for trial_id, r in loaded.records.items()}
    finished_keys = {_trial_key(folder) for _, _, folder in rows.values()}
    unfinished = sorted(
        {_trial_key(folder) for folder in folders} - finished_keys,
    )

    trials = pd.DataFrame([row for _, row, _ in rows.values()], columns=list(TRIAL_COLUMNS))
    for column in NUMBER_COLUMNS:
        trials[column] = pd.to_numeric(trials[column], errors="coerce")
    trials = _in_plan_order(trials, recorded)
    folder_of = {trial_id: folder for trial_id, (_, _, folder) in rows.items()}
    tools: dict[str, Counter[str]] = {}
    audit = integrity.RunIntegrity(run=source.name, location=source.location)
    offline = integrity.catalog_offline()
    for trial_id, agent in zip(trials[TRIAL], trials[AGENT], strict=True):
        path = f"{folder_of[trial_id]}/{results_api.TRAJECTORY_JSONL}"
        jsonl = source.read_bytes(path) if path in present else b""
        if jsonl:
            tools.setdefault(str(agent), Counter()).update(count_tools(jsonl))
        # Audited here, from the bytes already read: the report reads each trajectory once.
        audit.trials.append(
            trial_integrity.audit_trial(audit_input[trial_id], jsonl, offline=offline)
        )
    rollup, skipped = images.read(source, present)
    notes += skipped
    if rollup is not None:
        integrity.add_images(audit, rollup)
    actions = pd.DataFrame(
        [(agent, tool, n) for agent, counts in tools.items() for tool, n in counts.items()],
        columns=[AGENT, TOOL, COUNT],
    )
    run = str(recorded.get("run")) if recorded and recorded.get("run") else source.name
    return RunData(
        run=run,
        location=source.location,
        trials=trials,
        references=_references(trials, recorded, notes),
        actions=actions,
        unfinished=unfinished,
        recorded=recorded,
        status=status,
        notes=notes,
        integrity=audit,
        best_submission=_recorded_rule(recorded),
        profile=_recorded_profile(recorded),
        designs=_recorded_designs(recorded),
    )


def count_tools(jsonl: bytes) -> Counter[str]:
    """How many steps of a trajectory start with each tool (the action's first word).

    Args:
        jsonl: a ``trajectory.jsonl``, one `trajectory.Step` per line.

    Returns:
        Tool name → steps; a blank action counts as `NO_ACTION`, and a line
        that is not JSON is skipped.
    """
    lines = jsonl.count(b"\n") + (0 if jsonl.endswith(b"\n") or not jsonl else 1)
    fast = _FAST_ACTION.findall(b"\n" + jsonl)
    if len(fast) == lines:
        return Counter(word.decode("utf-8", "replace") for word in fast)
    counts: Counter[str] = Counter()
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        try:
            action = json.loads(line).get("action", "")
        except (ValueError, AttributeError):
            continue
        words = str(action).split(maxsplit=1)
        counts[words[0] if words else NO_ACTION] += 1
    return counts


def _runs_below(files: Iterable[str]) -> list[str]:
    """Folders below the source that look like local runs (they hold ``trials/<id>/results.json``)."""
    found = set()
    for path in files:
        head, marker, _ = path.partition("/trials/")
        if marker and path.endswith(f"/{results_api.RESULTS_JSON}"):
            found.add(head)
    return sorted(found)


def _trial_key(folder: str) -> str:
    """The trial a folder belongs to: its own name, or its parent's for ``attempt-<n>``."""
    parent, _, name = folder.rpartition("/")
    if sources.ATTEMPT_FOLDER.fullmatch(name) and parent:
        parent, _, name = parent.rpartition("/")
    return name


def _read_json(source: sources.RunSource, path: str) -> dict[str, Any]:
    try:
        data = json.loads(source.read_bytes(path))
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read {source.location}/{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source.location}/{path} is not a JSON object")
    return data


def _recorded_rule(recorded: dict[str, Any] | None) -> str:
    """The best-submission rule the run's leaderboard.json records: the run's, not a trial's."""
    scope = (recorded or {}).get(scopes.SCOPE)
    if not isinstance(scope, dict):
        return submissions.FINAL_SUBMIT
    return submissions.check_rule(
        scope.get("best_submission"), field=f"{LEADERBOARD} {scopes.SCOPE}.best_submission"
    )


def _recorded_profile(recorded: dict[str, Any] | None) -> str | None:
    """The suite profile the run's leaderboard.json records (None before profiles existed)."""
    scope = (recorded or {}).get(scopes.SCOPE)
    profile = scope.get("profile") if isinstance(scope, dict) else None
    if profile is not None and not isinstance(profile, str):
        raise ConfigError("not a profile name", field=f"{LEADERBOARD} {scopes.SCOPE}.profile")
    return profile


def _recorded_designs(recorded: dict[str, Any] | None) -> dict[str, str] | None:
    """The agents' designs the run's leaderboard.json records (None before kubegym did)."""
    scope = (recorded or {}).get(scopes.SCOPE)
    designs = scope.get("designs") if isinstance(scope, dict) else None
    return scopes.read_designs(designs, name=LEADERBOARD)


def _in_plan_order(trials: pd.DataFrame, recorded: dict[str, Any] | None) -> pd.DataFrame:
    """Sort trials the way the run planned them: task, agent, seed.

    The run's leaderboard.json lists its tasks and agents in plan order (run order
    of tasks, the run file's order of agents); following it makes the bootstrap
    draw exactly as it did for leaderboard.json. Anything it does not list comes
    after, by name.
    """
    board = recorded or {}
    task_order = _positions(board.get("tasks", {}), trials[TASK])
    agent_order = _positions(
        [a for a in board.get("agents", {}) if a != leaderboards.REFERENCE], trials[AGENT]
    )
    keyed = trials.assign(_task=trials[TASK].map(task_order), _agent=trials[AGENT].map(agent_order))
    keyed = keyed.sort_values(["_task", "_agent", SEED, TRIAL], kind="stable")
    return keyed.drop(columns=["_task", "_agent"]).reset_index(drop=True)


def _positions(known: Iterable[str], values: pd.Series) -> dict[str, int]:
    order = [str(v) for v in known]
    order += sorted({str(v) for v in values} - set(order))
    return {name: i for i, name in enumerate(order)}


def _references(
    trials: pd.DataFrame, recorded: dict[str, Any] | None, notes: list[str]
) -> pd.DataFrame:
    """Each task's direction and baseline score, in run order.

    The run's leaderboard.json holds every task of the run with its baseline
    score (the `REFERENCE` rows), so it is read first; tasks it does not know
    are looked up in the task catalog. Directions come from the trials'
    results, else the catalog; a task no trial reached is profiled alone
    (its direction then changes nothing).
    """
    board_tasks: dict[str, Any] = (recorded or {}).get("tasks") or {}
    tasks = list(board_tasks) + sorted(set(trials[TASK].astype(str)) - set(board_tasks))
    directions = trials.groupby(TASK, sort=False)[DIRECTION].first().to_dict()
    catalog_tasks: dict[str, tuple[str, float | None]] | None = None
    rows: list[tuple[str, str, float | None]] = []
    for task in tasks:
        reference = board_tasks.get(task, {}).get(leaderboards.REFERENCE)
        direction = directions.get(task)
        if reference is not None and direction is not None:
            rows.append((task, str(direction), reference.get(BEST_ATTEMPT)))
            continue
        if catalog_tasks is None:
            catalog_tasks = _catalog_baselines()
        known = catalog_tasks.get(task)
        if reference is not None:
            rows.append((task, known[0] if known else MAXIMIZE, reference.get(BEST_ATTEMPT)))
        elif known is not None:
            rows.append((task, str(direction or known[0]), known[1]))
        else:
            notes.append(
                f"task {task!r}: no baseline score in {LEADERBOARD} or the task catalog "
                "(put the task's folder on KUBEGYM_TASK_PATH)"
            )
    return pd.DataFrame(rows, columns=list(leaderboards.REFERENCE_COLUMNS))


def _catalog_baselines() -> dict[str, tuple[str, float | None]]:
    """Direction and baseline score of every task kubegym can find on this machine."""
    return {
        name: (bundle.task.spec.evaluation.metric().direction, bundle.task.spec.baseline_score())
        for name, bundle in catalog.discover(catalog.search_path()).items()
    }


__all__ = ["RESULT_COLUMNS", "TRIAL_COLUMNS", "RunData", "count_tools", "load_run"]
