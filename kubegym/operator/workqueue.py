"""A coalescing work queue: many events about one object become one reconcile at a time.

Watch events arrive in bursts (a Trial's status write, its two pods' updates);
reconciling on each would repeat work and race with itself. The queue keeps at
most one pending entry per key, never runs two reconciles of the same key at
once (an event during a run marks the key dirty and it runs once more after),
runs at most `workers` reconciles at a time in a thread pool (the Kubernetes
client is synchronous), and honours "look again in N seconds" from a reconcile.
The same shape as client-go's workqueue, in a few lines of asyncio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger()

K = TypeVar("K", bound=Hashable)

#: The longest a failing key waits before it is tried again.
MAX_ERROR_DELAY = 60.0


class WorkQueue(Generic[K]):
    """Runs `reconcile(key)` for each key added, one at a time per key.

    Args:
        name: for logs ("trial", "run").
        reconcile: does the work; returns seconds until it should run again, or None.
        workers: the most reconciles at once.
        on_error: called with the key and the exception when a reconcile raises
            (the key is then retried with exponential backoff).
    """

    def __init__(
        self,
        name: str,
        reconcile: Callable[[K], float | None],
        workers: int = 8,
        on_error: Callable[[K, BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self._reconcile = reconcile
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = asyncio.Semaphore(workers)
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._errors: dict[K, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_error = on_error
        self._closed = False

    def add(self, key: K, delay: float = 0.0) -> None:
        """Reconcile `key` soon (after `delay` seconds at the earliest). Call from the loop."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if delay > 0:
            timer = self._timers.get(key)
            due = loop.time() + delay
            if timer is not None and timer.when() <= due:
                return
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_at(due, self._fire, key)
            return
        if key in self._running:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        task = loop.create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def _run(self, key: K) -> None:
        async with self._slots:
            self._queued.discard(key)
            self._running.add(key)
            started = time.monotonic()
            again: float | None
            try:
                again = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._reconcile, key
                )
                self._errors.pop(key, None)
            except Exception as exc:
                failures = self._errors[key] = self._errors.get(key, 0) + 1
                again = min(MAX_ERROR_DELAY, 0.5 * 2 ** (failures - 1))
                log.warning(
                    "reconcile_failed",
                    queue=self.name,
                    key=str(key),
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=again,
                )
                if self._on_error is not None:
                    self._on_error(key, exc)
            finally:
                self._running.discard(key)
            log.debug(
                "reconciled", queue=self.name, key=str(key), seconds=time.monotonic() - started
            )
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        if again is not None:
            self.add(key, again)

    @property
    def idle(self) -> bool:
        """Nothing queued or running (timers may still be set)."""
        return not self._queued and not self._running

    async def close(self) -> None:
        """Stop taking keys, cancel timers, wait for running reconciles."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
