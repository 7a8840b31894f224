"""The runs under an ``s3://bucket/prefix`` for the viewer: trials from the results index, files from the store.

Called by `kubegym.viewer.catalog.open_catalog` for an ``s3://`` SOURCE (one run,
or a prefix holding many: the chart's viewer Deployment serves its store's
whole prefix). Nothing here parses a run: the prefix is listed and split into
runs by `kubegym.index.sources` and ingested by `kubegym.index` (both layouts,
``<trial>/attempt-<n>/`` with the highest attempt winning and ``trials/<id>/``),
at most once every `INGEST_SECONDS`, in a thread of its own that pages do not
wait for, and incrementally (one LIST, then a GET per new or changed
results.json only). Trial pages, a trial's row and the facets
are the index's queries; a run's leaderboard.json, status.json and a trial's
results.json are read through `kubegym.store`; a trajectory is fetched once
into a `trajectory_cache.TrajectoryCache` and paged from there.

Only keys the listing gave, under SOURCE, are ever read: a trial is looked up
in the index by a checked id (`kubegym.viewer.ids`), and its files' keys are
the index's paths for that trial joined to its run's prefix.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Final

import structlog

from kubegym import index as results_index
from kubegym.api import results as results_api
from kubegym.errors import ConfigError
from kubegym.index import ingest as index_ingest
from kubegym.index import sources
from kubegym.viewer import ids, trajectory_cache

if TYPE_CHECKING:  # boto3 is imported only when a store is opened
    from kubegym.store import base as store_base

log = structlog.get_logger()

INGEST_SECONDS: Final = 5.0
"""How often a page may cause a new listing and ingest of the prefix (incremental)."""
JSON_LIMIT: Final = 20_000_000
"""Bytes of a run's leaderboard.json or status.json read; a larger one is not shown."""
RESULTS_LIMIT: Final = 8_000_000
"""Bytes of a trial's results.json read."""
MESSAGE_LIMIT: Final = 500
FILTERS: Final = ("task", "agent", "seed", "exit_reason", "failure_class")


def _row(run_id: str, trial: results_index.TrialRow) -> dict[str, Any]:
    """A trial's row as the page lists it (the same fields a run folder's rows have)."""
    row = dataclasses.asdict(trial)
    row.update(run_id=run_id, state="finished", message=str(row["message"])[:MESSAGE_LIMIT])
    return row


class StoreRun:
    """One run under the store prefix, read through the index and the store.

    Args:
        catalog: the catalog it belongs to (its index, its listing, its cache).
        run_id: its id in viewer URLs (the run's last path segment).
        source: the run's files (a part of the catalog's listing).
    """

    def __init__(self, catalog: StoreCatalog, run_id: str, source: sources.PrefixedRunSource):
        self.catalog = catalog
        self.run_id = run_id
        self.source = source
        self.index_run = results_index.run_id(source.location)
        self._json: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._rows: tuple[str, dict[str, dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    # What the app and `kubegym.viewer.summary` ask of a run.

    def refresh(self, force: bool = False) -> None:
        """Ingest the prefix again when the last ingest is older than `INGEST_SECONDS`
        (`StoreCatalog.refresh`)."""
        self.catalog.refresh(force)

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Every finished trial's row by id (for the run's overview), kept until the run changes."""
        self.refresh()
        meta = self.catalog.index.run(self.index_run)
        stamp = meta.updated if meta is not None else ""
        with self._lock:
            if self._rows is not None and self._rows[0] == stamp:
                return self._rows[1]
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            page = self.catalog.index.trials(self.index_run, cursor=cursor, limit=500)
            for trial in page.rows:
                found[trial.trial] = _row(self.run_id, trial)
            cursor = page.next_cursor
            if cursor is None:
                break
        with self._lock:
            self._rows = (stamp, found)
        return found

    def page(self, filters: dict[str, str], cursor: str | None, limit: int) -> dict[str, Any]:
        """One page of trials matching `filters` (exact values) after `cursor`.

        Raises:
            ValueError: a seed that is not a number, or a cursor no page gave.
        """
        self.refresh()
        typed: dict[str, Any] = dict(filters)
        if "seed" in typed:
            try:
                typed["seed"] = int(typed["seed"])
            except ValueError:
                raise ValueError("seed must be a whole number") from None
        try:
            found = self.catalog.index.trials(self.index_run, cursor=cursor, limit=limit, **typed)
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        return {
            "trials": [_row(self.run_id, t) for t in found.rows],
            "next": found.next_cursor,
            "total": found.total,
        }

    def facets(self) -> dict[str, list[tuple[str, int]]]:
        self.refresh()
        return self.catalog.index.facets(self.index_run)

    def summary(self) -> dict[str, Any]:
        """The run's row: counts, agents, tasks, spend, status."""
        self.refresh()
        meta = self.catalog.index.run(self.index_run)
        if meta is None:  # listed but not ingested yet (a run that has no result so far)
            return {
                "run_id": self.run_id,
                "name": self.run_id,
                "source": self.source.location,
                "status": "Pending",
                "trials": 0,
                "finished_trials": 0,
                "failed_trials": 0,
                "running_trials": 0,
                "agents": [],
                "tasks": [],
                "cost_usd": 0.0,
                "updated": 0.0,
            }
        status = meta.status or ("Running" if meta.finished_trials < meta.trials else "Finished")
        return {
            "run_id": self.run_id,
            "name": meta.name,
            "source": meta.source,
            "status": status[:40],
            "trials": meta.trials,
            "finished_trials": meta.finished_trials,
            "failed_trials": meta.failed_trials,
            "running_trials": meta.trials - meta.finished_trials,
            "agents": list(meta.agents),
            "tasks": list(meta.tasks),
            "cost_usd": round(meta.cost_usd, 6),
            "updated": index_ingest.epoch(meta.updated) or 0.0,
        }

    def read_json(self, name: str) -> dict[str, Any] | None:
        """A file of the run itself (leaderboard.json, status.json) as a JSON object, or None.

        Read again only when the listing shows it changed.
        """
        if name not in ("leaderboard.json", "status.json"):
            return None
        self.refresh()
        tag = self.source.fingerprints([name]).get(name)
        if tag is None:
            return None
        with self._lock:
            cached = self._json.get(name)
            if cached is not None and cached[0] == tag:
                return cached[1]
        data = _json_object(self._read(name, JSON_LIMIT))
        with self._lock:
            self._json[name] = (tag, data)
        return data

    def row(self, trial: str) -> dict[str, Any] | None:
        """One finished trial's row, or None when the index has no such trial in this run."""
        found = self._trial(trial)
        return None if found is None else _row(self.run_id, found)

    def results(self, trial: str) -> dict[str, Any] | None:
        """The results.json of the trial's attempt that stands for it, or None."""
        found = self._trial(trial)
        if found is None:
            return None
        return _json_object(self._read(f"{found.folder}/{results_api.RESULTS_JSON}", RESULTS_LIMIT))

    def trajectory_path(self, trial: str) -> str | None:
        """A local copy of the trial's trajectory.jsonl (fetched on first use), or None.

        Raises:
            trajectory_cache.TooLarge: the trajectory is larger than the cache.
            KubegymError: the store could not be read (its error names the cause).
        """
        found = self._trial(trial)
        if found is None or found.trajectory is None:
            return None
        path = found.trajectory
        tag = self.source.fingerprints([path]).get(path)
        if tag is None:
            return None
        key = self._key(path)
        store = self.catalog.store

        def size() -> int:
            info = store.stat(key)
            if info is None:
                raise FileNotFoundError(store.uri_of(key))
            return info.size

        try:
            return self.catalog.cache.path(
                store.uri_of(key), tag, size, lambda: store.read_bytes(key)
            )
        except FileNotFoundError:
            return None  # gone since the listing

    # Reading.

    def _trial(self, trial: str) -> results_index.TrialRow | None:
        ids.check_id(trial, "trial")
        self.refresh()
        return self.catalog.index.trial(self.index_run, trial)

    def _key(self, path: str) -> str:
        return f"{self.source.prefix}/{path}" if self.source.prefix else path

    def _read(self, path: str, limit: int) -> bytes | None:
        """A file of the run, or None when it is gone or larger than `limit` bytes."""
        tag = self.source.fingerprints([path]).get(path)
        if tag is None:
            return None
        size, _, _ = tag.partition(":")
        if size.isdigit() and int(size) > limit:
            return None
        try:
            return self.source.read_bytes(path)
        except FileNotFoundError:
            return None


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class StoreCatalog:
    """The runs under an ``s3://`` SOURCE, kept in step with it through a results index.

    Args:
        store: a store rooted at SOURCE (`kubegym.store.open_uri`).
        index: the results index the trials are paged from (filled here).
        cache: where trajectories are fetched to.

    Raises:
        ConfigError: the store refused the credentials, has no such bucket, or holds
            no run under the prefix; `kubegym.store.errors.StoreUnreachable` when the
            endpoint does not answer.
    """

    def __init__(
        self,
        store: store_base.Store,
        index: results_index.ResultsIndex,
        cache: trajectory_cache.TrajectoryCache,
    ):
        opened = sources.StoreRunSource(store, store.uri)
        self.source = opened.location
        self.store = store
        self.index = index
        self.cache = cache
        self._opened = opened
        self._runs: dict[str, StoreRun] = {}
        self._lock = threading.Lock()
        """Held while listing and ingesting."""
        self._state = threading.Lock()
        self._refreshing = False
        self._ingested_at = -INGEST_SECONDS
        self.store.check()  # wrong credentials, no bucket, no endpoint: said before serving
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Bring the index up to the store: list the prefix and ingest what changed.

        Forced, it happens now. Otherwise at most once every `INGEST_SECONDS`, and
        in a thread of its own: a page is answered from the index as it is (seconds
        old at most) and never waits for a LIST of a large prefix.
        """
        if force:
            with self._lock:
                self._ingest(force=True)
            return
        with self._state:
            if self._refreshing or time.monotonic() - self._ingested_at < INGEST_SECONDS:
                return
            self._refreshing = True
        threading.Thread(target=self._background, name="kubegym-view-ingest", daemon=True).start()

    def _background(self) -> None:
        try:
            with self._lock:
                self._ingest(force=False)
        except Exception as exc:  # the store or the index failed: the next page tries again
            log.warning("viewer_ingest_failed", source=self.source, error=str(exc)[:500])
        finally:
            with self._state:
                self._refreshing = False
                self._ingested_at = time.monotonic()

    def _ingest(self, *, force: bool) -> None:
        # Called with `_lock` held: one listing and ingest at a time.
        listing = sources.StoreRunSource(self.store, self._opened.uri)
        try:
            found = sources.split_runs(listing)
        except ConfigError:
            if force and not self._runs:
                raise
            found = []  # emptied since: keep what was shown
        runs: dict[str, StoreRun] = {}
        for run in found:
            assert isinstance(run, sources.PrefixedRunSource)
            try:
                run_id = ids.check_id(run.name, "run")
            except ids.BadId:
                continue  # a run no URL could name is not shown
            if run_id in runs:
                continue  # the same last segment under two paths: the first one
            self.index.ingest(run)
            known = self._runs.get(run_id)
            if known is not None and known.source.location == run.location:
                known.source = run
                runs[run_id] = known
            else:
                runs[run_id] = StoreRun(self, run_id, run)
        if runs or force:
            self._runs = runs
        with self._state:
            self._ingested_at = time.monotonic()

    def runs(self) -> list[dict[str, Any]]:
        """Every run's row (`StoreRun.summary`), by id."""
        self.refresh()
        return [self._runs[r].summary() for r in sorted(self._runs)]

    def run(self, run_id: str) -> StoreRun | None:
        """The run of that id, or None."""
        ids.check_id(run_id, "run")
        self.refresh()
        return self._runs.get(run_id)

    def trials(
        self,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: str | None,
    ) -> dict[str, Any] | None:
        """A page of a run's trials (as `kubegym.viewer.catalog.Catalog.trials`)."""
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"unknown filter {sorted(unknown)[0]!r}")
        run = self.run(run_id)
        if run is None:
            return None
        return run.page({k: v for k, v in filters.items() if v is not None}, cursor, limit)


__all__ = ["INGEST_SECONDS", "StoreCatalog", "StoreRun"]
