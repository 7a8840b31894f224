"""The operator's watch-fed cache: the newest copy wins, its own writes show at once, a
deleted object goes (only that incarnation), and a trial's pods and a run's trials are
found without a scan."""

from __future__ import annotations

import threading
from typing import Any

from kubegym.operator import informer, labels


def trial(name: str, run: str, version: int, uid: str = "u1", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": str(version),
            "labels": {labels.RUN: run},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"run": run},
        "status": status,
    }


def pod(name: str, trial_name: str, version: int, uid: str = "p1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": str(version),
            "labels": {labels.TRIAL: trial_name},
            "creationTimestamp": "2025-03-01T12:00:00Z",
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {
            "nodeName": "n1",
            "containers": [
                {"name": "agent", "image": "img@sha256:abc", "env": [{"name": "K", "value": "v"}]}
            ],
            "volumes": [{"name": "trial", "secret": {"secretName": "s"}}],
        },
        "status": {"phase": "Running"},
    }


def test_an_older_version_never_replaces_a_newer_one() -> None:
    cache = informer.Cache()
    assert cache.upsert(informer.TRIALS, trial("t", "r", 7, phase="Running"))
    # a watch event from before the operator's own write-through arrives late
    assert not cache.upsert(informer.TRIALS, trial("t", "r", 5, phase="Pending"))
    got = cache.get(informer.TRIALS, "ns", "t")
    assert got is not None and got["status"]["phase"] == "Running"
    assert cache.upsert(informer.TRIALS, trial("t", "r", 9, phase="Succeeded"))
    got = cache.get(informer.TRIALS, "ns", "t")
    assert got is not None and got["status"]["phase"] == "Succeeded"


def test_the_operators_own_writes_are_seen_before_the_watch_brings_them() -> None:
    cache = informer.Cache()
    cache.observe(informer.PODS, pod("t-a0-agent", "t", 3))
    cache.observe("secrets", {"metadata": {"name": "s", "namespace": "ns"}})  # not cached
    assert [p["metadata"]["name"] for p in cache.pods("ns", "t")] == ["t-a0-agent"]
    assert cache.count(informer.PODS) == 1


def test_a_deletion_removes_only_that_incarnation() -> None:
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 3, uid="old"))
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 8, uid="new"))  # made again
    cache.remove(informer.PODS, "ns", "t-a0-agent", uid="old")  # the old one's DELETED event
    assert len(cache.pods("ns", "t")) == 1
    cache.remove(informer.PODS, "ns", "t-a0-agent", uid="new")
    assert cache.pods("ns", "t") == []
    assert cache.count(informer.PODS) == 0


def test_a_trials_pods_and_a_runs_trials_are_indexed() -> None:
    cache = informer.Cache()
    for i in range(3):
        cache.upsert(informer.TRIALS, trial(f"a{i}", "run-a", 1, uid=f"a{i}"))
    cache.upsert(informer.TRIALS, trial("b0", "run-b", 1, uid="b0"))
    names = sorted(t["metadata"]["name"] for t in cache.trials_of("ns", "run-a", lambda b: b))
    assert names == ["a0", "a1", "a2"]
    cache.remove(informer.TRIALS, "ns", "a1", uid="a1")
    assert len(cache.trials_of("ns", "run-a", lambda b: b)) == 2
    assert cache.trials_of("other", "run-a", lambda b: b) == []


def test_pods_are_kept_slim_and_managed_fields_dropped() -> None:
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 3))
    (kept,) = cache.pods("ns", "t")
    assert kept["spec"]["containers"] == [{"name": "agent", "image": "img@sha256:abc"}]
    assert "volumes" not in kept["spec"] and "managedFields" not in kept["metadata"]
    assert kept["spec"]["nodeName"] == "n1" and kept["status"] == {"phase": "Running"}
    cache.upsert(informer.TRIALS, trial("t", "r", 1))
    got = cache.get(informer.TRIALS, "ns", "t")
    assert got is not None and "managedFields" not in got["metadata"]


def test_each_version_is_parsed_once() -> None:
    cache = informer.Cache()
    parsed: list[str] = []

    def parse(body: dict[str, Any]) -> str:
        parsed.append(body["metadata"]["resourceVersion"])
        return body["metadata"]["name"]

    cache.upsert(informer.TRIALS, trial("t", "r", 1))
    for _ in range(3):
        assert cache.parsed(informer.TRIALS, "ns", "t", parse) == "t"
        cache.trials_of("ns", "r", parse)
    cache.upsert(informer.TRIALS, trial("t", "r", 2))
    cache.parsed(informer.TRIALS, "ns", "t", parse)
    assert parsed == ["1", "2"]


def test_readers_and_a_writer_side_by_side() -> None:
    cache = informer.Cache()
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(len(cache.trials_of("ns", "r", lambda b: b)))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(2000):
        cache.upsert(informer.TRIALS, trial(f"t{i}", "r", i + 1, uid=f"u{i}"))
        if i % 3 == 0:
            cache.remove(informer.TRIALS, "ns", f"t{i}", uid=f"u{i}")
    stop.set()
    for thread in readers:
        thread.join()
    assert len(cache.trials_of("ns", "r", lambda b: b)) == 2000 - 667
    assert seen and max(seen) <= 2000


def test_a_resync_forgets_what_a_broken_watch_never_said_was_deleted() -> None:
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("gone", "t", 5, uid="g"))  # deleted while the watch was down
    cache.upsert(informer.PODS, pod("kept", "t", 6, uid="k"))
    cache.upsert(informer.PODS, pod("newer", "t", 12, uid="n"))  # made after the list was taken
    other = pod("elsewhere", "t2", 4, uid="e")
    other["metadata"]["namespace"] = "other"
    cache.upsert(informer.PODS, other)  # another namespace: not this list's business
    forgotten = cache.resync(informer.PODS, {("ns", "kept")}, version=10, namespace="ns")
    assert [b["metadata"]["name"] for b in forgotten] == ["gone"]
    names = sorted(p["metadata"]["name"] for p in cache.pods("ns", "t"))
    assert names == ["kept", "newer"]
    assert len(cache.pods("other", "t2")) == 1
    assert cache.gone("ns", "gone") is not None, "what it forgot is a tombstone too"


def test_a_deleted_pods_last_state_is_kept_as_a_tombstone() -> None:
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("t-a0-sandbox", "t", 3, uid="s"))
    final = pod("t-a0-sandbox", "t", 9, uid="s")
    final["status"]["conditions"] = [
        {"type": "TerminationTarget", "status": "True", "reason": "WorkloadEvictedDueToPreempted"}
    ]
    cache.remove(informer.PODS, "ns", "t-a0-sandbox", uid="s", final=final)
    assert cache.pods("ns", "t") == []
    gone = cache.gone("ns", "t-a0-sandbox")
    assert gone is not None
    assert gone["status"]["conditions"][0]["reason"] == "WorkloadEvictedDueToPreempted"
    assert gone["metadata"]["deletionTimestamp"], "a tombstone always reads as being deleted"
    assert cache.gone("ns", "never-there") is None
