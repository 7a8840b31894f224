"""The operator's cache against the real API server: the resync's metadata-only, paged LIST
names every watched object, and the cache forgets a pod deleted behind its back (a deletion a
re-listed watch never reported) — and nothing that still exists."""

from __future__ import annotations

from typing import Any

from kubegym.operator import informer, kube, labels
from tests.support.kube import wait_for


def gone(listed: tuple[set[tuple[str, str]], int]) -> tuple[set[tuple[str, str]], int] | None:
    """The list once p3 is no longer in it (KWOK's node lets deleted pods go)."""
    keys, _ = listed
    return None if any(name == "p3" for _, name in keys) else listed


def managed_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {labels.MANAGED_BY: "kubegym", labels.TRIAL: "t"},
        },
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]},
    }


def test_a_resync_forgets_only_pods_that_are_gone(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    calls = kube.Kube(api_client)
    cache = informer.Cache()
    for i in range(7):
        made = core.create_namespaced_pod(namespace, managed_pod(f"p{i}"))
        cache.upsert(informer.PODS, api_client.sanitize_for_serialization(made))
    # someone else's pod: never listed, never cached
    core.create_namespaced_pod(namespace, {**managed_pod("foreign"), "metadata": {"name": "x"}})
    keys, version = calls.list_keys("pods", namespace, page_size=3)  # three pages
    assert keys == {(namespace, f"p{i}") for i in range(7)}
    assert version > 0
    assert cache.resync(informer.PODS, keys, version, namespace) == []
    # p3 is deleted while the operator's watch is down: the cache still has it
    core.delete_namespaced_pod("p3", namespace, grace_period_seconds=0)
    keys, version = wait_for(lambda: gone(calls.list_keys("pods", namespace, page_size=3)))
    forgotten = cache.resync(informer.PODS, keys, version, namespace)
    assert [b["metadata"]["name"] for b in forgotten] == ["p3"]
    assert sorted(p["metadata"]["name"] for p in cache.pods(namespace, "t")) == [
        f"p{i}" for i in (0, 1, 2, 4, 5, 6)
    ]
