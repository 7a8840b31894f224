"""A local run's evidence into the run's S3 store: each trial's files after it ends, the rollups at the end.

Used by `kubegym.local.runner` when ``spec.store.s3`` is set; the output folder
stays the working copy. Files go through a `kubegym.store.Uploader`, so while S3
is unreachable they wait in ``OUT/.spool`` and the run goes on. A trial whose
files are all in the store gets a ``.stored.json`` marker in its folder; a trial
without one is handed over again by the next run (re-uploading identical files
is a no-op), so a re-run finishes what an outage left.
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from kubegym.api import results as results_api
from kubegym.api import runs
from kubegym.store import base, errors, factory, keys, uploader

log = structlog.get_logger()

#: In a trial's folder: written once every file of the trial is in the store.
MARKER = ".stored.json"
SPOOL = ".spool"
#: The run's rollups in the output folder, uploaded after the trials.
ROLLUPS = ("results.csv", "leaderboard.json", "profiles.png", "status.json")


class RunUploads:
    """Hands a run's files to the store.

    Args:
        run: the run's name (the first part of every key).
        store: where the files go.
        out: the run's output folder (the working copy; the spool lives in it).
    """

    def __init__(self, run: str, store: base.Store, out: Path):
        self.run = run
        self.store = store
        self.uploader = uploader.Uploader(store, out / SPOOL)

    @classmethod
    def for_run(cls, run: runs.BenchmarkRun, run_dir: Path, out: Path) -> RunUploads | None:
        """The uploads of a run whose store is S3; None for a local store or none.

        Raises:
            CredentialsMissing: no S3 credentials in the environment.
        """
        spec = run.spec.store
        if spec is None or spec.s3 is None:
            return None
        return cls(run.name, factory.from_spec(spec, base_dir=run_dir), out)

    def check(self) -> None:
        """Fail now on what no retry cures (missing bucket, denied access); an outage is only logged.

        Raises:
            BucketMissing, AccessDenied, CredentialsMissing.
        """
        try:
            self.store.check()
        except errors.StoreUnreachable as exc:
            log.warning("store_unreachable_at_start", store=self.store.uri, error=exc.message)

    def trial(self, folder: Path, results: results_api.TrialResult) -> bool:
        """Hand over every file of a finished trial, ``results.json`` last.

        Returns:
            Whether all of them are in the store now (else they wait in the spool).
        """
        files = [
            path
            for path in sorted(folder.rglob("*"))
            if path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
            and path.relative_to(folder).parts[0] != "workspace"
        ]
        # Like the working copy: a results.json in the store means the rest is there too.
        files.sort(key=lambda p: p.name == results_api.RESULTS_JSON)
        for path in files:
            name = path.relative_to(folder).as_posix()
            key = keys.attempt_key(self.run, results.trial, results.attempt, name)
            self.uploader.put(key, path, policy="once")
        prefix = keys.attempt_prefix(self.run, results.trial, results.attempt) + "/"
        durable = self.uploader.durable(prefix)
        if durable:
            marker = {"store": self.store.uri, "prefix": prefix, "files": len(files)}
            results_api.write_json_atomic(folder / MARKER, marker)
        else:
            log.warning("trial_not_durable_yet", trial=results.trial, pending=len(files))
        return durable

    def is_stored(self, folder: Path) -> bool:
        """Whether the trial in ``folder`` was found durable in this store."""
        try:
            marker = json.loads((folder / MARKER).read_text())
        except (OSError, ValueError):
            return False
        return bool(marker.get("store") == self.store.uri)

    def rollups(self, out: Path) -> None:
        """Hand over the run's results.csv, leaderboard.json, plot and status (newer replaces older)."""
        for name in ROLLUPS:
            path = out / name
            if path.is_file():
                self.uploader.put(keys.run_key(self.run, name), path, policy="newer")

    def flush(self) -> uploader.FlushReport:
        """Send what waits in the spool."""
        return self.uploader.flush()

    def durable(self) -> bool:
        """Whether nothing of the run waits in the spool."""
        return self.uploader.durable(keys.run_prefix(self.run) + "/")
