"""The runs a viewer shows and their trials, paged by key, filtered on the server.

Called by `kubegym.viewer.app`. SOURCE is a run folder (``trials/<id>/`` as
`kubegym run --out` leaves it) or a folder of run folders. Each run's trials
are read from their ``results.json`` once and re-read only when the file's size
or mtime changes, so a live run's new trials appear at the next look (at most
one rescan a second); a folder without results.json is a running trial.

Pages are keyset pages over (task, agent, seed, trial): a page's cursor is the
last row's key, so page N costs no more than page 1. The methods follow the
results index's (`kubegym.index`: ``runs``, ``run``, ``trials``, ``trial``,
``facets``) so the viewer can read either. An ``s3://`` SOURCE or ``run/<name>``
is `kubegym.viewer.store_catalog`'s, with the same methods (`open_catalog`
picks).
"""

from __future__ import annotations

import atexit
import base64
import bisect
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, Final

from kubegym import index as results_index
from kubegym.api import results as results_api
from kubegym.errors import ConfigError
from kubegym.viewer import ids, store_catalog, trajectory_cache

TRIALS: Final = "trials"
LEADERBOARD: Final = "leaderboard.json"
STATUS: Final = "status.json"
RUNNING: Final = "(running)"
"""The exit reason a trial without results.json is listed under."""
FILTERS: Final = ("task", "agent", "seed", "exit_reason", "failure_class")
"""The trial fields a page can be filtered on, exactly."""
MESSAGE_LIMIT: Final = 500
"""Characters of a trial's message in a row (the trial's own page shows it whole)."""
PAGE_LIMIT: Final = 500
RESCAN_SECONDS: Final = 1.0
CLUSTER_RUN: Final = "run/"
"""A SOURCE naming a cluster BenchmarkRun: ``run/<name>`` (`kubegym.viewer.cluster_runs`)."""
INGEST_SECONDS: Final = 2.0
"""With a results index, how often a page asks it to ingest the run again (incremental)."""

_NUMBERS: Final = ("score", "best_attempt", "cost_usd", "seconds")
_COUNTS: Final = ("seed", "attempt", "steps", "prompt_tokens", "completion_tokens", "validations")
_TEXTS: Final = (
    "task",
    "agent",
    "exit_reason",
    "failure_class",
    "primary_metric",
    "direction",
    "started",
    "finished",
)


def _text(value: Any, limit: int = 300) -> str | None:
    return None if value is None else str(value)[:limit]


def _row(run_id: str, trial: str, data: dict[str, Any]) -> dict[str, Any]:
    """A trial's row: the results.json fields the viewer lists, typed and bounded."""
    row: dict[str, Any] = {"run_id": run_id, "trial": trial, "state": "finished"}
    for name in _TEXTS:
        row[name] = _text(data.get(name))
    for name in _NUMBERS:
        value = data.get(name)
        row[name] = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    for name in _COUNTS:
        value = data.get(name)
        row[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    row["message"] = _text(data.get("message"), MESSAGE_LIMIT) or ""
    row["trajectory"] = f"{TRIALS}/{trial}/{results_api.TRAJECTORY_JSONL}"
    return row


def _running_row(run_id: str, trial: str) -> dict[str, Any]:
    row = _row(run_id, trial, {})
    row.update(state="running", exit_reason=RUNNING, task=None, agent=None)
    return row


def _sort_key(row: dict[str, Any]) -> tuple[str, str, int, str]:
    return (
        row["task"] or "",
        row["agent"] or "",
        row["seed"] if row["seed"] is not None else -1,
        row["trial"],
    )


def encode_cursor(key: tuple[str, str, int, str]) -> str:
    """A page's cursor: the last row's sort key, opaque to the page."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int, str]:
    """The key `encode_cursor` wrote.

    Raises:
        ValueError: not a cursor this module wrote.
    """
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
    if (
        not isinstance(raw, list)
        or len(raw) != 4
        or not all(isinstance(raw[i], str) for i in (0, 1, 3))
        or not isinstance(raw[2], int)
    ):
        raise ValueError("invalid cursor")
    return (raw[0], raw[1], raw[2], raw[3])


@dataclass
class Run:
    """One run folder and what has been read of it."""

    run_id: str
    folder: Path
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    order: list[tuple[str, str, int, str]] = field(default_factory=list)
    scanned_at: float = 0.0
    updated: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: results_index.ResultsIndex | None = None
    """When set, trial pages and facets are the index's (`kubegym view --index`)."""
    index_run: str = ""
    ingested_at: float = -INGEST_SECONDS

    def _indexed(self) -> results_index.ResultsIndex | None:
        """The index, with this run ingested at most `INGEST_SECONDS` ago; None without one."""
        if self.index is None:
            return None
        with self.lock:
            if time.monotonic() - self.ingested_at >= INGEST_SECONDS:
                self.index.ingest(str(self.folder))
                self.index_run = self.index.run_id(str(self.folder))
                self.ingested_at = time.monotonic()
        return self.index

    def _index_page(
        self,
        index: results_index.ResultsIndex,
        filters: dict[str, str],
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        typed: dict[str, Any] = dict(filters)
        if "seed" in typed:
            try:
                typed["seed"] = int(typed["seed"])
            except ValueError:
                raise ValueError("seed must be a whole number") from None
        # Running trials (no results.json, so not in the index) sort first, as without
        # an index: the first page leads with them, the index's pages follow.
        running = self._running(filters)
        shown = running[:PAGE_LIMIT] if cursor is None else []
        try:
            found = index.trials(
                self.index_run, cursor=cursor, limit=max(1, limit - len(shown)), **typed
            )
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        rows = list(shown)
        for trial in found.rows:
            row = dataclasses.asdict(trial)
            row.update(
                run_id=self.run_id, state="finished", message=str(row["message"])[:MESSAGE_LIMIT]
            )
            row["trajectory"] = f"{TRIALS}/{trial.trial}/{results_api.TRAJECTORY_JSONL}"
            rows.append(row)
        return {"trials": rows, "next": found.next_cursor, "total": found.total + len(running)}

    def _running(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        """The run folder's trials without a readable results.json that match `filters`."""
        self.refresh()
        found = [r for r in self.rows.values() if r["state"] != "finished" and _matches(r, filters)]
        return sorted(found, key=_sort_key)

    def refresh(self, force: bool = False) -> None:
        """Read new and changed trials (at most once a `RESCAN_SECONDS`, unless forced)."""
        with self.lock:
            now = time.monotonic()
            if not force and now - self.scanned_at < RESCAN_SECONDS:
                return
            self.scanned_at = now
            changed = self._scan()
            if changed:
                self.order = sorted(_sort_key(r) for r in self.rows.values())
                self.updated = time.time()

    def _scan(self) -> bool:
        trials_folder = self.folder / TRIALS
        changed = False
        present: set[str] = set()
        try:
            # trials/ as a link out of the run is not read at all.
            entries = [] if trials_folder.is_symlink() else list(os.scandir(trials_folder))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            trial = entry.name
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                ids.check_id(trial, "trial")
            except ids.BadId:
                continue  # a folder no URL could name is not shown
            present.add(trial)
            results = os.path.join(entry.path, results_api.RESULTS_JSON)
            try:
                # lstat, and a regular file only: a link out of the run is never read (one
                # call per trial; the folder itself was checked not to be a link above).
                stat = os.lstat(results)
                if not S_ISREG(stat.st_mode):
                    raise FileNotFoundError(trial)
            except FileNotFoundError:
                if self.seen.get(trial) != (-1, -1):
                    self.rows[trial] = _running_row(self.run_id, trial)
                    self.seen[trial] = (-1, -1)
                    changed = True
                continue
            mark = (stat.st_size, stat.st_mtime_ns)
            if self.seen.get(trial) == mark:
                continue
            self.rows[trial] = self._read_row(trial, results)
            self.seen[trial] = mark
            changed = True
        for gone in set(self.rows) - present:
            del self.rows[gone], self.seen[gone]
            changed = True
        return changed

    def _read_row(self, trial: str, path: str) -> dict[str, Any]:
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(8_000_000))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            row = _running_row(self.run_id, trial)
            row.update(state="unreadable", exit_reason="(unreadable)")
            return row
        return _row(self.run_id, trial, data)

    def page(self, filters: dict[str, str], cursor: str | None, limit: int) -> dict[str, Any]:
        """One page of trials matching `filters` after `cursor` (see `Catalog.trials`)."""
        limit = max(1, min(limit, PAGE_LIMIT))
        index = self._indexed()
        if index is not None:
            return self._index_page(index, filters, cursor, limit)
        self.refresh()
        order = self.order
        at = bisect.bisect_right(order, decode_cursor(cursor)) if cursor else 0
        found: list[dict[str, Any]] = []
        last: tuple[str, str, int, str] | None = None
        while at < len(order) and len(found) < limit:
            row = self.rows.get(order[at][3])
            at += 1
            if row is None or not _matches(row, filters):
                continue
            found.append(row)
            last = _sort_key(row)
        more = last is not None and any(
            (r := self.rows.get(k[3])) is not None and _matches(r, filters) for k in order[at:]
        )
        return {
            "trials": found,
            "next": encode_cursor(last) if more and last else None,
            "total": self.count(filters),
        }

    def count(self, filters: dict[str, str]) -> int:
        return sum(1 for r in self.rows.values() if _matches(r, filters))

    def facets(self) -> dict[str, list[tuple[str, int]]]:
        index = self._indexed()
        if index is not None:
            facets = index.facets(self.index_run)
            running: dict[str, int] = {}
            for row in self._running({}):
                running[row["exit_reason"]] = running.get(row["exit_reason"], 0) + 1
            if running:
                facets["exit_reason"] = [*facets.get("exit_reason", []), *running.items()]
            return facets
        self.refresh()
        counts: dict[str, dict[str, int]] = {name: {} for name in FILTERS}
        for row in self.rows.values():
            for name in FILTERS:
                value = "" if row[name] is None else str(row[name])
                counts[name][value] = counts[name].get(value, 0) + 1
        return {
            name: sorted(values.items(), key=lambda kv: (kv[0] == "", _natural(kv[0])))
            for name, values in counts.items()
        }

    def read_json(self, name: str) -> dict[str, Any] | None:
        try:
            with open(self.folder / name, "rb") as f:
                data = json.loads(f.read(20_000_000))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def summary(self) -> dict[str, Any]:
        """The run's row: counts, agents, tasks, spend, status."""
        self.refresh()
        rows = list(self.rows.values())
        finished = [r for r in rows if r["state"] == "finished"]
        status = self.read_json(STATUS) or {}
        phase = status.get("phase")
        return {
            "run_id": self.run_id,
            "name": self.folder.name,
            "source": str(self.folder),
            "status": str(phase)[:40]
            if phase
            else ("Running" if len(finished) < len(rows) else "Finished"),
            "trials": len(rows),
            "finished_trials": len(finished),
            "failed_trials": sum(1 for r in finished if r["failure_class"]),
            "running_trials": len(rows) - len(finished),
            "agents": sorted({r["agent"] for r in finished if r["agent"]}),
            "tasks": sorted({r["task"] for r in finished if r["task"]}),
            "cost_usd": round(sum(r["cost_usd"] or 0.0 for r in finished), 6),
            "updated": self.updated,
        }

    def _inside(self, trial: str, name: str) -> str | None:
        """The path of a trial's file when it really lies inside the run (no link out)."""
        path = os.path.join(self.folder, TRIALS, ids.check_id(trial, "trial"), name)
        real = os.path.realpath(path)
        return path if real.startswith(str(self.folder) + os.sep) else None

    def trajectory_path(self, trial: str) -> str | None:
        """The trajectory file of a trial, or None when it is a link out of the run."""
        return self._inside(trial, results_api.TRAJECTORY_JSONL)

    def row(self, trial: str) -> dict[str, Any] | None:
        """One trial's row, read from its own folder (no scan of the run): None if it is not one."""
        folder = self._inside(trial, "")
        if folder is None or not os.path.isdir(folder) or os.path.islink(folder.rstrip(os.sep)):
            return None
        data = self.results(trial)
        if data is None:
            has_results = os.path.lexists(os.path.join(folder, results_api.RESULTS_JSON))
            row = _running_row(self.run_id, trial)
            if has_results:
                row.update(state="unreadable", exit_reason="(unreadable)")
            return row
        return _row(self.run_id, trial, data)

    def results(self, trial: str) -> dict[str, Any] | None:
        """A trial's results.json, or None (missing, not JSON, or a link out of the run)."""
        path = self._inside(trial, results_api.RESULTS_JSON)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(8_000_000))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _natural(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    for name, wanted in filters.items():
        value = row.get(name)
        if ("" if value is None else str(value)) != wanted:
            return False
    return True


def _is_run(folder: Path) -> bool:
    return (
        (folder / TRIALS).is_dir()
        or (folder / LEADERBOARD).is_file()
        or (folder / STATUS).is_file()
    )


class Catalog:
    """The runs under a viewer's SOURCE, by run id (the run folder's name)."""

    def __init__(self, source: Path, runs: dict[str, Run]):
        self.source = source
        self._runs = runs
        self._lock = threading.Lock()
        self._scanned_at = time.monotonic()
        self.index: results_index.ResultsIndex | None = None

    def _rescan(self) -> None:
        # A folder of runs gains runs as they start; a single run folder never changes.
        if _is_run(self.source):
            return
        with self._lock:
            if time.monotonic() - self._scanned_at < RESCAN_SECONDS:
                return
            self._scanned_at = time.monotonic()
            for run_id, run in _child_runs(self.source).items():
                run.index = self.index
                self._runs.setdefault(run_id, run)

    def runs(self) -> list[dict[str, Any]]:
        """Every run's row (`Run.summary`), by name."""
        self._rescan()
        return [self._runs[r].summary() for r in sorted(self._runs)]

    def run(self, run_id: str) -> Run | None:
        """The run of that id, or None."""
        self._rescan()
        return self._runs.get(ids.check_id(run_id, "run"))

    def trials(
        self,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: str | None,
    ) -> dict[str, Any] | None:
        """A page of a run's trials: ``{"trials", "next"}``, or None for an unknown run.

        Args:
            run_id: the run.
            cursor: the previous page's ``next`` (None: the first page).
            limit: rows per page (at most `PAGE_LIMIT`).
            filters: exact values of `FILTERS` fields (None: any).

        Raises:
            ValueError: the cursor is not one a page gave, or a filter is unknown.
        """
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"unknown filter {sorted(unknown)[0]!r}")
        run = self.run(run_id)
        if run is None:
            return None
        wanted = {k: v for k, v in filters.items() if v is not None}
        return run.page(wanted, cursor, limit)


def _child_runs(folder: Path) -> dict[str, Run]:
    found: dict[str, Run] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False) and _is_run(Path(entry.path)):
            try:
                run_id = ids.check_id(entry.name, "run")
            except ids.BadId:
                continue
            found[run_id] = Run(run_id, Path(entry.path).resolve())
    return found


def open_catalog(
    source: str,
    index_url: str | None = None,
    *,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    cache_dir: Path | None = None,
    cache_bytes: int = trajectory_cache.DEFAULT_BYTES,
) -> AnyCatalog:
    """The runs at SOURCE: a run folder, a folder of run folders, an ``s3://`` run or
    prefix of runs, or ``run/<name>`` (a cluster BenchmarkRun, read from its store).

    With `index_url` (``sqlite:///…``, ``postgresql://…``), each run is ingested
    into that results index (`kubegym.index`) and its trial pages and facets are
    the index's queries. A store is always read through an index: without
    `index_url`, a SQLite file in `cache_dir`.

    Args:
        source: what to show.
        index_url: the results index.
        namespace, kubeconfig: where ``run/<name>`` is looked up.
        cache_dir: where a store's trajectories (and the SQLite index when no
            `index_url` is given) go; a new temporary folder when None.
        cache_bytes: the most bytes of trajectories kept there.

    Raises:
        ConfigError: SOURCE does not exist or is not a folder; the store refused the
            credentials or cannot be reached; the cluster run cannot be read.
    """
    if source.startswith(("s3://", CLUSTER_RUN)):
        return _open_store(source, index_url, namespace, kubeconfig, cache_dir, cache_bytes)
    folder = Path(source)
    if not folder.is_dir():
        raise ConfigError(
            f"{source} is not a folder",
            hint="give the folder `kubegym run --out` wrote, a folder of such folders, "
            "an s3://BUCKET/PREFIX or run/NAME",
        )
    folder = folder.resolve()
    if _is_run(folder):
        name = folder.name
        run_id = name if _safe(name) else "run"
        runs = {run_id: Run(run_id, folder)}
    else:
        runs = _child_runs(folder)
    catalog = Catalog(folder, runs)
    if index_url is not None:
        catalog.index = results_index.open(index_url)
        for run in runs.values():
            run.index = catalog.index
    return catalog


def _open_store(
    source: str,
    index_url: str | None,
    namespace: str | None,
    kubeconfig: str | None,
    cache_dir: Path | None,
    cache_bytes: int,
) -> store_catalog.StoreCatalog:
    from kubegym import store  # boto3 itself loads with the first request

    if source.startswith(CLUSTER_RUN):
        from kubegym.viewer import cluster_runs  # the kubernetes client, only for run/NAME

        found = cluster_runs.resolve(source, namespace, kubeconfig)
        opened = store.open_uri(found.uri, endpoint=found.endpoint, region=found.region)
    else:
        opened = store.open_uri(source)
    if cache_dir is None:
        cache_dir = Path(tempfile.mkdtemp(prefix="kubegym-view-"))
        atexit.register(shutil.rmtree, cache_dir, True)
    index = results_index.open(index_url or f"sqlite:///{cache_dir / 'index.sqlite'}")
    try:
        return store_catalog.StoreCatalog(
            opened, index, trajectory_cache.TrajectoryCache(cache_dir / "trajectories", cache_bytes)
        )
    except BaseException:
        index.close()
        raise


AnyCatalog = Catalog | store_catalog.StoreCatalog
"""What `open_catalog` returns: the same methods over folders or a store."""
AnyRun = Run | store_catalog.StoreRun


def _safe(name: str) -> bool:
    try:
        ids.check_id(name, "run")
    except ids.BadId:
        return False
    return True
