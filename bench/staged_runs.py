"""What bench/operator_scale.py and bench/operator_chaos.py share: runs whose trials KWOK plays
to the end, the operator as a subprocess, a pod watch, and the API server's write counters.

The trials belong to `kwok-scored…` Tasks, whose pods kubegym's KWOK stages
(`kubegym.devcluster.kwok_stages`) run and end with a known score, so a run finishes
without a kubelet and its status can be checked exactly
(`kubegym.devcluster.kwok_stages.expected`). Only the standard library, PyYAML and the
`kubernetes` client are imported here; kubegym's own modules come in through the scripts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegym.devcluster import kwok_stages
from kubegym.devcluster.processes import free_port

G, V = "kubegym.io", "v1alpha1"
#: The operator's workers, and the baseline's threads: the same number on both sides.
WORKERS = 8
#: Every fourth task asks for a GPU (its sandbox pods land on the tainted GPU nodes).
GPU_EVERY = 4
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Grid:
    """A run's shape: tasks × agents × seeds."""

    tasks: int
    agents: int
    seeds: int

    @property
    def trials(self) -> int:
        return self.tasks * self.agents * self.seeds

    @classmethod
    def about(cls, trials: int) -> Grid:
        """A grid of about ``trials`` trials, shaped as labs run them: a handful of tasks for
        small runs, MLGym-Bench's 13 tasks × 50 agents × seeds for the big one."""
        if trials >= 5000:
            return cls(13, 50, max(1, round(trials / 650)))
        if trials >= 1000:
            return cls(4, 25, max(1, trials // 100))
        return cls(4, 5, max(1, trials // 20))

    def task_names(self) -> list[str]:
        return [f"{kwok_stages.TASK_PREFIX}-{i}" for i in range(self.tasks)]

    def agent_names(self) -> list[str]:
        return [f"agent-{i}" for i in range(self.agents)]


def tasks_of(grid: Grid) -> list[dict[str, Any]]:
    return [
        kwok_stages.task(name, gpu=i % GPU_EVERY == GPU_EVERY - 1)
        for i, name in enumerate(grid.task_names())
    ]


def run_manifest(
    name: str, grid: Grid, parallelism: int, store: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tasks": {"names": grid.task_names()},
        "agents": [{"name": a, "builtin": "baseline"} for a in grid.agent_names()],
        "seeds": grid.seeds,
        "parallelism": parallelism,
    }
    if store is not None:
        spec["store"] = store
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": name},
        "spec": spec,
    }


def new_namespace(core: Any, prefix: str) -> str:
    """A fresh namespace, once its default ServiceAccount exists (pods need it)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(name).items:
            return name
        time.sleep(0.2)
    raise TimeoutError(f"namespace {name} never got its default ServiceAccount")


@dataclass
class Operator:
    """``kubegym operator`` in its own process, watching one namespace; restartable."""

    kubeconfig: str
    namespace: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: int = WORKERS
    #: Run the operator from this source tree (``git archive REV | tar -x -C DIR``) instead of
    #: this checkout's: to measure another revision's operator on the same cluster.
    tree: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    metrics_port: int = 0
    starts: int = 0

    def start(self, wait: bool = True) -> Operator:
        self.health_port = free_port()
        self.metrics_port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "KUBEGYM_LOG_FORMAT": "json",
            **self.env,
        }
        if self.tree is not None:
            env["PYTHONPATH"] = str(self.tree)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "kubegym", "operator",
                    "--namespace", self.namespace, "--kubeconfig", self.kubeconfig,
                    "--health-port", str(self.health_port),
                    "--metrics-port", str(self.metrics_port),
                    "--workers", str(self.workers),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.tree,
            )  # fmt: skip
        self.starts += 1
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 120) -> None:
        """Until /healthz answers: the imports and the first LIST are not the run's time."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited: {self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the operator never became healthy: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL, as when its node dies: nothing is flushed or finished."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def cpu_seconds(self) -> float:
        """The CPU seconds this process has used so far."""
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far (VmHWM), MiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def api_requests(self, verbs: tuple[str, ...] = MUTATING) -> Counter[str]:
        """The requests of ``verbs`` this process has made to the API server, by
        ``group/resource[/subresource] VERB`` as `apiserver_writes` keys them, from its own
        ``kubegym_operator_api_requests_total``: empty when it is gone, or is of a revision
        (``tree``) that does not count them."""
        counts: Counter[str] = Counter()
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                text = answer.read().decode()
        except OSError:
            return counts
        for labels, value in _samples(text, _OWN_SAMPLE):
            if labels.get("verb") in verbs:
                counts[f"{labels['resource']} {labels['verb']}"] += value
        return counts

    def tail(self, size: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-size:]


class RssSampler:
    """A process's resident memory (VmRSS) every `period` seconds, on a thread: when in a run
    its peak came, and what it held at given moments (VmHWM says only how high)."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        self.pid = pid
        self.period = period
        #: (monotonic seconds, MiB), oldest first.
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append((time.monotonic(), int(line.split()[1]) / 1024))
                        break
            except OSError:
                return  # the process is gone
            self._stop.wait(self.period)

    def at(self, moment: float) -> float:
        """The last sample at or before `moment` (NaN before the first)."""
        found = float("nan")
        for when, mib in self.samples:
            if when > moment:
                break
            found = mib
        return found

    def peak(self) -> tuple[float, float]:
        """(when, MiB) of the highest sample; (NaN, NaN) without samples."""
        if not self.samples:
            return float("nan"), float("nan")
        return max(self.samples, key=lambda s: s[1])


class PodWatch:
    """Watches a namespace's pods: when each was first bound to a node, and the first
    ``keep`` pods as they were created (the baseline recreates those)."""

    def __init__(self, api: Any, namespace: str, keep: int = 0) -> None:
        self.api = api
        self.namespace = namespace
        self.keep = keep
        self.created: list[dict[str, Any]] = []
        self.bound: dict[str, float] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        from kubernetes import client
        from kubernetes.watch.watch import iter_resp_lines

        core = client.CoreV1Api(self.api)
        version = ""
        while not self._stop.is_set():
            try:
                answer = core.list_namespaced_pod(
                    self.namespace,
                    watch=True,
                    resource_version=version or None,
                    allow_watch_bookmarks=True,
                    timeout_seconds=60,
                    _preload_content=False,
                )
                for line in iter_resp_lines(answer):
                    if self._stop.is_set():
                        return
                    event = json.loads(line)
                    pod = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # expired: start over (first binds are kept)
                        break
                    version = pod["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        self._saw(pod)
            except Exception:  # the API server restarting, say: watch again
                time.sleep(0.5)

    def _saw(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid not in self._seen:
                self._seen.add(uid)
                if len(self.created) < self.keep:
                    self.created.append(pod)
            if pod["spec"].get("nodeName") and uid not in self.bound:
                self.bound[uid] = time.monotonic()

    def wait_bound(self, wanted: int, timeout: float) -> float:
        """The moment the ``wanted``-th distinct pod was bound (waiting up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.bound) >= wanted:
                    return sorted(self.bound.values())[wanted - 1]
            time.sleep(0.2)
        raise TimeoutError(f"only {len(self.bound)} of {wanted} pods bound after {timeout:.0f}s")


def as_new_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod the operator created, as a manifest to create again elsewhere: its name, labels,
    annotations and spec; no owner, node, status or server fields."""
    meta = pod["metadata"]
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "labels": meta.get("labels", {}),
            "annotations": meta.get("annotations", {}),
        },
        "spec": spec,
    }


_SAMPLE = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_OWN_SAMPLE = re.compile(r"^kubegym_operator_api_requests_total\{([^}]*)\} ([0-9.e+]+)$")


def apiserver_writes(
    server: str, ca_cert: str, token: str, verbs: tuple[str, ...] = MUTATING
) -> Counter[str]:
    """The API server's mutating requests so far (or those of other ``verbs``), by
    ``group/resource[/subresource] VERB``, from its /metrics (`apiserver_request_total`,
    all clients: the operator, KWOK, the scheduler, the controller manager)."""
    import ssl

    context = ssl.create_default_context(cafile=ca_cert)
    request = urllib.request.Request(
        f"{server}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        text = answer.read().decode()
    counts: Counter[str] = Counter()
    for labels, value in _samples(text, _SAMPLE):
        if labels.get("verb") not in verbs:
            continue
        kind = labels.get("resource", "")
        if labels.get("group"):
            kind = f"{labels['group']}/{kind}"
        if labels.get("subresource"):
            kind = f"{kind}/{labels['subresource']}"
        counts[f"{kind} {labels['verb']}"] += value
    return counts


def _samples(text: str, pattern: re.Pattern[str]) -> Iterator[tuple[dict[str, str], int]]:
    """Each sample of the metric ``pattern`` matches in a Prometheus text exposition: its
    labels and its value (a count)."""
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            yield dict(_LABEL.findall(match.group(1))), int(float(match.group(2)))


#: The development cluster's processes, by /proc/<pid>/comm (15 characters at most).
CLUSTER_COMMANDS = ("kube-apiserver", "etcd", "kwok", "kube-scheduler", "kube-controller")


def cpu_seconds(pid: int) -> float:
    """The user + system CPU seconds process ``pid`` has used so far (NaN once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu() -> Counter[str]:
    """CPU seconds so far of this machine's cluster processes (`CLUSTER_COMMANDS`), by command."""
    found: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in CLUSTER_COMMANDS:
            used = cpu_seconds(int(entry.name))
            if used == used:  # not NaN: it did not exit meanwhile
                found[comm] += used
    return found


def run_body(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = custom.get_namespaced_custom_object(
        G, V, namespace, "benchmarkruns", name
    )
    return body


def wait_finished(
    custom: Any, namespace: str, name: str, timeout: float, interval: float = 1.0
) -> dict[str, Any]:
    """The run once its phase is Succeeded or Failed (polled every ``interval`` seconds)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = run_body(custom, namespace, name)
        except Exception:  # the API server restarting
            time.sleep(1)
            continue
        if (last.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return last
        time.sleep(interval)
    progress = (last.get("status") or {}).get("progress")
    raise TimeoutError(f"run {name} not finished after {timeout:.0f}s (progress {progress})")


def trials_of(custom: Any, namespace: str, run: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = custom.list_namespaced_custom_object(
        G, V, namespace, "trials", label_selector=f"kubegym.io/run={run}"
    )["items"]
    return items


def drop_finalizers(api: Any, namespace: str) -> None:
    """Take the finalizers off kubegym's objects in ``namespace``: a namespace whose deletion
    waits on an operator that is no longer running would never go."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    for plural in ("trials", "benchmarkruns", "tasks"):
        for item in custom.list_namespaced_custom_object(G, V, namespace, plural)["items"]:
            if item["metadata"].get("finalizers"):
                custom.patch_namespaced_custom_object(
                    G, V, namespace, plural, item["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )  # fmt: skip


def install_crds(api: Any, root: Path) -> None:
    """kubegym's CRDs from crds/, created and Established."""
    import yaml
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in sorted((root / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        ext.create_custom_resource_definition(body)
        names.append(body["metadata"]["name"])
    for name in names:
        for _ in range(300):
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            time.sleep(0.1)


def add_tree_flag(parser: Any) -> None:
    parser.add_argument(
        "--operator-tree",
        type=Path,
        default=None,
        help="run the operator from this source tree (e.g. `git archive HEAD~3 | tar -x -C DIR`)",
    )


def machine_note() -> str:
    """What the numbers were measured on, in one line."""
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, load average {load:.1f} at the start"
