"""The operator's trials under a real Kueue (v0.17, built from its Go module).

Kueue is started once for this module against the session's development cluster
(`kubegym.devcluster.kueue.start`), with its pod integration: the operator labels both
pods of an attempt with the run's queue and one pod group, so Kueue admits the two as
one Workload. A ClusterQueue holds fewer GPUs than the run asks for; the tests play the
kubelet (`harness.Kubelet`) and read Kueue's own objects (Workloads, ClusterQueues)
for what it did.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import cluster, kueue, nodes, processes
from kubegym.devcluster import kubelet as kubelet_mod
from tests.support.kube import wait_for

from .harness import Kubelet, OperatorProcess
from .resources import (
    apply,
    benchmark_run,
    get_run,
    phase_is,
    play,
    summary_for,
    task,
    trials_of,
)

pytestmark = pytest.mark.cluster

KQ = "kueue.x-k8s.io"
KV = "v1beta2"
#: Kueue's scheduling gate on a pod it has not admitted yet.
GATE = "kueue.x-k8s.io/admission"
GROUP_LABEL = "kueue.x-k8s.io/pod-group-name"
#: The ClusterQueue's GPUs: fewer than the runs below ask for at once.
QUOTA_GPUS = 2
HIGH = "kubegym-test-high"


@pytest.fixture(scope="module")
def kueue_server(dev_cluster: cluster.ClusterInfo, api_client: Any) -> Iterator[Any]:
    """Kueue, running against the session's cluster for this module's tests."""
    if not kueue.is_built():
        if shutil.which("go") is None:
            pytest.skip("Kueue is not built and Go is missing to build it")
        kueue.ensure_built()
    state = Path(dev_cluster.state_dir)
    server = kueue.start(state, Path(dev_cluster.kubeconfig))
    custom_api = _custom(api_client)
    _create(
        custom_api,
        "workloadpriorityclasses",
        {"kind": "WorkloadPriorityClass", "metadata": {"name": HIGH}, "value": 1000},
    )
    try:
        yield server
    finally:
        # Its webhooks go first: a pod update would otherwise ask the stopped Kueue.
        kueue.stop(state)
        _release_pods(api_client)


@pytest.fixture
def queue(kueue_server: Any, api_client: Any, namespace: str) -> Iterator[str]:
    """A LocalQueue in the test's namespace, on a ClusterQueue of `QUOTA_GPUS` KWOK GPUs."""
    custom_api = _custom(api_client)
    name = namespace  # cluster-scoped objects named after the test's namespace
    toleration = {
        "key": nodes.GPU_TAINT["key"],
        "operator": "Exists",
        "effect": nodes.GPU_TAINT["effect"],
    }
    _create(
        custom_api,
        "resourceflavors",
        {
            "kind": "ResourceFlavor",
            "metadata": {"name": name},
            # Admitted pods get these: both pods of a trial land on the KWOK GPU nodes.
            "spec": {
                "nodeLabels": {nodes.GPU_PRODUCT_LABEL: nodes.GPU_PRODUCT},
                "tolerations": [toleration],
            },
        },
    )
    quotas = {
        "cpu": "100",
        "memory": "1000Gi",
        "ephemeral-storage": "10Ti",
        nodes.GPU_RESOURCE: str(QUOTA_GPUS),
    }
    _create(
        custom_api,
        "clusterqueues",
        {
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "resourceGroups": [
                    {
                        "coveredResources": list(quotas),
                        "flavors": [
                            {
                                "name": name,
                                "resources": [
                                    {"name": r, "nominalQuota": q} for r, q in quotas.items()
                                ],
                            }
                        ],
                    }
                ],
                "preemption": {"withinClusterQueue": "LowerPriority"},
            },
        },
    )
    _create(
        custom_api,
        "localqueues",
        {"kind": "LocalQueue", "metadata": {"name": "trials"}, "spec": {"clusterQueue": name}},
        namespace,
    )
    try:
        yield "trials"
    finally:
        for plural in ("clusterqueues", "resourceflavors"):
            custom_api.delete_cluster_custom_object(KQ, KV, plural, name)


@pytest.fixture(autouse=True)
def kueue_report(
    dev_cluster: cluster.ClusterInfo, api_client: Any, namespace: str
) -> Iterator[None]:
    """After each test, what Kueue saw and did (shown by pytest when the test failed)."""
    yield
    node = Kubelet(api_client, namespace)
    for pod in node.pods():
        meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
        gates = [g["name"] for g in spec.get("schedulingGates") or []]
        conditions = [
            (c["type"], c["status"], c.get("reason")) for c in status.get("conditions") or []
        ]
        print("pod", meta["name"], status.get("phase"), gates, spec.get("nodeName"),
              bool(meta.get("deletionTimestamp")), conditions)  # fmt: skip
    for workload in _workloads(_custom(api_client), namespace):
        conditions = [
            (c["type"], c["status"], c["reason"], c["message"])
            for c in workload["status"].get("conditions") or []
        ]
        print("workload", workload["metadata"]["name"], conditions)
    log = kueue.state_dir(Path(dev_cluster.state_dir)) / "logs" / "kueue.log"
    if log.exists():
        print("kueue log:", *log.read_text(errors="replace").splitlines()[-40:], sep="\n")


def gpu_task(name: str) -> dict[str, Any]:
    return task(name, gpu={"count": 1, "product": nodes.GPU_PRODUCT})


def test_a_run_larger_than_the_quota_runs_each_trial_once_two_pods_admitted_together(
    operator: OperatorProcess,
    kubelet: Kubelet,
    custom: Any,
    namespace: str,
    queue: str,
) -> None:
    apply(
        custom,
        namespace,
        gpu_task("vision"),
        benchmark_run(
            "queued",
            ["vision"],
            ["a1"],
            seeds=5,
            parallelism=5,
            queueName=queue,
            workloadPriorityClass=HIGH,
        ),
    )
    most_gpus = most_holding = most_waiting = 0
    admitted: dict[str, str] = {}  # pod group -> its trial

    def answer(pod: dict[str, Any]) -> None:
        nonlocal most_gpus, most_holding, most_waiting
        gpus, holding, waiting = _admitted_now(kubelet, custom, namespace)
        most_gpus, most_holding = max(most_gpus, gpus), max(most_holding, holding)
        most_waiting = max(most_waiting, waiting)
        # The running agent's attempt is one Workload, admitted with both of its pods.
        group = pod["metadata"]["labels"][GROUP_LABEL]
        workload = custom.get_namespaced_custom_object(KQ, KV, namespace, "workloads", group)
        assert (_condition(workload, "Admitted") or {}).get("status") == "True", workload
        assert sum(p["count"] for p in workload["spec"]["podSets"]) == 2
        # The run's WorkloadPriorityClass reached Kueue through the pods' label.
        assert workload["spec"].get("priority") == 1000, workload["spec"]
        assert HIGH in json.dumps(workload["spec"]), workload["spec"]
        assigned = workload["status"]["admission"]["podSetAssignments"]
        assert sum(a["count"] for a in assigned) == 2, workload["status"]
        members = kubelet.pods(f"{GROUP_LABEL}={group}")
        assert len(members) == 2 and not any(
            GATE in {g["name"] for g in m["spec"].get("schedulingGates") or []} for m in members
        )
        admitted[group] = pod["metadata"]["labels"]["kubegym.io/trial"]
        kubelet.finish_agent(pod, summary_for(0.8))

    play(kubelet, _ending(kubelet, custom, namespace, "queued"), answer, 240)
    status = get_run(custom, namespace, "queued")["status"]
    assert status["phase"] == "Succeeded", status
    assert status["counters"]["succeeded"] == 5 and status["counters"]["infraRetried"] == 0
    # Never more admitted at once than the quota: by the pods and by Kueue's own count;
    # the others waited in Kueue's queue meanwhile.
    assert 0 < most_gpus <= QUOTA_GPUS
    assert 0 < most_holding <= QUOTA_GPUS
    assert most_waiting >= 5 - QUOTA_GPUS - 1, "trials never waited: the quota was not smaller"
    trials = trials_of(custom, namespace, "queued")
    for trial in trials:
        assert trial["status"]["attempt"] == 0, trial["status"]
        assert not trial["status"].get("infraFailures"), trial["status"]
    # Each trial's single attempt was admitted once, as one Workload.
    assert sorted(admitted.values()) == sorted(t["metadata"]["name"] for t in trials)


def test_a_preempted_trial_is_requeued_and_resumes_as_an_infrastructure_event(
    operator: OperatorProcess,
    kubelet: Kubelet,
    custom: Any,
    namespace: str,
    queue: str,
) -> None:
    apply(
        custom,
        namespace,
        gpu_task("vision"),
        benchmark_run(
            "bumped",
            ["vision"],
            ["a1"],
            seeds=QUOTA_GPUS,
            parallelism=QUOTA_GPUS,
            queueName=queue,
            # No free infrastructure retries: a preemption must not need one.
            retryPolicy={"infraRetries": 0, "backoffSeconds": 0},
        ),
    )
    # The trials fill the quota.
    wait_for(lambda: len(kubelet.running_agents()) == QUOTA_GPUS, timeout=120)
    evicted: dict[str, dict[str, Any]] = {}

    def watch_kueue() -> None:
        end_deleted_pods(kubelet)
        for workload in _workloads(custom, namespace):
            condition = _condition(workload, "Evicted")
            if condition and condition["status"] == "True":
                evicted[workload["metadata"]["name"]] = condition

    # A higher-priority workload arrives in the same ClusterQueue.
    kubelet.core.create_namespaced_pod(namespace, _urgent_pod(queue))

    def requeued() -> bool:
        watch_kueue()
        retried = [t for t in trials_of(custom, namespace, "bumped") if t["status"]["attempt"] == 1]
        if not retried:
            return False
        group = f"{retried[0]['metadata']['name']}-a1"
        waiting = [w for w in _workloads(custom, namespace) if w["metadata"]["name"] == group]
        return (
            bool(waiting)
            and (_condition(waiting[0], "QuotaReserved") or {}).get("status") == "False"
        )

    wait_for(requeued, timeout=120, interval=0.3)
    (victim,) = [t for t in trials_of(custom, namespace, "bumped") if t["status"]["attempt"] == 1]
    # Kueue did it: the victim's first Workload was evicted for the urgent one.
    condition = evicted[f"{victim['metadata']['name']}-a0"]
    assert condition["reason"] == "Preempted" and "prioritization" in condition["message"]
    (failure,) = victim["status"]["infraFailures"]
    assert failure["attempt"] == 0 and failure["reason"] == "Preempted", failure
    assert "WorkloadEvictedDueToPreempted" in failure["message"]
    assert victim["status"]["phase"] in ("Pending", "Running")  # waiting in Kueue's queue
    urgent = kubelet.pods("kubegym.io/test=urgent")[0]
    assert urgent["status"]["phase"] == "Running"

    # The urgent workload ends; the victim's new attempt is admitted and both trials finish.
    _succeed(kubelet, urgent)
    answered: set[str] = set()

    def answer(pod: dict[str, Any]) -> None:
        answered.add(pod["metadata"]["labels"]["kubegym.io/attempt"])
        kubelet.finish_agent(pod, summary_for(0.8))

    play(kubelet, _ending(kubelet, custom, namespace, "bumped"), answer, 180)
    status = get_run(custom, namespace, "bumped")["status"]
    assert status["phase"] == "Succeeded", status
    assert status["counters"]["succeeded"] == QUOTA_GPUS
    for trial in trials_of(custom, namespace, "bumped"):
        name, found = trial["metadata"]["name"], trial["status"]
        assert found["phase"] == "Succeeded" and found["exitReason"] == "submitted", found
        assert found.get("failureClass") is None, found  # never an agent failure
        if name == victim["metadata"]["name"]:
            print("the preempted trial's status:", json.dumps(found, indent=1))
            assert found["attempt"] == 1 and len(found["infraFailures"]) == 1
        else:
            assert found["attempt"] == 0 and not found.get("infraFailures")
    assert "1" in answered  # the resumed attempt ran and reported


def test_pods_without_a_queue_never_wait_for_kueue_even_when_it_is_down(
    kueue_server: Any, dev_cluster: cluster.ClusterInfo, api_client: Any, namespace: str
) -> None:
    """Kueue's process is stopped with its webhooks still registered, then started again."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    state = Path(dev_cluster.state_dir)
    processes.stop(kueue.state_dir(state), kueue.NAME)
    try:
        plain = _urgent_pod("")
        del plain["metadata"]["labels"]
        plain["metadata"]["name"] = "plain"
        core.create_namespaced_pod(namespace, plain)  # admitted without asking Kueue
        queued = _urgent_pod("trials")
        queued["metadata"]["name"] = "queued"
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(namespace, queued)
        # The webhook is live for queued pods: failing closed, never let through unadmitted.
        assert refused.value.status == 500 and "mpod.kb.io" in str(refused.value.body)
    finally:
        kueue.stop(state)  # its webhooks too, then all of it again for the tests after this
        kueue.start(state, Path(dev_cluster.kubeconfig))


def end_deleted_pods(node: Kubelet) -> None:
    """What a kubelet does with a deleted pod that KWOK leaves running: its containers are
    stopped (SIGTERM, exit 143) and the pod ends Failed. Kueue keeps its finalizer on the
    pods of a group until they have ended."""
    for pod in node.pods("kueue.x-k8s.io/queue-name"):
        if pod["metadata"].get("deletionTimestamp") and pod["status"].get("phase") == "Running":
            ended = [
                kubelet_mod.terminated_status(pod, c["name"], 143, "Error")
                for c in pod["spec"]["containers"]
            ]
            kubelet_mod.replace_pod_status(
                node.core, pod, {"phase": "Failed", "containerStatuses": ended}
            )


def _succeed(node: Kubelet, pod: dict[str, Any]) -> None:
    """`pod`'s containers exit 0: it Succeeded."""
    ended = [
        kubelet_mod.terminated_status(pod, c["name"], 0, "Completed")
        for c in pod["spec"]["containers"]
    ]
    kubelet_mod.replace_pod_status(
        node.core, pod, {"phase": "Succeeded", "containerStatuses": ended}
    )


def _ending(node: Kubelet, objects: Any, namespace: str, run: str) -> Any:
    """The run has ended; meanwhile deleted pods are ended as a kubelet would."""
    done = phase_is(objects, namespace, run, "Succeeded", "Failed")

    def check() -> bool:
        end_deleted_pods(node)
        return bool(done())

    return check


def _urgent_pod(queue: str) -> dict[str, Any]:
    """A plain one-GPU pod at high priority in `queue` (Kueue's pod integration, no group)."""
    limits = {"cpu": "1", "memory": "1Gi", nodes.GPU_RESOURCE: "1"}
    return {
        "metadata": {
            "name": "urgent",
            "labels": {
                "kueue.x-k8s.io/queue-name": queue,
                "kueue.x-k8s.io/priority-class": HIGH,
                "kubegym.io/test": "urgent",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/urgent:1",
                    "resources": {"limits": limits},
                }
            ],
            "tolerations": [{"key": nodes.GPU_RESOURCE, "operator": "Exists"}],
        },
    }


def _admitted_now(node: Kubelet, objects: Any, namespace: str) -> tuple[int, int, int]:
    """GPUs held by ungated, live pods; Workloads holding quota; Workloads waiting for it."""
    gpus = 0
    for pod in node.pods("kueue.x-k8s.io/queue-name"):
        gates = {g["name"] for g in pod["spec"].get("schedulingGates") or []}
        ended = pod["status"].get("phase") in ("Succeeded", "Failed")
        if GATE in gates or ended:
            continue
        for container in pod["spec"]["containers"]:
            limits = (container.get("resources") or {}).get("limits") or {}
            gpus += int(limits.get(nodes.GPU_RESOURCE, 0))
    holding = waiting = 0
    for workload in _workloads(objects, namespace):
        reserved = (_condition(workload, "QuotaReserved") or {}).get("status") == "True"
        finished = (_condition(workload, "Finished") or {}).get("status") == "True"
        if reserved and not finished:
            holding += 1
        elif not reserved and not finished:
            waiting += 1
    return gpus, holding, waiting


def _workloads(objects: Any, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = objects.list_namespaced_custom_object(
        KQ, KV, namespace, "workloads"
    )["items"]
    return items


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return dict(condition)
    return None


def _custom(api_client: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


def _create(custom_api: Any, plural: str, body: dict[str, Any], namespace: str = "") -> None:
    from kubernetes.client.exceptions import ApiException

    body = {"apiVersion": f"{KQ}/{KV}", **body}
    try:
        if namespace:
            custom_api.create_namespaced_custom_object(KQ, KV, namespace, plural, body)
        else:
            custom_api.create_cluster_custom_object(KQ, KV, plural, body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def _release_pods(api_client: Any) -> None:
    """Take Kueue's finalizer off every pod still carrying it, so namespaces can go away
    once Kueue is stopped."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    answer = core.list_pod_for_all_namespaces(
        label_selector="kueue.x-k8s.io/managed=true", _preload_content=False
    )
    for pod in json.loads(answer.data)["items"]:
        finalizers = pod["metadata"].get("finalizers") or []
        if "kueue.x-k8s.io/managed" in finalizers:
            at = f"/metadata/finalizers/{finalizers.index('kueue.x-k8s.io/managed')}"
            patch = [
                {"op": "test", "path": at, "value": "kueue.x-k8s.io/managed"},
                {"op": "remove", "path": at},
            ]
            core.patch_namespaced_pod(pod["metadata"]["name"], pod["metadata"]["namespace"], patch)
