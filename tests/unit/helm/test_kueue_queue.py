"""The chart's LocalQueue speaks the newest Kueue API the cluster serves.

Kueue v0.15+ stores LocalQueues as v1beta2 and only converts v1beta1 for old clients; a
cluster with an older Kueue serves v1beta1 alone. helm picks from the cluster's
capabilities (`--api-versions` stands in for a cluster here).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import CHART, run_helm, template_args

SETS = {
    "kueue.defaultQueueName": "trials",
    "kueue.localQueue.create": "true",
    "kueue.localQueue.clusterQueue": "gpus",
}


def local_queue(helm: Path, *api_versions: str) -> dict[str, object]:
    args = template_args(CHART, (), {}, "kubegym-system")
    for key, value in SETS.items():
        args += ["--set", f"{key}={value}"]
    for version in api_versions:
        args += ["--api-versions", version]
    objects = [d for d in yaml.safe_load_all(run_helm(helm, *args).stdout) if d]
    (queue,) = [o for o in objects if o["kind"] == "LocalQueue"]
    return queue


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        ((), "kueue.x-k8s.io/v1beta1"),
        (("kueue.x-k8s.io/v1beta1/LocalQueue",), "kueue.x-k8s.io/v1beta1"),
        (
            ("kueue.x-k8s.io/v1beta1/LocalQueue", "kueue.x-k8s.io/v1beta2/LocalQueue"),
            "kueue.x-k8s.io/v1beta2",
        ),
    ],
    ids=["unknown", "old-kueue", "kueue-0.15+"],
)
def test_the_local_queue_uses_the_newest_served_version(
    helm: Path, served: tuple[str, ...], expected: str
) -> None:
    queue = local_queue(helm, *served)
    assert queue["apiVersion"] == expected
    assert queue["spec"] == {"clusterQueue": "gpus"}
    assert queue["metadata"]["name"] == "trials"  # type: ignore[index]
