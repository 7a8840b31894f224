"""The kopf side of the operator: only event and index handlers, so kopf's diff base is off;
an idle object's worker ends soon, so kopf does not hold every new object's body at once.

`handlers.NoDiffBase` spares kopf a deep copy of every watched body per event; that is
right only while no handler reads a diff (change handlers, daemons, timers). A handler of
those kinds added later must fail here, not silently see no changes on the cluster.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import types
import weakref
from typing import Any, cast

import kopf

from kubegym.operator import handlers, informer
from kubegym.operator.controller import Controller


def registry() -> kopf.OperatorRegistry:
    controller = types.SimpleNamespace(cache=informer.Cache())
    return handlers.registry(cast(Controller, controller))


def test_the_operator_registers_no_handler_that_reads_a_diff() -> None:
    reg = registry()
    # kopf's own registries (no public listing): change handlers and daemons/timers.
    assert list(reg._changing.get_all_handlers()) == []
    assert list(reg._spawning.get_all_handlers()) == []
    assert len(list(reg._watching.get_all_handlers())) == 4  # runs, trials, tasks, pods
    assert len(list(reg._indexing.get_all_handlers())) == 4


def test_every_watch_handler_runs_in_kopf_s_event_loop() -> None:
    """A plain function would go to kopf's thread pool: a hand-off per watch event, and the
    cache's copies made from that thread's malloc arena (`handlers.registry`)."""
    reg = registry()
    found = [*reg._watching.get_all_handlers(), *reg._indexing.get_all_handlers()]
    assert len(found) == 8
    for handler in found:
        assert inspect.iscoroutinefunction(handler.fn), handler.id


def test_no_diff_base_copies_nothing_and_remembers_nothing() -> None:
    storage = handlers.NoDiffBase()
    raw: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"a": "b"}, "labels": {"x": "y"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    body = kopf.Body(raw)
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch  # nothing written to the object


def test_the_operators_settings_have_kopf_decode_watch_events_lean() -> None:
    """`handlers.tune` has kopf's watch stream decode events without managedFields."""
    from kopf._cogs.clients import api

    handlers.tune(kopf.OperatorSettings())
    line = b'{"type":"ADDED","object":{"metadata":{"name":"p","managedFields":[{"m":1}]}}}'
    assert api.json.loads(line.decode()) == {"type": "ADDED", "object": {"metadata": {"name": "p"}}}


def test_kopf_lets_go_of_an_objects_last_event_soon_after_it() -> None:
    """kopf's worker for an object holds its last watch event (the whole decoded body) while
    it idles; tuned, it ends within `WORKER_IDLE_SECONDS` and the event can be collected.
    Against kopf's own worker: a renamed setting would be set on nothing and pass silently."""
    from kopf._core.reactor import queueing

    settings = kopf.OperatorSettings()
    handlers.tune(settings)
    assert settings.queueing.idle_timeout == handlers.WORKER_IDLE_SECONDS < 1.0

    class Event(dict[str, Any]):  # a dict that a weak reference can follow
        pass

    async def scenario() -> tuple[bool, bool]:
        seen: list[str] = []

        async def processor(*, raw_event: Any, **_: Any) -> None:
            seen.append(raw_event["object"]["metadata"]["uid"])

        key: Any = ("pods", "uid-1")
        stream = queueing.Stream(asyncio.Queue(), asyncio.Event())
        streams: dict[Any, Any] = {key: stream}
        event = Event(type="ADDED", object={"metadata": {"uid": "uid-1"}})
        gone = weakref.ref(event)
        stream.backlog.put_nowait(event)
        del event
        worker = asyncio.create_task(
            queueing.worker(
                signaller=asyncio.Condition(),
                settings=settings,
                processor=processor,
                streams=streams,
                key=key,
            )
        )
        # Well inside kopf's default idle time of 5 s, well past the tuned one.
        done, _ = await asyncio.wait({worker}, timeout=3 * handlers.WORKER_IDLE_SECONDS + 1)
        gc.collect()
        return bool(done) and seen == ["uid-1"] and key not in streams, gone() is None

    ended, released = asyncio.run(scenario())
    assert ended, "the worker was still idling with its last event"
    assert released, "the last event was still referenced once the worker ended"


def test_the_operator_trims_its_heap_from_startup_to_cleanup() -> None:
    """`heap.trim_forever` runs for the operator's whole life (the RSS it saves is in
    bench/README.md) and stops with it."""
    controller = types.SimpleNamespace(
        cache=informer.Cache(),
        reconcile_trial=lambda key: None,
        reconcile_run=lambda key: None,
        close=lambda: None,
    )
    reg = handlers.registry(cast(Controller, controller))
    by_activity = {h.activity.value: h.fn for h in reg._activities.get_all_handlers() if h.activity}

    def trimming() -> list[asyncio.Task[Any]]:
        return [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "trim_forever" and not t.done()
        ]

    async def main() -> None:
        await by_activity["startup"](settings=kopf.OperatorSettings())
        assert len(trimming()) == 1
        found = trimming()[0]
        await by_activity["cleanup"]()
        await asyncio.sleep(0)
        assert found.cancelled()

    asyncio.run(main())
