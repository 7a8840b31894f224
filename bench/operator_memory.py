"""What holds the operator's memory at 10,000 trials, structure by structure, with no cluster.

The operator's peak RSS at 9,750 trials was 845 MiB (bench/README.md, `operator_scale.py`);
the target is under 300 MiB at 10,000. This bench finds where it goes, fast and repeatably:

1. It writes the watch events a grid's life brings, once, as JSON lines: a BenchmarkRun of
   13 tasks × 50 agents × 15 seeds (9,750 cells, parallelism 2,000) and one of 250, as
   `kubectl apply` leaves them (the last-applied annotation, managedFields); their Trials as
   the operator creates them (`runs.trial_manifest`) with the server's fields; each
   attempt's two pods as the operator builds them (`objects.attempt_objects`) with a
   kubelet's status, running and then ended with the evaluator's record and the agent's
   summary as termination messages; and each Trial's status as `trials.decide` writes it
   from those pods. At the end 8,000 Trials have finished (their 16,000 pods deleted) and
   2,000 run (4,000 pods): 10,000 Trials and 20,000 pods went through the cache.
2. For the operator of each tree asked for (this checkout; ``--operator-tree DIR`` adds
   another revision's, e.g. ``git worktree add /tmp/op-base <sha>``), a fresh process
   replays those events into the operator's own structures exactly as the kopf handlers
   do (`informer.Cache.upsert` for every event, `remove` with the final body for
   deletions), reads the run the way a run reconcile does (`Cache.trials_of` parsing each
   Trial into a `TrialView`, `runs.decide` with its grid memo and each finished trial's
   result memo, `runs.best_scores`), keeps kopf's own per-object memory
   (`ResourceMemories.recall`, what kopf holds for every live object) and queues every
   Trial's key in a `WorkQueue` (a restart's initial listing).
3. It measures, per structure, the bytes reachable from it and from nothing measured
   before it (a walk of `gc.get_referents`, everything that existed before the replay
   excluded), the process's RSS before and after, and (``--by-file``, a separate
   process) tracemalloc's retained memory by the file that allocated it.

Usage::

    .venv/bin/python bench/operator_memory.py [--operator-tree /tmp/op-base] [--by-file]

kopf persists nothing per object for this operator (only `kopf.on.event` and `kopf.index`
handlers: no progress or diff-base annotations), and its indexers keep nothing when the
indexing function returns None, as the operator's do; what kopf does keep per live object
is its `ResourceMemory` (measured here) and, while an object's events arrive, a worker
task and queue per object (`settings.batching.idle_timeout`), not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "scale"
MIB = 1024 * 1024
MANAGER_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:kubegym.io/run": {}, "f:kubegym.io/task": {}}},
    "f:spec": {".": {}, "f:agent": {}, "f:run": {}, "f:seed": {}, "f:task": {}},
}


# --- the events (made once, by this checkout's code) -------------------------------------


def _server_meta(meta: dict[str, Any], uid: str, version: int, created: str) -> dict[str, Any]:
    """Metadata as the API server returns it: uid, resourceVersion, times, managedFields."""
    out = copy.deepcopy(meta)
    out.update(
        uid=uid,
        resourceVersion=str(version),
        generation=1,
        creationTimestamp=created,
        managedFields=[
            {
                "manager": "kubegym",
                "operation": "Update",
                "apiVersion": "kubegym.io/v1alpha1",
                "time": created,
                "fieldsType": "FieldsV1",
                "fieldsV1": MANAGER_FIELDS,
            },
            {
                "manager": "kubegym",
                "operation": "Update",
                "apiVersion": "kubegym.io/v1alpha1",
                "time": created,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {".": {}, "f:phase": {}, "f:conditions": {}}},
                "subresource": "status",
            },
        ],
    )
    return out


def _record(task: str, agent: str, seed: int) -> Any:
    """An evaluator's record with four validates and a submit (an MLGym-like trial)."""
    from kubegym.api.summary import EvaluatorRecord
    from kubegym.devcluster import kwok_stages

    value = kwok_stages.score(task, agent, seed)
    scores = [
        {
            "step": 5 * (i + 1),
            "action": "validate",
            "metrics": {kwok_stages.METRIC: round(value * (0.6 + 0.1 * i), 3)},
            "testMetrics": {kwok_stages.METRIC: round(value * (0.55 + 0.1 * i), 3)},
        }
        for i in range(4)
    ]
    scores.append(
        {
            "step": 25,
            "action": "submit",
            "metrics": {kwok_stages.METRIC: value},
            "testMetrics": {kwok_stages.METRIC: value},
        }
    )
    return EvaluatorRecord.model_validate(
        {
            "end": "submitted",
            "scores": scores,
            "final": {kwok_stages.METRIC: value},
            "validations": 4,
        }
    )


def _container_statuses(
    containers: list[dict[str, Any]], messages: dict[str, str] | None
) -> list[dict[str, Any]]:
    out = []
    for c in containers:
        state: dict[str, Any]
        if messages is None:
            state = {"running": {"startedAt": "2026-12-03T10:00:05Z"}}
        else:
            state = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": "2026-12-03T10:00:05Z",
                    "finishedAt": "2026-12-03T10:20:05Z",
                    "containerID": "containerd://" + "c" * 64,
                    **({"message": messages[c["name"]]} if c["name"] in messages else {}),
                }
            }
        out.append(
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": c["image"].split(":")[0] + "@sha256:" + "d" * 64,
                "containerID": "containerd://" + "c" * 64,
                "ready": messages is None,
                "restartCount": 0,
                "started": messages is None,
                "state": state,
                "lastState": {},
            }
        )
    return out


def _pod(
    manifest: dict[str, Any], uid: str, version: int, messages: dict[str, str] | None
) -> dict[str, Any]:
    """A pod as the API server returns it: its full spec, a node, a kubelet's status."""
    pod = copy.deepcopy(manifest)
    pod["metadata"] = _server_meta(manifest["metadata"], uid, version, "2026-12-03T10:00:00Z")
    pod["spec"]["nodeName"] = "kwok-node-17"
    init = pod["spec"].get("initContainers") or []
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": "2026-12-03T10:00:05Z"}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ] + [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-03T10:00:01Z"}]
    pod["status"] = {
        "phase": "Running" if messages is None else "Succeeded",
        "conditions": conditions,
        "hostIP": "10.0.3.17",
        "hostIPs": [{"ip": "10.0.3.17"}],
        "podIP": "10.244.3.99",
        "podIPs": [{"ip": "10.244.3.99"}],
        "startTime": "2026-12-03T10:00:01Z",
        "qosClass": "Burstable",
        "initContainerStatuses": _container_statuses(init, {}),
        "containerStatuses": _container_statuses(pod["spec"]["containers"], messages),
    }
    return pod


def write_events(path: Path) -> dict[str, int]:
    """The watch events of a 9,750-cell run and a 250-cell run, as JSON lines."""
    from kubegym.api import tasks as tasks_api
    from kubegym.api.summary import TrialSummary
    from kubegym.devcluster import kwok_stages
    from kubegym.operator import objects, runs, trials
    from kubegym.operator.settings import Settings

    version = 1000
    counts = {"events": 0, "trials": 0, "pods": 0, "finished": 0}
    now = dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.UTC)
    settings = Settings(agent_image="registry.invalid/kubegym:1")
    with path.open("w") as out:

        def emit(kind: str, kind_type: str, body: dict[str, Any]) -> None:
            out.write(json.dumps({"kind": kind, "type": kind_type, "object": body}) + "\n")
            counts["events"] += 1

        task_names = [f"{kwok_stages.TASK_PREFIX}-{i:02d}" for i in range(13)]
        task_models = {}
        for i, name in enumerate(task_names):
            manifest = kwok_stages.task(name, gpu=i % 4 == 0)
            manifest["metadata"]["namespace"] = NAMESPACE
            version += 1
            body = {
                **manifest,
                "metadata": _server_meta(
                    manifest["metadata"], f"task-{i}", version, "2026-12-03T09:59:00Z"
                ),
            }
            emit("tasks", "ADDED", body)
            task_models[name] = tasks_api.Task.model_validate(manifest)
        for run_name, (n_tasks, n_agents, n_seeds, running) in {
            "grid": (13, 50, 15, 2000),
            "small": (5, 10, 5, 0),
        }.items():
            spec = {
                "tasks": {"names": task_names[:n_tasks]},
                "agents": [
                    {"name": f"agent-{a:02d}", "model": f"openai/model-{a:02d}"}
                    for a in range(n_agents)
                ],
                "seeds": n_seeds,
                "parallelism": 2000,
            }
            manifest = {
                "apiVersion": "kubegym.io/v1alpha1",
                "kind": "BenchmarkRun",
                "metadata": {
                    "name": run_name,
                    "namespace": NAMESPACE,
                    "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                            {
                                "apiVersion": "kubegym.io/v1alpha1",
                                "kind": "BenchmarkRun",
                                "metadata": {"name": run_name, "namespace": NAMESPACE},
                                "spec": spec,
                            }
                        )
                    },
                },
                "spec": spec,
            }
            version += 1
            run_body = {
                **manifest,
                "metadata": _server_meta(
                    manifest["metadata"], f"run-{run_name}", version, "2026-12-03T10:00:00Z"
                ),
            }
            emit("benchmarkruns", "ADDED", run_body)
            view = runs.RunView.from_body(run_body)
            chosen = [task_models[n] for n in task_names[:n_tasks]]
            cells = runs.grid(view, chosen)
            for index, cell in enumerate(cells):
                trial_manifest = runs.trial_manifest(view, cell)
                trial_manifest["metadata"]["annotations"] = {trials.ADMITTED: now.isoformat()}
                name = trial_manifest["metadata"]["name"]
                version += 1
                uid = f"{run_name}-trial-{index}"
                trial_body = {
                    **trial_manifest,
                    "metadata": _server_meta(
                        trial_manifest["metadata"], uid, version, "2026-12-03T10:00:00Z"
                    ),
                }
                emit("trials", "ADDED", trial_body)
                counts["trials"] += 1
                task = chosen[[t.name for t in chosen].index(cell.task)]
                plan = objects.Attempt(
                    namespace=NAMESPACE,
                    trial=name,
                    trial_uid=uid,
                    spec=cell,
                    attempt=0,
                    task=task,
                    agent=next(a for a in view.spec.agents if a.name == cell.agent),
                    run=view.spec,
                    settings=settings,
                )
                manifests = [m for m in objects.attempt_objects(plan) if m["kind"] == "Pod"]
                pods = []
                for m in manifests:
                    version += 1
                    pods.append(_pod(m, f"{uid}-{m['metadata']['name'][-3:]}", version, None))
                    emit("pods", "ADDED", pods[-1])
                    counts["pods"] += 1
                trial_view = trials.TrialView.from_body(trial_body)
                both = trials.AttemptPods(pods[0], pods[1])
                started = trials.decide(trial_view, both, task=task, run=view.spec, now=now)
                assert started.status is not None, "both pods run: the trial is Running"
                version += 1
                trial_body = copy.deepcopy(trial_body)
                trial_body["metadata"]["resourceVersion"] = str(version)
                trial_body["status"] = started.status.model_dump(mode="json", by_alias=True)
                emit("trials", "MODIFIED", trial_body)
                if index < running:
                    continue
                record = _record(cell.task, cell.agent, cell.seed)
                summary = TrialSummary.model_validate(
                    {
                        "exit": "submitted",
                        "final": record.final,
                        "steps": 25,
                        "tokens": 180_000,
                        "prompt_tokens": 170_000,
                        "cost_usd": 0.41,
                    }
                )
                messages = {"evaluator": record.to_message(), "agent": summary.to_message()}
                ended = []
                for m, live in zip(manifests, pods, strict=True):
                    version += 1
                    pod = _pod(m, live["metadata"]["uid"], version, messages)
                    emit("pods", "MODIFIED", pod)
                    ended.append(pod)
                running_view = trials.TrialView.from_body(trial_body)
                done = trials.decide(
                    running_view,
                    trials.AttemptPods(ended[0], ended[1]),
                    task=task,
                    run=view.spec,
                    now=now + dt.timedelta(minutes=20),
                )
                assert done.status is not None and done.status.finished, done
                version += 1
                trial_body = copy.deepcopy(trial_body)
                trial_body["metadata"]["resourceVersion"] = str(version)
                trial_body["status"] = done.status.model_dump(mode="json", by_alias=True)
                emit("trials", "MODIFIED", trial_body)
                counts["finished"] += 1
                for pod in ended:
                    version += 1
                    pod["metadata"]["resourceVersion"] = str(version)
                    pod["metadata"]["deletionTimestamp"] = "2026-12-03T10:20:06Z"
                    emit("pods", "DELETED", pod)
    return counts


# --- the replay and the measurement (a fresh process per tree) -------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _deep_size(roots: list[Any], seen: set[int]) -> int:
    """Bytes reachable from `roots` that are not in `seen` (which this call extends)."""
    size = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return size


def _events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as lines:
        for line in lines:
            yield json.loads(line)  # each event its own objects, as the watch parses them


def replay(path: Path, on_filled: Callable[[], None] | None = None) -> dict[str, Any]:
    """Fill the operator's structures from the events and measure them (this tree's code);
    `on_filled` is called while they are still alive (`by_file` takes its snapshot)."""
    from kopf._core.reactor.inventory import ResourceMemories
    from kubernetes.client import ApiClient

    from kubegym.operator import controller, informer, kube, runs, trials
    from kubegym.operator.settings import Settings
    from kubegym.operator.workqueue import WorkQueue

    gc.collect()
    rss_base = _status_kib("VmRSS")
    baseline = gc.get_objects()
    baseline_ids = {id(o) for o in baseline}
    baseline_ids.add(id(baseline))
    started = time.monotonic()
    # The cache as the operator makes it (the API client is never called).
    cache = controller.Controller(kube.Kube(ApiClient()), Settings()).cache
    # The live objects' uids: all that kopf's memories are keyed by and keep of a body. (Holding
    # each decoded event's metadata here instead kept 14,000 of them, managedFields and all, and
    # left the heap fragmented when they went: that was this bench's, not the operator's.)
    live: set[str] = set()
    for event in _events(path):
        kind, body = event["kind"], event["object"]
        meta = body["metadata"]
        if event["type"] == "DELETED":
            cache.remove(kind, meta["namespace"], meta["name"], meta["uid"], final=body)
            live.discard(meta["uid"])
        else:
            cache.upsert(kind, body)
            live.add(meta["uid"])
    now = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)
    tasks = [
        cache.parsed(informer.TASKS, ns, n, controller._parse_task)
        for ns, n in cache.keys(informer.TASKS)
    ]
    available = [t for t in tasks if t is not None]
    finished = 0
    for ns, name in cache.keys(informer.RUNS):
        run = cache.parsed(informer.RUNS, ns, name, runs.RunView.from_body)
        assert run is not None
        members = cache.trials_of(ns, name, trials.TrialView.from_body)
        decision = runs.decide(run, available, members, now)
        assert not decision.create, "every cell has its Trial"
        runs.best_scores(available, members)
        finished += sum(1 for t in members if t.status.finished)
    memories = ResourceMemories()
    loop = asyncio.new_event_loop()

    async def remember(objects: list[dict[str, Any]]) -> WorkQueue[tuple[str, str]]:
        for meta in objects:
            await memories.recall(raw_body={"metadata": meta})
        queue: WorkQueue[tuple[str, str]] = WorkQueue("trial", lambda key: None, 8)
        for key in cache.keys(informer.TRIALS):
            queue.add(key)
        return queue

    queue = loop.run_until_complete(remember([{"uid": uid} for uid in live]))
    filled = time.monotonic() - started
    del live
    gc.collect()
    rss_filled = _status_kib("VmRSS")
    seen = set(baseline_ids)
    structures = _structures(cache, runs, memories, queue)
    sizes = {label: _deep_size(roots, seen) for label, roots in structures}
    del seen, structures
    if on_filled is not None:
        on_filled()
    queue_tasks = list(queue._tasks)
    for task in queue_tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*queue_tasks, return_exceptions=True))
    loop.close()
    return {
        "sizes": sizes,
        "rss_base_kib": rss_base,
        "rss_filled_kib": rss_filled,
        "hwm_kib": _status_kib("VmHWM"),
        "trials": cache.count(informer.TRIALS),
        "pods_live": cache.count(informer.PODS),
        "finished": finished,
        "seconds": filled,
    }


def _structures(cache: Any, runs: Any, memories: Any, queue: Any) -> list[tuple[str, list[Any]]]:
    """(label, roots) per structure, in the order their bytes are counted."""
    from kubegym.operator import informer

    def entries(kind: str) -> list[Any]:
        return list(cache._objects[kind].values())

    def bodies(kind: str) -> list[Any]:
        return [getattr(e, "body", None) for e in entries(kind)]

    def parsed(kind: str) -> list[Any]:
        return [getattr(e, "parsed", None) for e in entries(kind)]

    views = parsed(informer.TRIALS)
    memos = [getattr(v, "memo", None) for v in views if v is not None]
    grid = []
    for ns, name in cache.keys(informer.RUNS):
        run = cache.parsed(informer.RUNS, ns, name, runs.RunView.from_body)
        names = tuple(run.spec.tasks.names or ())
        grid.append(runs._cells(run.name, run.spec.seeds, names, runs._agent_names(run)))
    tombstones = getattr(cache, "_gone", None)
    return [
        ("kopf: per-object memory (live objects)", [memories]),
        ("trial bodies (cache)", bodies(informer.TRIALS)),
        ("TrialView memos (results)", memos),
        ("TrialViews without memo", views),
        ("pod bodies, live (cache)", bodies(informer.PODS)),
        ("pod tombstones", [tombstones]),
        (
            "runs and tasks (bodies, parsed)",
            [
                *bodies(informer.RUNS),
                *parsed(informer.RUNS),
                *bodies(informer.TASKS),
                *parsed(informer.TASKS),
            ],
        ),
        ("cache: entries, tables, indexes", [cache]),
        ("runs' grid memo (cells)", grid),
        ("trial work queue (10,000 keys)", [queue]),
    ]


def by_file(path: Path, limit: int = 14) -> list[tuple[str, float, int]]:
    """tracemalloc's retained memory after the replay, by the file that allocated it."""
    import tracemalloc

    # Imported before tracing starts: the imports' own allocations are not the replay's.
    from kopf._core.reactor.inventory import ResourceMemories  # noqa: F401
    from kubernetes.client import ApiClient  # noqa: F401

    from kubegym.operator import controller, kube, runs, trials, workqueue  # noqa: F401

    snapshots = []

    def snap() -> None:
        gc.collect()
        snapshots.append(tracemalloc.take_snapshot())

    tracemalloc.start()
    replay(path, on_filled=snap)
    tracemalloc.stop()
    stats = snapshots[0].statistics("filename")
    out = []
    for stat in stats[:limit]:
        name = stat.traceback[0].filename
        for prefix in (str(ROOT) + "/", sys.prefix + "/"):
            name = name.replace(prefix, "")
        out.append((name, stat.size / MIB, stat.count))
    return out


# --- the parent: one process per tree and mode ---------------------------------------------


def _child(tree: Path, events: Path, mode: str) -> Any:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(events)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--operator-tree",
        type=Path,
        action="append",
        default=[],
        help="another revision's tree to measure first (repeatable)",
    )
    parser.add_argument("--by-file", action="store_true", help="also tracemalloc by file")
    parser.add_argument("--events", type=Path, help="reuse (or keep) the events file here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, events = args.child
        payload = replay(Path(events)) if mode == "replay" else by_file(Path(events))
        print(json.dumps(payload))
        return 0
    trees = [*args.operator_tree, ROOT]
    with tempfile.TemporaryDirectory() as tmp:
        events = args.events or Path(tmp) / "events.jsonl"
        if not events.exists():
            t0 = time.monotonic()
            counts = write_events(events)
            print(
                f"events: {counts} ({events.stat().st_size / MIB:.0f} MiB, "
                f"{time.monotonic() - t0:.0f} s)"
            )
        results = {tree: _child(tree, events, "replay") for tree in trees}
        files = {tree: _child(tree, events, "by-file") for tree in trees} if args.by_file else {}
    _print(trees, results, files)
    return 0


def _print(trees: list[Path], results: dict[Path, Any], files: dict[Path, Any]) -> None:
    names = [str(t) if t != ROOT else "this checkout" for t in trees]
    first = results[trees[0]]
    print(
        f"\n{first['trials']} trials ({first['finished']} finished), "
        f"{first['pods_live']} live pods; MiB retained per structure:\n"
    )
    width = max(len(n) for n in names)
    print(f"| {'structure':<40} | " + " | ".join(f"{n:>{width}}" for n in names) + " |")
    print(f"| {'-' * 40} | " + " | ".join("-" * (width - 1) + ":" for _ in names) + " |")
    for label in first["sizes"]:
        cells = [f"{results[t]['sizes'].get(label, 0) / MIB:>{width}.1f}" for t in trees]
        print(f"| {label:<40} | " + " | ".join(cells) + " |")
    rows = {
        "**all structures above**": lambda r: sum(r["sizes"].values()) / MIB,
        "RSS after imports": lambda r: r["rss_base_kib"] / 1024,
        "RSS filled (after gc)": lambda r: r["rss_filled_kib"] / 1024,
        "RSS filled − after imports": lambda r: (r["rss_filled_kib"] - r["rss_base_kib"]) / 1024,
        "peak RSS (VmHWM)": lambda r: r["hwm_kib"] / 1024,
        "replay, seconds": lambda r: r["seconds"],
    }
    for label, value in rows.items():
        cells = [f"{value(results[t]):>{width}.1f}" for t in trees]
        print(f"| {label:<40} | " + " | ".join(cells) + " |")
    for tree, name in zip(trees, names, strict=True):
        if tree in files:
            print(f"\ntracemalloc, retained after the replay, by file ({name}):")
            for filename, mib, count in files[tree]:
                print(f"  {mib:8.1f} MiB  {count:>9} blocks  {filename}")


if __name__ == "__main__":
    sys.exit(main())
