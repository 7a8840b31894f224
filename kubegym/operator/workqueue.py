"""A coalescing work queue: many events about one object become one reconcile at a time.

Watch events arrive in bursts (a Trial's status write, its two pods' updates);
reconciling on each would repeat work and race with itself. The queue keeps at
most one pending entry per key, never runs two reconciles of the same key at
once (an event during a run marks the key dirty and it runs once more after),
runs at most `workers` reconciles at a time in a thread pool (the Kubernetes
client is synchronous), and honours "look again in N seconds" from a reconcile.
Rate limits, as client-go's default controller limiter: a failing key waits
exponentially longer (0.5 s doubling to a minute), and all retries after errors
share one token bucket (`RETRY_RATE` a second after a burst of `RETRY_BURST`), so
an API server in trouble is not hammered by thousands of keys at once. A queue
may also space one key's reconciles by `min_interval` (the run queue does: a
run of 10,000 trials hears of every trial's change, and one reconcile a second
sees them all). Keys added as urgent (a trial to start) go ahead of the others
waiting (a trial to note running or to finish): starting what is admitted is what a
run waits on, and the rest loses nothing by waiting its turn. The same shape as
client-go's workqueue, in asyncio, with two lanes.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger()

K = TypeVar("K", bound=Hashable)

#: The longest a failing key waits before it is tried again.
MAX_ERROR_DELAY = 60.0
#: Retries after errors, over all keys: this many a second after a burst of `RETRY_BURST`.
RETRY_RATE, RETRY_BURST = 10.0, 100


def _bare() -> contextvars.Context:
    """An empty context for a timer or task the queue makes.

    Keys are added from kopf's watch handlers, whose context variables hold the event's
    cause: the object's whole body. A timer or task made there would copy that context
    and keep the body for as long as it waits, and a running trial's deadline timer waits
    past the trial's end, until that deadline: one body kept for each finished trial
    (bench/README, "What held the memory"). The reconciles read the cache, never the
    context, and run in executor threads, which do not inherit it anyway."""
    return contextvars.Context()


class RetryBucket:
    """client-go's BucketRateLimiter: `delay` reserves the next token and says when it is due."""

    def __init__(
        self,
        rate: float = RETRY_RATE,
        burst: int = RETRY_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def delay(self) -> float:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0  # reserved even when in debt: the next waits longer
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue(Generic[K]):
    """Runs `reconcile(key)` for each key added, one at a time per key.

    Args:
        name: for logs ("trial", "run").
        reconcile: does the work; returns seconds until it should run again, or None.
        workers: the most reconciles at once.
        on_error: called with the key and the exception when a reconcile raises
            (the key is then retried with exponential backoff).
        min_interval: the least time between the starts of two reconciles of one key.
        busy_factor: with `min_interval`, also wait this many times the key's last
            reconcile's duration, so one big key (a run of 10,000 trials) takes at most
            1/busy_factor of a worker however often it hears of changes...
        max_busy_delay: ...but never longer than this: a reconcile that was long because
            it wrote thousands of objects must not hold the next one back for an hour.
    """

    def __init__(
        self,
        name: str,
        reconcile: Callable[[K], float | None],
        workers: int = 8,
        on_error: Callable[[K, BaseException], None] | None = None,
        min_interval: float = 0.0,
        busy_factor: float = 0.0,
        max_busy_delay: float = 10.0,
    ) -> None:
        self.name = name
        self._reconcile = reconcile
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._workers = workers
        # Keys waiting for a worker, in order: a task is made only when a worker is free
        # (a restart's initial listing queues every Trial at once: 10,000 keys, not
        # 10,000 asyncio tasks, bench/operator_memory.py).
        self._ready: deque[K] = deque()
        # The urgent lane, served first. A key made urgent while it waits in the other
        # lane is entered here once more; whichever entry reaches a worker first runs it,
        # and the other, no longer in `_queued`, is skipped.
        self._urgent: deque[K] = deque()
        self._active = 0
        self._queued: dict[K, bool] = {}  # key waiting → whether it is in the urgent lane
        # Taken from a lane, their task not started yet: an add now changes nothing (the
        # reconcile about to start reads the cache after it).
        self._starting: set[K] = set()
        self._running: set[K] = set()
        self._dirty: dict[K, bool] = {}  # key → whether an urgent add came while it ran
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._errors: dict[K, int] = {}
        self._retries = RetryBucket()
        self._min_interval = min_interval
        self._busy_factor = busy_factor
        self._max_busy_delay = max_busy_delay
        self._last_start: dict[K, float] = {}  # the next allowed start, in fact
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_error = on_error
        self._closed = False

    def add(self, key: K, delay: float = 0.0, urgent: bool = False) -> None:
        """Reconcile `key` soon (after `delay` seconds at the earliest). Call from the loop.

        An `urgent` key waits in the lane that workers serve first (a delayed add is
        never urgent: its delay says it can wait)."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        waiting = key in self._queued or key in self._starting
        if self._min_interval and key not in self._running and not waiting:
            allowed = self._last_start.get(key)
            if allowed is not None:
                delay = max(delay, allowed - loop.time())
        if delay > 0:
            timer = self._timers.get(key)
            due = loop.time() + delay
            if timer is not None and timer.when() <= due:
                return
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_at(due, self._fire, key, context=_bare())
            return
        if key in self._starting:
            return
        if key in self._running:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        if key in self._queued:
            if urgent and not self._queued[key]:  # jump ahead (that entry is skipped)
                self._queued[key] = True
                self._urgent.append(key)
            return
        self._queued[key] = urgent
        (self._urgent if urgent else self._ready).append(key)
        self._start_ready()

    def _start_ready(self) -> None:
        """Give each free worker the next waiting key."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a task torn down with its loop: nothing more to start
            return
        while self._active < self._workers:
            key = self._next_waiting()
            if key is None:
                return
            self._active += 1
            task = loop.create_task(self._run(key), context=_bare())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard, context=_bare())

    def _next_waiting(self) -> K | None:
        """The next key to run, urgent lane first; None when none waits."""
        for lane in (self._urgent, self._ready):
            while lane:
                key = lane.popleft()
                if key in self._queued:  # else a stale entry: the key ran from the other lane
                    del self._queued[key]
                    self._starting.add(key)
                    return key
        return None

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def _run(self, key: K) -> None:
        try:
            self._starting.discard(key)
            self._running.add(key)
            started = time.monotonic()
            if self._min_interval:
                self._note_start(key)
            again: float | None
            try:
                again = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._reconcile, key
                )
                self._errors.pop(key, None)
            except Exception as exc:
                failures = self._errors[key] = self._errors.get(key, 0) + 1
                again = max(min(MAX_ERROR_DELAY, 0.5 * 2 ** (failures - 1)), self._retries.delay())
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
                if self._min_interval:
                    self._note_end(key, time.monotonic() - started)
            log.debug(
                "reconciled", queue=self.name, key=str(key), seconds=time.monotonic() - started
            )
        finally:
            self._active -= 1
            if key in self._dirty:  # before the free worker goes to another key
                self.add(key, urgent=self._dirty.pop(key))
            self._start_ready()
        if again is not None:
            self.add(key, again)

    def _note_start(self, key: K) -> None:
        now = asyncio.get_running_loop().time()
        self._last_start[key] = now + self._min_interval
        if len(self._last_start) > 50_000:  # keys of objects long gone
            self._last_start = {k: t for k, t in self._last_start.items() if t > now}

    def _note_end(self, key: K, took: float) -> None:
        if key in self._last_start:
            busy = min(self._busy_factor * took, self._max_busy_delay)
            self._last_start[key] = max(
                self._last_start[key], asyncio.get_running_loop().time() + busy
            )

    @property
    def idle(self) -> bool:
        """Nothing queued or running (timers may still be set)."""
        return not self._queued and not self._starting and not self._running

    async def close(self) -> None:
        """Stop taking keys, cancel timers, wait for running reconciles."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        while self._tasks:  # the keys already queued still run, as workers free up
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._executor.shutdown(wait=True)
