"""How long a trial takes to start on the real node: Trial created → sandbox ready → first step.

On a development cluster with a real node (`kubegym dev-cluster up --real-node`: kubelet,
containerd, runc; the chart's operator as a real pod), each sample is one BenchmarkRun of
one polyfit trial whose scripted model agent submits at once. Three moments are taken on
this machine's clock, from watches: the Trial appearing, its sandbox pod turning Ready
(the sandbox and evaluator servers answer their readiness probes), and the agent's first
request reaching the model server (its first step). Two series:

- warm: the images are on the node already;
- cold: the task's images (task and data image, and so the sandbox base's layers) are
  removed from containerd before each trial (`crictl rmi`), so the kubelet pulls them
  from the loopback registry. kubegym's own image stays: the operator pod runs it.

The baseline, measured in the same run: a bare pod of the same task image (one
container, `sleep`) created directly, until Running — what any controller pays for a pod
on this node; the ratio says what kubegym's two pods, its Secret, Service, NetworkPolicies
and the agent's start add. The kubelet's `Pulled` events say how long each pull took.

    .venv/bin/python bench/trial_start_latency.py             # 20 warm + 20 cold, ~12 min
    .venv/bin/python bench/trial_start_latency.py --samples 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubegym import images  # noqa: E402
from kubegym.devcluster import build, cluster, realnode  # noqa: E402
from tests.node import stack  # noqa: E402
from tests.node.conftest import NodeCluster  # noqa: E402
from tests.support.openai_server import serve_openai  # noqa: E402


class Moments:
    """Watches a namespace: when the Trial appeared and when its sandbox pod became Ready."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.trial: float | None = None
        self.sandbox_ready: float | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._trials, daemon=True),
            threading.Thread(target=self._pods, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _trials(self) -> None:
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api)
        while not self._stop.is_set() and self.trial is None:
            found = custom.list_namespaced_custom_object(
                stack.G, stack.V, self.namespace, "trials"
            )["items"]
            if found:
                self.trial = time.time()
            time.sleep(0.02)

    def _pods(self) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        while not self._stop.is_set() and self.sandbox_ready is None:
            for pod in core.list_namespaced_pod(
                self.namespace, label_selector="kubegym.io/role=sandbox"
            ).items:
                if any(
                    c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
                ):
                    self.sandbox_ready = time.time()
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


def pulls(api: Any, namespace: str) -> list[float]:
    """Seconds of each image pull in the namespace, from the kubelet's Pulled events."""
    from kubernetes import client

    seconds = []
    for event in client.CoreV1Api(api).list_namespaced_event(namespace).items:
        match = re.search(r"Successfully pulled image .* in ([0-9.]+)(m?s) ", event.message or "")
        if event.reason == "Pulled" and match:
            value = float(match.group(1))
            seconds.append(value / 1000 if match.group(2) == "ms" else value)
    return seconds


def namespace(api: Any) -> str:
    from kubernetes import client

    name = f"lat-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    time.sleep(1.5)  # its default service account
    return name


def forget_task_images(node: NodeCluster) -> None:
    """Remove the task's images from containerd: the next trial pulls them."""
    assert node.info.real_node is not None
    crictl = [
        str(build.config.bin_dir() / "crictl"),
        "--config",
        node.info.real_node["crictl_config"],
    ]
    for name in ("task-polyfit", "task-polyfit-data"):
        subprocess.run([*crictl, "rmi", node.images[name]], capture_output=True, check=False)


def one_trial(node: NodeCluster, api: Any) -> dict[str, Any]:
    ns = namespace(api)
    first_step: list[float] = []

    def submit(_request: Any) -> str:
        first_step.append(time.time())
        return stack.reply("Submit the starter's output as it is.", "submit")

    with serve_openai(
        [submit], default=stack.reply("Done.", "submit"), host=realnode.NODE_IP
    ) as server:
        moments = Moments(api, ns)
        created = time.time()
        stack.apply(api, ns, stack.key_secret(), stack.polyfit_task(node),
                    stack.model_run("lat", server.base_url, tasks=["polyfit"]))  # fmt: skip
        # The agent submits the untouched starter (no submission file yet): the run may
        # fail; what is measured is how soon its first step came.
        stack.wait_for_run(api, ns, "lat", timeout=600)
        moments.stop()
    assert moments.trial and moments.sandbox_ready and first_step, ns
    return {
        "run_to_trial": moments.trial - created,
        "trial_to_sandbox_ready": moments.sandbox_ready - moments.trial,
        "sandbox_ready_to_first_step": first_step[0] - moments.sandbox_ready,
        "trial_to_first_step": first_step[0] - moments.trial,
        "pulls": pulls(api, ns),
    }


def bare_pod(node: NodeCluster, api: Any) -> float:
    """Seconds from creating a one-container pod of the task image to Running (warm)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    ns = namespace(api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bare"},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": node.images["task-polyfit"],
                            "command": ["sleep", "60"],
                            "resources": {"limits": {"cpu": "250m", "memory": "128Mi"}}}],
        },
    }  # fmt: skip
    start = time.time()
    core.create_namespaced_pod(ns, pod)
    while core.read_namespaced_pod("bare", ns).status.phase != "Running":
        time.sleep(0.02)
    elapsed = time.time() - start
    core.delete_namespace(ns)
    return elapsed


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="trials per series (default 20)")
    args = parser.parse_args()
    problem = realnode.probe() or images.cannot_build()
    if problem:
        print(f"no real node on this machine: {problem}", file=sys.stderr)
        return 2
    build.ensure_node_binaries()
    images.ensure_node_images()
    from kubernetes import config

    with tempfile.TemporaryDirectory(prefix="kubegym-latency-") as tmp:
        state = Path(tmp)
        info = cluster.up(
            cluster.ClusterOptions(cpu_nodes=0, gpu_nodes=0, state_dir=state, real_node=True)
        )
        try:
            assert info.real_node is not None
            node = NodeCluster(
                info=info, images=dict(info.real_node["images"]), lock=images.load_lock()
            )
            api = config.new_client_from_config(config_file=info.kubeconfig)
            stack.install(node, api)
            one_trial(node, api)  # pulls everything once
            baseline = [bare_pod(node, api) for _ in range(args.samples)]
            series: dict[str, list[dict[str, Any]]] = {"warm": [], "cold": []}
            for kind in ("warm", "cold"):
                for index in range(args.samples):
                    if kind == "cold":
                        forget_task_images(node)
                    sample = one_trial(node, api)
                    series[kind].append(sample)
                    print(
                        f"{kind} {index + 1}/{args.samples}: {json.dumps(sample)}", file=sys.stderr
                    )
        finally:
            cluster.down(state)
    result: dict[str, Any] = {"samples": args.samples, "bare_pod_to_running": percentiles(baseline)}
    for kind, samples in series.items():
        result[kind] = {
            key: percentiles([s[key] for s in samples])
            for key in ("run_to_trial", "trial_to_sandbox_ready",
                        "sandbox_ready_to_first_step", "trial_to_first_step")
        }  # fmt: skip
        pulled = [p for s in samples for p in s["pulls"]]
        result[kind]["image_pulls"] = {
            "count": len(pulled),
            **(percentiles(pulled) if pulled else {}),
        }
        result[kind]["ratio_p50_to_bare_pod"] = round(
            result[kind]["trial_to_first_step"]["p50"] / result["bare_pod_to_running"]["p50"], 2
        )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
