"""The coalescing work queue: a burst of events is one more reconcile, one key never runs
twice at once, "look again in N seconds" is honoured, and failures come back with backoff.

Real asyncio with small sleeps; each test takes well under a second.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from kubegym.operator import workqueue
from kubegym.operator.workqueue import WorkQueue


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=5))


async def eventually(check: Callable[[], bool], timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


class Recorder:
    """A reconcile that records its calls, how many ran at once, and can be held."""

    def __init__(self, hold: float = 0.0, answers: dict[str, list[Any]] | None = None) -> None:
        self.calls: list[tuple[str, float, float]] = []  # key, start, end
        self.hold = hold
        self.answers = answers or {}
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}
        self.most_overall = 0

    def __call__(self, key: str) -> float | None:
        start = time.monotonic()
        with self._lock:
            self._now[key] = self._now.get(key, 0) + 1
            self.most_at_once[key] = max(self.most_at_once.get(key, 0), self._now[key])
            self.most_overall = max(self.most_overall, sum(self._now.values()))
        try:
            self.gate.wait(2)
            time.sleep(self.hold)
            answers = self.answers.get(key)
            answer = answers.pop(0) if answers else None
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            with self._lock:
                self._now[key] -= 1
                self.calls.append((key, start, time.monotonic()))

    def count(self, key: str) -> int:
        return sum(1 for k, _, _ in self.calls if k == key)


async def holding(key: str) -> tuple[Recorder, WorkQueue[str]]:
    """A one-worker queue whose worker is held by ``key``'s reconcile (until the gate is set),
    so what is added next waits, in the order the queue will give it."""
    reconcile = Recorder()
    reconcile.gate.clear()
    queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=1)
    queue.add(key)
    await eventually(lambda: reconcile.most_overall == 1)
    return reconcile, queue


def test_a_burst_while_running_is_one_more_run() -> None:
    async def scenario() -> None:
        reconcile = Recorder()
        reconcile.gate.clear()
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=2)
        queue.add("a")
        await eventually(lambda: not queue.idle and reconcile.most_overall == 1)
        for _ in range(10):
            queue.add("a")
        reconcile.gate.set()
        await eventually(lambda: reconcile.count("a") >= 2 and queue.idle)
        await asyncio.sleep(0.05)
        assert reconcile.count("a") == 2
        await queue.close()

    run(scenario)


def test_a_burst_while_waiting_for_a_worker_is_one_run() -> None:
    async def scenario() -> None:
        reconcile, queue = await holding("busy")
        for _ in range(10):
            queue.add("waiting")
        reconcile.gate.set()
        await eventually(lambda: reconcile.count("waiting") >= 1 and queue.idle)
        await asyncio.sleep(0.05)
        assert reconcile.count("waiting") == 1 and reconcile.count("busy") == 1
        await queue.close()

    run(scenario)


def test_one_key_never_runs_twice_at_once_but_keys_run_side_by_side() -> None:
    async def scenario() -> None:
        reconcile = Recorder(hold=0.03)
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=4)
        for _ in range(8):
            for key in ("a", "b"):
                queue.add(key)
            await asyncio.sleep(0.01)
        await eventually(lambda: queue.idle, timeout=2)
        await queue.close()
        assert reconcile.most_at_once == {"a": 1, "b": 1}
        assert reconcile.most_overall == 2, "a and b ran at the same time"
        # the events during each run were not lost: each key ran again after its last event
        assert 2 <= reconcile.count("a") <= 8

    run(scenario)


def test_workers_bound_the_reconciles_at_once() -> None:
    async def scenario() -> None:
        reconcile = Recorder(hold=0.03)
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=2)
        for key in "abcdef":
            queue.add(key)
        await eventually(lambda: len(reconcile.calls) == 6, timeout=2)
        await queue.close()
        assert reconcile.most_overall == 2

    run(scenario)


def test_a_requested_requeue_runs_the_key_again_after_the_delay() -> None:
    async def scenario() -> None:
        reconcile = Recorder(answers={"a": [0.1, None]})
        queue: WorkQueue[str] = WorkQueue("t", reconcile)
        queue.add("a")
        await eventually(lambda: reconcile.count("a") == 2)
        (_, _, first_end), (_, second_start, _) = reconcile.calls
        assert second_start - first_end >= 0.09
        await asyncio.sleep(0.15)
        assert reconcile.count("a") == 2, "None means: no more unless something happens"
        await queue.close()

    run(scenario)


def test_the_earlier_of_two_delays_wins() -> None:
    async def scenario() -> None:
        reconcile = Recorder()
        queue: WorkQueue[str] = WorkQueue("t", reconcile)
        began = time.monotonic()
        queue.add("late-then-soon", 0.3)
        queue.add("late-then-soon", 0.03)
        queue.add("soon-then-late", 0.03)
        queue.add("soon-then-late", 0.3)
        await eventually(lambda: len(reconcile.calls) == 2)
        assert all(0.03 <= start - began < 0.25 for _, start, _ in reconcile.calls)
        await asyncio.sleep(max(0.0, began + 0.36 - time.monotonic()))
        assert len(reconcile.calls) == 2, "the later timer was dropped"
        await queue.close()

    run(scenario)


def test_failures_are_reported_and_retried_with_growing_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workqueue, "MAX_ERROR_DELAY", 0.75)
    errors = [RuntimeError("api down"), RuntimeError("still down"), RuntimeError("down")]

    async def scenario() -> None:
        reconcile = Recorder(answers={"a": [errors[0], errors[1], None, errors[2], None]})
        reported: list[tuple[str, BaseException]] = []
        queue: WorkQueue[str] = WorkQueue(
            "t", reconcile, on_error=lambda k, e: reported.append((k, e))
        )
        delays: list[float] = []
        add = queue.add

        def shortened(key: str, delay: float = 0.0) -> None:
            """Record the queue's own delays, and wait a fiftieth of them."""
            if delay:
                delays.append(delay)
            add(key, delay / 50)

        monkeypatch.setattr(queue, "add", shortened)
        queue.add("a")
        await eventually(lambda: reconcile.count("a") == 3)
        assert reported == [("a", errors[0]), ("a", errors[1])]
        assert delays == [0.5, 0.75], "0.5 s, then doubled, capped by MAX_ERROR_DELAY"
        # a success forgets the failures: the next one starts the backoff again
        queue.add("a")
        await eventually(lambda: reconcile.count("a") == 5)
        assert reported[-1] == ("a", errors[2])
        assert delays == [0.5, 0.75, 0.5]
        await queue.close()

    run(scenario)


def test_a_failing_key_does_not_hold_up_the_others() -> None:
    async def scenario() -> None:
        reconcile = Recorder(answers={"bad": [RuntimeError("boom")] * 5})
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=1, on_error=lambda k, e: None)
        queue.add("bad")
        queue.add("good")
        await eventually(lambda: reconcile.count("good") == 1)
        await queue.close()

    run(scenario)


def test_close_cancels_timers_and_refuses_new_keys() -> None:
    async def scenario() -> None:
        reconcile = Recorder()
        queue: WorkQueue[str] = WorkQueue("t", reconcile)
        queue.add("later", 0.05)
        await queue.close()
        queue.add("after")
        await asyncio.sleep(0.1)
        assert reconcile.calls == []

    run(scenario)


def test_close_waits_for_running_reconciles() -> None:
    async def scenario() -> None:
        reconcile = Recorder(hold=0.05)
        queue: WorkQueue[str] = WorkQueue("t", reconcile)
        queue.add("a")
        await eventually(lambda: reconcile.most_overall == 1)
        await queue.close()
        assert reconcile.count("a") == 1 and queue.idle

    run(scenario)


def test_min_interval_spaces_one_keys_reconciles_and_coalesces_what_comes_between() -> None:
    async def scenario() -> None:
        rec = Recorder()
        queue: WorkQueue[str] = WorkQueue("t", rec, workers=2, min_interval=0.3)
        queue.add("run")
        await eventually(lambda: len(rec.calls) == 1)
        for _ in range(20):  # a burst of trial changes right after the first reconcile
            queue.add("run")
            await asyncio.sleep(0.005)
        queue.add("other")
        await eventually(lambda: sum(k == "run" for k, _, _ in rec.calls) == 2, timeout=2.0)
        await asyncio.sleep(0.4)
        starts = [start for key, start, _ in rec.calls if key == "run"]
        assert len(starts) == 2, "twenty adds within the interval are one more reconcile"
        assert starts[1] - starts[0] >= 0.29
        # Another key is not held back by this one's interval. (An order, not a time: on a
        # loaded machine the loop itself may lag by more than the interval.)
        other = [start for key, start, _ in rec.calls if key == "other"]
        assert other and other[0] < starts[1]
        await queue.close()

    run(scenario)


def test_retries_after_errors_share_one_bucket() -> None:
    now = [0.0]
    bucket = workqueue.RetryBucket(rate=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.delay() for _ in range(3)] == [0.0, 0.0, 0.0], "the burst"
    waits = [bucket.delay() for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3]), "then one every 1/rate seconds, in order"
    now[0] = 10.0
    assert bucket.delay() == 0.0, "refilled"


def test_a_slow_key_is_spaced_by_its_own_duration() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=0.1)
        queue: WorkQueue[str] = WorkQueue("t", rec, workers=2, min_interval=0.05, busy_factor=3)
        queue.add("big-run")
        await eventually(lambda: len(rec.calls) == 1)
        queue.add("big-run")  # news while it runs: once more, but not at once
        await eventually(lambda: len(rec.calls) == 2, timeout=2.0)
        (_, _, first_end), (_, second_start, _) = rec.calls
        assert second_start - first_end >= 0.28, "three times the 0.1 s it took"
        await queue.close()

    run(scenario)


def test_a_long_reconcile_holds_the_next_back_no_longer_than_the_cap() -> None:
    async def scenario() -> None:
        rec = Recorder(hold=0.2)  # say, a reconcile that wrote thousands of Trials
        queue: WorkQueue[str] = WorkQueue(
            "t", rec, workers=2, min_interval=0.01, busy_factor=100, max_busy_delay=0.3
        )
        queue.add("run")
        await eventually(lambda: len(rec.calls) == 1)
        queue.add("run")
        await eventually(lambda: len(rec.calls) == 2, timeout=2.0)  # not 100 × 0.2 s = 20 s
        (_, _, first_end), (_, second_start, _) = rec.calls
        assert 0.28 <= second_start - first_end < 1.5
        await queue.close()

    run(scenario)


def test_thousands_of_waiting_keys_are_keys_not_tasks_and_all_run_once() -> None:
    # A restart's initial listing queues every Trial at once: what waits must be the key
    # alone (bench/operator_memory.py measured an asyncio task per key at 1.5 KiB each).
    async def scenario() -> None:
        reconcile = Recorder()
        reconcile.gate.clear()  # the first reconciles hold their workers
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=3)
        keys = [f"k{i}" for i in range(1000)]
        for key in keys:
            queue.add(key)
        for key in keys[:10]:
            queue.add(key)  # duplicates while waiting: nothing more
        assert len(queue._tasks) <= 3
        reconcile.gate.set()
        await eventually(lambda: len(reconcile.calls) == 1000, timeout=4)
        await queue.close()
        assert sorted(k for k, _, _ in reconcile.calls) == sorted(keys)
        assert reconcile.most_overall <= 3 and queue.idle

    run(scenario)


def test_close_still_runs_the_keys_that_were_waiting() -> None:
    async def scenario() -> None:
        reconcile = Recorder(hold=0.01)
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=1)
        for key in "abc":
            queue.add(key)
        await queue.close()
        assert sorted(k for k, _, _ in reconcile.calls) == ["a", "b", "c"]

    run(scenario)


def order_of(reconcile: Recorder) -> list[str]:
    return [k for k, _, _ in sorted(reconcile.calls, key=lambda c: c[1])]


def test_urgent_keys_go_ahead_of_those_waiting() -> None:
    # A run waits on its trials' starts; noting a trial running or finished can wait.
    async def scenario() -> None:
        reconcile, queue = await holding("busy")
        for key in ("n1", "n2"):
            queue.add(key)
        for key in ("u1", "u2"):
            queue.add(key, urgent=True)
        reconcile.gate.set()
        await eventually(lambda: len(reconcile.calls) == 5 and queue.idle)
        await queue.close()
        assert order_of(reconcile) == ["busy", "u1", "u2", "n1", "n2"]

    run(scenario)


def test_a_waiting_key_made_urgent_jumps_ahead_and_still_runs_once() -> None:
    async def scenario() -> None:
        reconcile, queue = await holding("busy")
        for key in ("n1", "n2", "late"):
            queue.add(key)
        queue.add("late", urgent=True)  # waiting in the other lane: one run, first
        queue.add("late", urgent=True)
        assert list(queue._urgent) == ["late"]  # entered in the urgent lane once
        reconcile.gate.set()
        await eventually(lambda: len(reconcile.calls) == 4 and queue.idle)
        await asyncio.sleep(0.05)
        await queue.close()
        assert order_of(reconcile) == ["busy", "late", "n1", "n2"]

    run(scenario)


def test_an_urgent_add_while_running_makes_the_next_run_urgent() -> None:
    async def scenario() -> None:
        reconcile, queue = await holding("a")
        queue.add("n1")
        queue.add("a", urgent=True)  # "a" runs: once more after, ahead of n1
        reconcile.gate.set()
        await eventually(lambda: len(reconcile.calls) == 3 and queue.idle)
        await queue.close()
        assert order_of(reconcile) == ["a", "a", "n1"]
        assert reconcile.most_at_once["a"] == 1

    run(scenario)


def test_an_add_between_taking_a_key_and_starting_it_is_that_run() -> None:
    # The key leaves the waiting lanes as its task is made, before the task starts: an
    # add in that gap is served by the run about to start (it reads the cache after),
    # never a second run beside it.
    async def scenario() -> None:
        reconcile = Recorder(hold=0.02)
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=2)
        queue.add("a")
        queue.add("a", urgent=True)  # same loop step: the task has not started yet
        await eventually(lambda: queue.idle and len(reconcile.calls) >= 1)
        await asyncio.sleep(0.05)
        await queue.close()
        assert reconcile.count("a") == 1

    run(scenario)


def test_waiting_keys_keep_nothing_of_the_watch_event_that_added_them() -> None:
    """kopf calls the handlers that add keys with its event's cause in context variables
    (the object's whole body, managedFields and all). A timer or task that copied that
    context would keep the body for as long as it waits, and a running trial's deadline
    timer outlives the trial: a run kept one body for each finished trial."""
    cause: contextvars.ContextVar[object] = contextvars.ContextVar("cause")

    class Body:
        """Stands for the event's body."""

    async def scenario() -> None:
        reconcile = Recorder()
        reconcile.gate.clear()  # the first key's run waits, holding its task
        queue: WorkQueue[str] = WorkQueue("t", reconcile, workers=1)
        body = Body()
        kept = weakref.ref(body)

        def watch_handler(event: Body) -> None:
            cause.set(event)
            queue.add("running")  # a task, now
            queue.add("waiting")  # no free worker: waits in the lane
            queue.add("deadline", delay=3600)  # a timer, as a running trial's deadline

        contextvars.copy_context().run(watch_handler, body)
        await eventually(lambda: reconcile.most_overall == 1)  # "running" runs, held
        del body
        gc.collect()
        assert kept() is None, "a waiting timer or task keeps the event's body alive"
        reconcile.gate.set()
        await eventually(lambda: reconcile.count("waiting") == 1)
        await queue.close()

    run(scenario)
