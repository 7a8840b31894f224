"""The kopf side of the operator: only event and index handlers, so kopf's diff base is off.

`handlers.NoDiffBase` spares kopf a deep copy of every watched body per event; that is
right only while no handler reads a diff (change handlers, daemons, timers). A handler of
those kinds added later must fail here, not silently see no changes on the cluster.
"""

from __future__ import annotations

import types
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
