"""A big grid's Trials are created a chunk per run reconcile (`runs.CREATE_CHUNK`), the
first admitted while the rest are still to be made; an operator restarted between, or in
the middle of, chunks neither loses nor duplicates a Trial."""

from __future__ import annotations

import random
from typing import Any

from kubegym.api.trials import trial_name
from kubegym.operator import runs as run_logic
from kubegym.operator.trials import TrialView
from tests.unit.operator.builders import NOW, run_view, task

TASKS = [f"t{i}" for i in range(13)]
AGENTS = [{"name": f"a{i}", "model": "openai/gpt-4o"} for i in range(20)]


def grid(parallelism: int) -> Any:
    return run_view(
        tasks={"names": TASKS}, agents=AGENTS, seeds=5, parallelism=parallelism
    )  # 13 × 20 × 5 = 1,300 cells


def stored(manifest: dict[str, Any], n: int) -> TrialView:
    """The Trial as the API server returns it after the create."""
    meta = {**manifest["metadata"], "uid": f"u{n}", "creationTimestamp": "2025-03-01T12:00:00Z"}
    return TrialView.from_body({**manifest, "metadata": meta})


def test_a_big_grid_is_made_a_chunk_at_a_time_and_admitted_from_the_first() -> None:
    run, tasks = grid(parallelism=200), [task(n) for n in TASKS]
    first = run_logic.decide(run, tasks, [], NOW)
    assert len(first.create) == run_logic.CREATE_CHUNK
    admitted = [m for m in first.create if (m["metadata"].get("annotations") or {})]
    assert len(admitted) == 200, "the first chunk's trials start within the parallelism"
    assert first.status is not None and first.status.counters.total == 1300
    assert first.status.counters.pending == 1300, "made, not yet counted"
    existing = [stored(m, i) for i, m in enumerate(first.create)]
    second = run_logic.decide(run, tasks, existing, NOW)
    assert len(second.create) == run_logic.CREATE_CHUNK
    assert not any((m["metadata"].get("annotations") or {}) for m in second.create)
    names = {m["metadata"]["name"] for m in first.create}
    assert names.isdisjoint(m["metadata"]["name"] for m in second.create)


def test_restarts_in_the_middle_of_chunks_lose_and_duplicate_nothing() -> None:
    # The attack: each reconcile's creates are cut short at a random point (the operator
    # killed during its fan-out, some creates done and some not), and the next operator
    # starts from what the API server holds. A create of a name that exists is refused by
    # the API server (409): counted here as a duplicate the logic tried to make.
    rng = random.Random(20261203)
    run, tasks = grid(parallelism=150), [task(n) for n in TASKS]
    server: dict[str, TrialView] = {}
    duplicates = rounds = 0
    while True:
        rounds += 1
        decision = run_logic.decide(run, tasks, list(server.values()), NOW)
        if not decision.create:
            break
        done = rng.randrange(0, len(decision.create) + 1)  # the kill lands here
        for manifest in rng.sample(decision.create, done):  # in any order (8 threads)
            name = manifest["metadata"]["name"]
            duplicates += name in server
            server[name] = stored(manifest, len(server))
        active = sum(1 for t in server.values() if t.admitted)
        assert active <= 150, "never more trials admitted than the parallelism"
        assert rounds < 200
    wanted = {trial_name(c.run, c.task, c.agent, c.seed) for c in run_logic.grid(run, tasks)}
    assert set(server) == wanted and len(wanted) == 1300, "every cell has its Trial, only those"
    assert duplicates == 0
    assert decision.status is not None and decision.status.counters.total == 1300
