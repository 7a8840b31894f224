"""How fast the operator turns a big BenchmarkRun into bound pods, against creating them directly.

For runs of N trials (default 100 and 1000: one task × 10 agents × N/10 seeds,
parallelism N), on a development cluster with KWOK nodes, this measures:

- operator: the time from `create BenchmarkRun` until every admitted trial's two
  pods are bound to a node, and the operator process's peak memory (VmHWM);
- baseline: the same 2N pods (the same manifests, from `kubegym.operator.objects`)
  created directly with the Python client by the same number of threads as the
  operator has workers, until all are bound — no Trials, Secrets, Services or
  NetworkPolicies, no status writes: the floor a controller cannot beat;

and prints the ratio. Each measurement gets a fresh namespace on the same cluster.

    .venv/bin/python bench/operator_scale.py            # N = 100 and 1000, ~5 minutes
    .venv/bin/python bench/operator_scale.py --trials 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubegym.api import runs, tasks, trials  # noqa: E402
from kubegym.devcluster import cluster  # noqa: E402
from kubegym.operator import objects  # noqa: E402
from kubegym.operator.settings import Settings  # noqa: E402

G, V = "kubegym.io", "v1alpha1"
WORKERS = 8
TASK = {
    "apiVersion": f"{G}/{V}",
    "kind": "Task",
    "metadata": {"name": "scale"},
    "spec": {
        "description": "A task for the scale benchmark.",
        "image": "registry.invalid/task-scale:1",
        "evaluation": {
            "script": "evaluate.py",
            "metrics": [{"name": "score", "direction": "max"}],
            "primaryMetric": "score",
            "submission": {"path": "submission.csv"},
        },
        "resources": {"cpu": "100m", "memory": "128Mi"},
    },
}


def run_manifest(trials_wanted: int) -> dict[str, Any]:
    agents = 10
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": "scale"},
        "spec": {
            "tasks": {"names": ["scale"]},
            "agents": [{"name": f"agent-{i}", "builtin": "baseline"} for i in range(agents)],
            "seeds": trials_wanted // agents,
            "parallelism": trials_wanted,
        },
    }


def new_namespace(core: Any) -> str:
    name = f"scale-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(name).items:
            return name
        time.sleep(0.2)
    return name


def bound_pods(core: Any, namespace: str) -> int:
    answer = core.list_namespaced_pod(namespace, _preload_content=False)
    items = json.loads(answer.data)["items"]
    return sum(1 for p in items if p["spec"].get("nodeName"))


def wait_bound(core: Any, namespace: str, wanted: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if bound_pods(core, namespace) >= wanted:
            return time.monotonic()
        time.sleep(0.25)
    raise TimeoutError(f"only {bound_pods(core, namespace)} of {wanted} pods bound")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_operator(api: Any, kubeconfig: str, n: int, state: Path) -> dict[str, float]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = new_namespace(core)
    custom.create_namespaced_custom_object(G, V, namespace, "tasks", TASK)
    log = (state / f"operator-{n}.log").open("wb")
    operator = subprocess.Popen(
        [
            sys.executable, "-m", "kubegym", "operator", "--namespace", namespace,
            "--kubeconfig", kubeconfig, "--health-port", "0", "--metrics-port", "0",
            "--workers", str(WORKERS),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"KUBEGYM_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set() and operator.poll() is None:
            peak = max(peak, peak_rss_mib(operator.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        time.sleep(3)  # the operator's start-up (imports, first LIST) is not the run's time
        started = time.monotonic()
        custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run_manifest(n))
        finished = wait_bound(core, namespace, 2 * n)
        peak = max(peak, peak_rss_mib(operator.pid))
    finally:
        done.set()
        operator.terminate()
        operator.wait(30)
        core.delete_namespace(namespace)
    return {"seconds": finished - started, "peak_rss_mib": peak}


def measure_direct(api: Any, n: int) -> dict[str, float]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    namespace = new_namespace(core)
    task = tasks.Task.model_validate(TASK)
    spec = runs.BenchmarkRunSpec.model_validate(run_manifest(n)["spec"])
    pods = []
    for seed in range(spec.seeds):
        for agent in spec.agents:
            cell = trials.TrialSpec(run="scale", task="scale", agent=agent.name, seed=seed)
            attempt = objects.Attempt(
                namespace=namespace,
                trial=trials.trial_name("scale", "scale", agent.name, seed),
                trial_uid="",
                spec=cell,
                attempt=0,
                task=task,
                agent=agent,
                run=spec,
                settings=Settings(agent_image="registry.invalid/kubegym:bench"),
            )
            for pod in (objects.sandbox_pod(attempt), objects.agent_pod(attempt)):
                pod["metadata"].pop("ownerReferences")
                pods.append(pod)
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda p: core.create_namespaced_pod(namespace, p), pods))
    finished = wait_bound(core, namespace, 2 * n)
    core.delete_namespace(namespace)
    return {"seconds": finished - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    from kubernetes import config

    with tempfile.TemporaryDirectory(prefix="kubegym-bench-") as tmp:
        state = Path(tmp)
        nodes = max(4, max(args.trials) * 2 // 100 + 2)  # 110 pods per KWOK node
        info = cluster.up(cluster.ClusterOptions(cpu_nodes=nodes, gpu_nodes=0, state_dir=state))
        try:
            api = config.new_client_from_config(config_file=info.kubeconfig)
            api.configuration.connection_pool_maxsize = WORKERS + 4
            from kubernetes import client

            ext = client.ApiextensionsV1Api(api)
            for path in sorted((ROOT / "crds").glob("*.yaml")):
                ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
            time.sleep(2)
            print(f"development cluster: {nodes} KWOK CPU nodes, up in {info.startup_seconds:.1f}s")
            print(f"{'trials':>7} {'pods':>6} {'operator s':>11} {'direct s':>9} {'ratio':>6} {'operator peak RSS':>18}")  # fmt: skip
            for n in args.trials:
                direct = measure_direct(api, n)
                operated = measure_operator(api, info.kubeconfig, n, state)
                ratio = operated["seconds"] / direct["seconds"]
                print(
                    f"{n:>7} {2 * n:>6} {operated['seconds']:>11.1f} {direct['seconds']:>9.1f} "
                    f"{ratio:>5.1f}x {operated['peak_rss_mib']:>14.0f} MiB",
                    flush=True,
                )
        finally:
            cluster.down(state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
