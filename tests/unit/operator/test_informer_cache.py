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
    assert cache.parsed(informer.TRIALS, "ns", "t", phase) == "Running"
    assert cache.upsert(informer.TRIALS, trial("t", "r", 9, phase="Succeeded"))
    assert cache.parsed(informer.TRIALS, "ns", "t", phase) == "Succeeded"


def phase(body: dict[str, Any]) -> str:
    return str(body["status"]["phase"])


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
    body = pod("t-a0-agent", "t", 3)
    running = {"name": "agent", "image": "img", "imageID": "img@sha256:abc"}
    running["state"] = {"running": {"startedAt": "2025-03-01T12:00:05Z"}}
    body["status"] = {
        "phase": "Running",
        "podIP": "10.244.0.9",
        "qosClass": "Burstable",
        "containerStatuses": [
            {**running, "containerID": "containerd://c1", "restartCount": 0, "lastState": {}}
        ],
    }
    cache.upsert(informer.PODS, body)
    (kept,) = cache.pods("ns", "t")
    assert kept["spec"]["containers"] == [{"name": "agent", "image": "img@sha256:abc"}]
    assert "volumes" not in kept["spec"] and "managedFields" not in kept["metadata"]
    assert kept["spec"]["nodeName"] == "n1"
    assert kept["status"] == {"phase": "Running", "containerStatuses": [running]}
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


def test_a_trials_status_is_kept_only_in_its_parsed_view() -> None:
    cache = informer.Cache()
    body = trial("t", "r", 3, phase="Running", message="x" * 1000)
    owner = {"apiVersion": "kubegym.io/v1alpha1", "kind": "BenchmarkRun", "name": "r", "uid": "9"}
    body["metadata"]["ownerReferences"] = [owner]
    cache.upsert(informer.TRIALS, body)
    got = cache.get(informer.TRIALS, "ns", "t")
    assert got is not None and "status" not in got, "the body is read for its metadata only"
    assert got["metadata"]["resourceVersion"] == "3" and got["spec"] == {"run": "r"}
    assert "ownerReferences" not in got["metadata"], "its run is found by its label"
    assert cache.parsed(informer.TRIALS, "ns", "t", phase) == "Running"
    entry = cache._objects[informer.TRIALS][("ns", "t")]
    assert entry.full is None, "the whole body is let go once parsed"
    assert cache.parsed(informer.TRIALS, "ns", "t", phase) == "Running"
    assert cache.trials_of("ns", "r", phase) == ["Running"], "its run is found by its label"


def test_threads_parsing_one_fresh_trial_all_see_its_status() -> None:
    # Attack the hand-over from the whole body to the lean one: a thread that comes late
    # must find the view, never parse the lean body (which has no status).
    cache = informer.Cache()
    wrong: list[object] = []

    def parse(body: dict[str, Any]) -> str:
        if "status" not in body:
            wrong.append(body)
        return phase(body)

    for version in range(1, 400):
        cache.upsert(informer.TRIALS, trial("t", "r", version, phase=f"P{version}"))
        got: list[str | None] = []

        def read(out: list[str | None] = got) -> None:
            out.append(cache.parsed(informer.TRIALS, "ns", "t", parse))

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert got == [f"P{version}"] * 4
    assert wrong == []


def test_kept_bodies_share_their_repeated_strings() -> None:
    cache = informer.Cache()
    for name in ("a", "b"):
        body = pod(f"{name}-a0-agent", name, 3, uid=name)
        # as two watch events parse them: equal strings, distinct objects
        body["status"] = {
            "phase": "".join(["Run", "ning"]),
            "startTime": "".join(["2025-03-01T", "12:00:00Z"]),
        }
        cache.upsert(informer.PODS, body)
    (a,), (b,) = cache.pods("ns", "a"), cache.pods("ns", "b")
    assert a["status"] == b["status"] == {"phase": "Running", "startTime": "2025-03-01T12:00:00Z"}
    assert a["status"]["startTime"] is b["status"]["startTime"]
    long = "m" * (informer.INTERN_MAX + 1)
    assert informer.compact({"k": long})["k"] is long, "long strings are left as they are"


def disrupted_pod(name: str, uid: str) -> dict[str, Any]:
    body = pod(name, "t", 9, uid=uid)
    body["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    return body


def test_only_tombstones_that_can_matter_are_kept() -> None:
    from kubegym.operator import outcomes

    cache = informer.Cache(keep_gone=outcomes.disrupted)
    for name, final in (
        ("quiet", pod("quiet", "t", 9, uid="q")),
        ("hit", disrupted_pod("hit", "h")),
    ):
        cache.upsert(informer.PODS, pod(name, "t", 3, uid=final["metadata"]["uid"]))
        cache.remove(informer.PODS, "ns", name, uid=final["metadata"]["uid"], final=final)
    assert cache.gone("ns", "quiet") is None, "a pod deleted with nothing to say leaves none"
    gone = cache.gone("ns", "hit")
    assert gone is not None and outcomes.disrupted(gone)
    # a later incarnation of the same name, deleted quietly, hides the old one's word
    cache.upsert(informer.PODS, pod("hit", "t", 12, uid="h2"))
    cache.remove(informer.PODS, "ns", "hit", uid="h2", final=pod("hit", "t", 13, uid="h2"))
    assert cache.gone("ns", "hit") is None


def test_tombstones_are_bounded_in_age_and_count(monkeypatch: Any) -> None:
    now = [0.0]
    cache = informer.Cache(clock=lambda: now[0])
    monkeypatch.setattr(informer, "TOMBSTONES", 3)
    for i in range(5):
        cache.upsert(informer.PODS, pod(f"p{i}", "t", 3, uid=f"u{i}"))
        cache.remove(
            informer.PODS, "ns", f"p{i}", uid=f"u{i}", final=disrupted_pod(f"p{i}", f"u{i}")
        )
        now[0] += 1
    assert [cache.gone("ns", f"p{i}") is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    now[0] = 4 + informer.TOMBSTONE_SECONDS - 1
    assert cache.gone("ns", "p4") is not None and cache.gone("ns", "p2") is None
    now[0] += 2
    assert cache.gone("ns", "p4") is None, "old tombstones go, read or not"
    assert len(cache._gone) == 0


def test_the_operators_own_delete_shows_at_once_and_the_watch_still_wins() -> None:
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 3, uid="a"))
    cache.deleting(informer.PODS, "ns", "t-a0-agent", "2025-03-01T12:01:00Z")
    (marked,) = cache.pods("ns", "t")
    assert marked["metadata"]["deletionTimestamp"] == "2025-03-01T12:01:00Z"
    assert marked["status"] == {"phase": "Running"}, "nothing else of it changes"
    # the watch's copy of the same version, or a newer one, replaces the mark
    newer = pod("t-a0-agent", "t", 4, uid="a")
    newer["metadata"]["deletionTimestamp"] = "2025-03-01T12:01:01Z"
    assert cache.upsert(informer.PODS, newer)
    assert cache.pods("ns", "t")[0]["metadata"]["deletionTimestamp"] == "2025-03-01T12:01:01Z"
    # an older copy arriving late does not undo the mark
    cache.deleting(informer.PODS, "ns", "t-a0-agent", "2025-03-01T12:02:00Z")
    assert not cache.upsert(informer.PODS, pod("t-a0-agent", "t", 2, uid="a"))
    cache.remove(informer.PODS, "ns", "t-a0-agent", uid="a")
    # a delete whose pod the watch has already removed resurrects nothing
    cache.deleting(informer.PODS, "ns", "t-a0-agent", "2025-03-01T12:03:00Z")
    assert cache.pods("ns", "t") == [] and cache.count(informer.PODS) == 0


def test_a_status_update_from_before_the_delete_does_not_undo_the_operators_mark() -> None:
    # The operator deletes a finished pod; KWOK (or a kubelet) had written its status just
    # before, and the watch brings that copy (newer than the cache's, no deletion) after the
    # delete. Unmarked, the next reconcile would delete the pod again.
    cache = informer.Cache()
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 3, uid="a"))
    cache.deleting(informer.PODS, "ns", "t-a0-agent", "2025-03-01T12:01:00Z")
    late = pod("t-a0-agent", "t", 4, uid="a")
    late["status"] = {"phase": "Succeeded"}
    assert cache.upsert(informer.PODS, late)
    (kept,) = cache.pods("ns", "t")
    assert kept["metadata"]["deletionTimestamp"] == "2025-03-01T12:01:00Z", "still being deleted"
    assert kept["status"] == {"phase": "Succeeded"}, "and the newer copy's state is read"
    # another pod of the same name (a new incarnation) is not marked by the old one's delete
    cache.upsert(informer.PODS, pod("t-a0-agent", "t", 9, uid="b"))
    assert "deletionTimestamp" not in cache.pods("ns", "t")[0]["metadata"]
