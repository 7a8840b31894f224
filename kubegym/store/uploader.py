"""Getting artifacts into the store even while it is away: try now, else spool, flush later.

The local runner (and, on a cluster, the agent pod) hands every artifact to an
`Uploader`. When the store answers, the file goes straight up; when it is
unreachable, a copy waits in the `kubegym.store.spool.Spool` and the call
returns at once, so the run goes on. `flush` (called at the end of a run, on the
next run, or every few seconds by `start_background`) sends what waits. `durable`
answers the question a trial's completion depends on: is nothing of it still
waiting?
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from kubegym.store import base, errors, spool

log = structlog.get_logger()

Outcome = Literal["uploaded", "unchanged", "spooled"]


@dataclass(frozen=True)
class FlushReport:
    """What one `Uploader.flush` did."""

    uploaded: int
    """Entries the store took (or already held)."""
    pending: int
    """Entries still waiting: the store is unreachable."""
    refused: int
    """Entries the store's overwrite rule refused, set aside in the spool's ``refused/``."""


class Uploader:
    """Uploads to ``store``, spooling while it is unreachable.

    Args:
        store: where artifacts go.
        spool_folder: where they wait meanwhile.
        quiet_seconds: after the store was found unreachable, artifacts go straight
            to the spool for this long instead of paying the retries again each time.
    """

    def __init__(self, store: base.Store, spool_folder: Path, *, quiet_seconds: float = 15.0):
        self.store = store
        self.spool = spool.Spool(spool_folder)
        self.quiet_seconds = quiet_seconds
        self._away_until = 0.0
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(
        self, key: str, path: Path, *, policy: base.WritePolicy = "once", mtime: float | None = None
    ) -> Outcome:
        """Store ``path`` under ``key`` now, or spool it when the store is unreachable.

        Raises:
            OverwriteRefused, ChecksumMismatch, AccessDenied, BucketMissing,
            CredentialsMissing: errors a retry later would not cure.
        """
        when = path.stat().st_mtime if mtime is None else mtime
        if time.monotonic() < self._away_until or self.spool.entries(key):
            # Known to be away, or an older copy waits: keep the order of writes to a key.
            self.spool.add(key, path, policy, when)
            return "spooled"
        try:
            return self.store.put_file(key, path, policy=policy, mtime=when)
        except errors.StoreUnreachable as exc:
            self._away(exc)
            self.spool.add(key, path, policy, when)
            return "spooled"

    def _away(self, exc: errors.StoreUnreachable) -> None:
        self._away_until = time.monotonic() + self.quiet_seconds
        log.warning("store_unreachable_spooling", store=self.store.uri, error=exc.message)

    def flush(self) -> FlushReport:
        """Send every spooled artifact, oldest first; stop at the first sign the store is away.

        Entries the overwrite rule refuses (an older rollup than the one stored, say)
        are set aside, not retried forever, and logged.
        """
        with self._flush_lock:
            uploaded = refused = 0
            waiting = self.spool.entries()
            for index, entry in enumerate(waiting):
                try:
                    self.store.put_file(
                        entry.key,
                        self.spool.data_path(entry),
                        policy=entry.policy,
                        mtime=entry.mtime,
                    )
                except errors.StoreUnreachable as exc:
                    self._away(exc)
                    return FlushReport(uploaded, len(waiting) - index, refused)
                except errors.OverwriteRefused as exc:
                    where = self.spool.set_aside(entry, str(exc))
                    log.error(
                        "store_refused_spooled", key=entry.key, error=str(exc), kept=str(where)
                    )
                    refused += 1
                    continue
                self.spool.remove(entry)
                uploaded += 1
            if uploaded:
                log.info("store_spool_flushed", uploaded=uploaded, store=self.store.uri)
            self._away_until = 0.0
            return FlushReport(uploaded, 0, refused)

    def pending(self, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` still waiting in the spool."""
        return [entry.key for entry in self.spool.entries(prefix)]

    def durable(self, prefix: str) -> bool:
        """Whether everything handed over under ``prefix`` is in the store (nothing waits)."""
        return not self.spool.entries(prefix)

    def start_background(self, interval: float = 10.0) -> None:
        """Flush every ``interval`` seconds in a daemon thread while entries wait; `close` stops it."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                if self.spool.entries():
                    try:
                        self.flush()
                    except Exception as exc:  # keep flushing later; the error is in the log
                        log.error("store_flush_failed", error=str(exc))

        self._thread = threading.Thread(target=loop, name="kubegym-store-flush", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background flusher (what waits stays in the spool for next time)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stop.clear()
