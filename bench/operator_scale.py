"""The operator at scale: runs of 100 to 10,000 trials that KWOK plays to the end, against the floor.

On one development cluster of KWOK CPU and GPU nodes, for each size N (a grid of
`kwok-scored…` Tasks × agents × seeds; every fourth task asks for a GPU), in a fresh
namespace each, this measures:

- apply → bound: from creating the BenchmarkRun until every admitted trial's two pods
  (2 × min(N, parallelism)) have been bound to a node, against the baseline: the very
  same pods (as the operator made them) created directly by as many threads as the
  operator has workers, in another fresh namespace, until all are bound;
- apply → finished: until the run's phase is Succeeded, every trial ended by kubegym's
  KWOK stages (`kubegym.devcluster.kwok_stages`); the cost per trial, and its slope over
  the sizes (least squares of seconds against trials);
- the operator's peak RSS (VmHWM), and its RSS sampled every 0.5 s: at the apply, when all
  were bound, when the run finished, and when its highest sample came;
- writes per trial: the API server's mutating requests (`apiserver_request_total`,
  POST/PUT/PATCH/DELETE) during the run, by resource, divided by N — every client's,
  the operator's and the others' (KWOK's pod statuses, the scheduler's bindings and
  events, node leases) told apart, the operator's own beside them as it counted them
  (``kubegym_operator_api_requests_total``); and its LISTs (a watch that had to start over
  lists again);
- CPU per trial: the CPU seconds each process used during the run (the operator, the
  API server, etcd, KWOK, the scheduler, the controller manager, this bench) divided by
  N, and all of them against what the machine's CPUs could give over the run's time:
  which part's cost per trial grows with the run;
- whether the run's status ended right: phase, counters, every trial's score and the
  leaderboard against what the stages' scores imply (`kwok_stages.expected`).

    .venv/bin/python bench/operator_scale.py                      # 100 and 1000
    .venv/bin/python bench/operator_scale.py --trials 100 1000 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import staged_runs as sr  # noqa: E402

from kubegym.api import tasks  # noqa: E402
from kubegym.devcluster import cluster  # noqa: E402
from kubegym.devcluster.kwok_stages import expected  # noqa: E402

#: Whose writes a resource's requests are, on this cluster, when the operator is not the writer.
OTHERS = {
    "pods/status": "KWOK",
    "endpoints": "endpoint controllers (trials' Services)",
    "discovery.k8s.io/endpointslices": "endpoint controllers (trials' Services)",
    "serviceaccounts/token": "controller manager",
    "pods/binding": "scheduler",
    "events.k8s.io/events": "scheduler",
    "coordination.k8s.io/leases": "KWOK node leases, controllers",
    "nodes/status": "KWOK",
    "namespaces": "bench",
    "namespaces/finalize": "namespace controller",
}


@dataclass
class Measured:
    trials: int
    pods: int
    bound_s: float
    direct_s: float
    finished_s: float
    peak_rss_mib: float
    writes: Counter[str]
    check: list[str]
    #: CPU seconds used during the run, by process.
    cpu: Counter[str] = field(default_factory=Counter)
    #: LIST requests during the run, by resource.
    lists: Counter[str] = field(default_factory=Counter)
    #: Trials finished when the measurement ended: all of them, unless --until cut it short.
    done: int = 0
    #: The operator's sampled RSS, MiB, at the apply, when all were bound, when the run
    #: finished, and its highest sample and when it came (`rss_moments`).
    rss: dict[str, float] = field(default_factory=dict)
    #: The operator's own writes during the run, by resource and verb, as it counted them
    #: (``kubegym_operator_api_requests_total``); empty for a revision that does not count.
    own: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return self.done == self.trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--parallelism", type=int, default=2000, help="the runs' parallelism (at most N)"
    )
    parser.add_argument("--cpu-nodes", type=int, default=None, help="default: by the largest N")
    parser.add_argument("--gpu-nodes", type=int, default=None, help="default: by the largest N")
    parser.add_argument("--keep", type=Path, default=None, help="keep the operator logs here")
    parser.add_argument(
        "--until",
        type=dt.time.fromisoformat,
        default=None,
        metavar="HH:MM",
        help="stop measuring at the next such time of day (UTC) and report what was measured by then",
    )
    sr.add_tree_flag(parser)
    args = parser.parse_args()
    deadline = until(args.until)
    from kubernetes import config

    largest = max(args.trials)
    cpu_nodes = args.cpu_nodes or (400 if largest >= 5000 else 40)
    gpu_nodes = args.gpu_nodes or (100 if largest >= 5000 else 40)
    with tempfile.TemporaryDirectory(prefix="kubegym-bench-") as tmp:
        state = Path(tmp)
        logs = args.keep or state
        logs.mkdir(parents=True, exist_ok=True)
        info = cluster.up(
            cluster.ClusterOptions(cpu_nodes=cpu_nodes, gpu_nodes=gpu_nodes, state_dir=state)
        )
        results: list[Measured] = []
        api = config.new_client_from_config(config_file=info.kubeconfig)
        try:
            api.configuration.connection_pool_maxsize = sr.WORKERS + 8
            sr.install_crds(api, args.operator_tree or ROOT)  # the CRDs of the operator measured
            print(
                f"development cluster: {cpu_nodes} KWOK CPU + {gpu_nodes} GPU nodes, "
                f"up in {info.startup_seconds:.1f}s; {sr.machine_note()}",
                flush=True,
            )
            idle = idle_cpu(IDLE_SECONDS)
            for n in args.trials:
                grid = sr.Grid.about(n)
                parallelism = min(grid.trials, args.parallelism)
                print(
                    f"-- {grid.trials} trials ({grid.tasks} tasks × {grid.agents} agents × "
                    f"{grid.seeds} seeds), parallelism {parallelism}",
                    flush=True,
                )
                results.append(
                    measure(api, info, grid, parallelism, logs, args.operator_tree, deadline)
                )
                report_one(results[-1])
            report(results, idle)
        finally:
            api.close()
            cluster.down(state)
    return 0 if all(not r.check for r in results) else 1


def until(moment: dt.time | None) -> float:
    """The next ``moment`` (UTC) as a `time.monotonic` deadline; infinity without one.

    A time of day already past today is tomorrow's: `--until 01:10` given at 23:40 means
    in 90 minutes, not a deadline gone before the first run starts."""
    if moment is None:
        return math.inf
    now = dt.datetime.now(dt.UTC)
    target = dt.datetime.combine(now.date(), moment, tzinfo=dt.UTC)
    if target <= now:
        target += dt.timedelta(days=1)
    return time.monotonic() + (target - now).total_seconds()


def measure(
    api: Any,
    info: cluster.ClusterInfo,
    grid: sr.Grid,
    parallelism: int,
    logs: Path,
    tree: Path | None,
    deadline: float,
) -> Measured:
    """One size: the operator's run, then the baseline with the same pods."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = sr.new_namespace(core, "scale")
    task_docs = sr.tasks_of(grid)
    for doc in task_docs:
        custom.create_namespaced_custom_object(sr.G, sr.V, namespace, "tasks", doc)
    admitted = 2 * parallelism
    operator = sr.Operator(
        info.kubeconfig,
        namespace,
        logs / f"operator-{grid.trials}.log",
        env={"KUBEGYM_AGENT_IMAGE": "registry.invalid/kubegym:bench"},
        tree=tree,
    )
    timeout = min(900 + grid.trials, deadline - time.monotonic())
    bound = finished = math.nan
    with sr.PodWatch(api, namespace, keep=admitted) as watch:
        operator.start()
        assert operator.process is not None
        sampler = sr.RssSampler(operator.process.pid).start()
        before = sr.apiserver_writes(info.apiserver, info.ca_cert, info.token)
        lists_before = sr.apiserver_writes(info.apiserver, info.ca_cert, info.token, ("LIST",))
        cpu_before = cpu_now(operator)
        started = time.monotonic()
        run = sr.run_manifest("scale", grid, parallelism)
        custom.create_namespaced_custom_object(sr.G, sr.V, namespace, "benchmarkruns", run)
        try:
            bound = watch.wait_bound(admitted, started + timeout - time.monotonic())
            finished = wait_finished(custom, namespace, started, started + timeout)
        except TimeoutError as exc:
            print(f"   cut short: {exc}", flush=True)
        finally:
            peak = operator.peak_rss_mib()
            cpu = cpu_now(operator)
            cpu.subtract(cpu_before)
            after = sr.apiserver_writes(info.apiserver, info.ca_cert, info.token)
            lists = sr.apiserver_writes(info.apiserver, info.ca_cert, info.token, ("LIST",))
            lists.subtract(lists_before)
            sampler.stop()
            own = operator.api_requests()
            operator.stop()
        body = sr.run_body(custom, namespace, "scale")
        members = sr.trials_of(custom, namespace, "scale")
        created = [sr.as_new_pod(p) for p in watch.created]
    chosen = [tasks.Task.model_validate(doc) for doc in task_docs]
    done = sum(
        1 for m in members if (m.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    )
    if done == grid.trials:
        check = expected.differences(body, members, chosen)
    else:
        check = [f"not finished: {done} of {grid.trials} trials by the deadline"]
    delete_namespace(core, namespace)
    enough = deadline - time.monotonic() > 120 and len(created) == admitted
    direct = measure_direct(api, created) if enough else math.nan
    return Measured(
        trials=grid.trials,
        pods=admitted,
        bound_s=bound - started,
        direct_s=direct,
        finished_s=finished - started,
        peak_rss_mib=peak,
        writes=after - before,
        check=check,
        done=done,
        cpu=cpu,
        lists=+lists,
        rss=rss_moments(sampler, started, bound, finished),
        own=own,
    )


def rss_moments(
    sampler: sr.RssSampler, started: float, bound: float, finished: float
) -> dict[str, float]:
    """The operator's RSS (MiB) at the run's moments, and when (seconds after the apply) the
    highest sample came."""
    when, peak = sampler.peak()
    return {
        "apply": sampler.at(started),
        "bound": sampler.at(bound),
        "finished": sampler.at(finished),
        "peak": peak,
        "peak_after_s": when - started,
    }


#: How long the idle cluster's CPU is measured before the first run.
IDLE_SECONDS = 30.0


def idle_cpu(seconds: float) -> dict[str, float]:
    """Each cluster process's CPU seconds per second with no run: what its nodes' heartbeats
    and the controllers' resyncs cost whatever a run does."""
    before = sr.cluster_cpu()
    time.sleep(seconds)
    used = sr.cluster_cpu()
    used.subtract(before)
    return {name: used[name] / seconds for name in used}


def cpu_now(operator: sr.Operator) -> Counter[str]:
    """CPU seconds so far: the operator's, each cluster process's, and this bench's."""
    used = sr.cluster_cpu()
    used["operator"] = operator.cpu_seconds()
    mine = os.times()
    used["bench"] = mine.user + mine.system
    return used


def wait_finished(custom: Any, namespace: str, started: float, deadline: float) -> float:
    """When the run's phase turned Succeeded or Failed; its progress every minute meanwhile."""
    shown = started
    while time.monotonic() < deadline:
        status = sr.run_body(custom, namespace, "scale").get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return time.monotonic()
        if time.monotonic() - shown >= 60:
            shown = time.monotonic()
            print(f"   {shown - started:6.0f}s: {status.get('progress')} finished", flush=True)
        time.sleep(1)
    raise TimeoutError("the run did not finish by the deadline")


def measure_direct(api: Any, pods: list[dict[str, Any]]) -> float:
    """The baseline: ``pods`` created by `WORKERS` threads in a fresh namespace, until bound."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    namespace = sr.new_namespace(core, "direct")
    with sr.PodWatch(api, namespace) as watch:
        started = time.monotonic()
        with ThreadPoolExecutor(sr.WORKERS) as pool:
            list(pool.map(lambda p: core.create_namespaced_pod(namespace, p), pods))
        bound = watch.wait_bound(len(pods), 900 + len(pods))
    delete_namespace(core, namespace)
    return bound - started


def delete_namespace(core: Any, namespace: str, timeout: float = 900) -> None:
    """Delete ``namespace`` and wait until it is gone, so its clean-up does not load the next
    measurement."""
    from kubernetes.client.exceptions import ApiException

    core.delete_namespace(namespace)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        if time.monotonic() - started > 120:
            sr.drop_finalizers(core.api_client, namespace)
        time.sleep(1)


def report_one(m: Measured) -> None:
    verdict = "correct" if not m.check else "WRONG: " + " | ".join(m.check)
    print(
        f"   bound {_cell(m.bound_s, 's')} (direct {_cell(m.direct_s, 's')}), "
        f"finished {_cell(m.finished_s, 's')}, peak RSS {m.peak_rss_mib:.0f} MiB; "
        f"status and leaderboard {verdict}",
        flush=True,
    )
    if m.rss:
        r = m.rss
        print(
            f"   operator RSS: {_cell(r['apply'], ' MiB', 0)} at the apply, "
            f"{_cell(r['bound'], ' MiB', 0)} when all were bound, "
            f"{_cell(r['finished'], ' MiB', 0)} when the run finished; highest sample "
            f"{_cell(r['peak'], ' MiB', 0)}, {_cell(r['peak_after_s'], ' s', 0)} after the apply",
            flush=True,
        )


def writer(kind: str) -> str:
    """Who makes the writes of ``kind`` on this cluster (the metrics do not say)."""
    if kind == "pods DELETE":
        # The operator deletes a finished attempt's pods; KWOK's pod-delete stage then makes
        # the final delete of each (the kubelet's part). The metric counts both.
        return "operator + KWOK's final delete"
    if kind == "kubegym.io/benchmarkruns POST":
        return "bench (the run itself)"
    return OTHERS.get(kind.split(" ")[0], "operator")


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares of seconds against trials: (seconds per trial, intercept)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan"), float("nan")
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return b, my - b * mx


def _cell(value: float, unit: str, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}{unit}"


def report(results: list[Measured], idle: dict[str, float] | None = None) -> None:
    """One table of every size; the slope over the complete ones; writes per finished trial."""
    print()
    print(
        "| trials | pods bound | operator → bound | direct | ratio | → finished | per trial "
        "| peak RSS | operator writes/trial | status |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for m in results:
        per = max(m.done, 1)
        # As the operator counted its writes; else the writes of the resources it writes.
        if m.own:
            own = sum(m.own.values()) / per
        else:
            own = sum(v for k, v in m.writes.items() if writer(k).startswith("operator")) / per
        status = "correct" if not m.check else "WRONG"
        if not m.complete:
            status = f"{m.done} finished by the deadline"
        print(
            f"| {m.trials} | {m.pods} | {_cell(m.bound_s, ' s')} | {_cell(m.direct_s, ' s')} "
            f"| {_cell(m.bound_s / m.direct_s, '×', 2)} | {_cell(m.finished_s, ' s')} "
            f"| {_cell(1000 * m.finished_s / m.trials, ' ms')} | {m.peak_rss_mib:.0f} MiB "
            f"| {own:.2f} | {status} |"
        )
    complete = [m for m in results if m.complete and not math.isnan(m.finished_s)]
    if len(complete) >= 2:
        b, a = slope([(m.trials, m.finished_s) for m in complete])
        print(
            f"\nslope of apply → finished: {1000 * b:.1f} ms per trial "
            f"(intercept {a:.1f} s), least squares over {len(complete)} sizes"
        )
    kinds = sorted({k for m in results for k in m.writes}, key=lambda k: (writer(k), k))
    print(
        "\nwrites per finished trial during the run, by resource and verb (all clients; in "
        "brackets, the operator's own, as it counted them):\n"
    )
    print("| resource verb | writer | " + " | ".join(f"{m.trials}" for m in results) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in results) + " |")
    for kind in kinds:
        cells = " | ".join(_writes_cell(m, kind) for m in results)
        print(f"| {kind} | {writer(kind)} | {cells} |")
    report_cpu(results, idle or {})
    lists = sorted({k for m in results for k in m.lists})
    if lists:
        print("\nLIST requests during the run, by resource (all clients):\n")
        print("| resource | " + " | ".join(f"{m.trials}" for m in results) + " |")
        print("| --- | " + " | ".join("---:" for _ in results) + " |")
        for kind in lists:
            cells = " | ".join(str(m.lists.get(kind, 0)) for m in results)
            print(f"| {kind.removesuffix(' LIST')} | {cells} |")
    for m in results:
        for line in m.check:
            print(f"{m.trials} trials: {line}")


def _writes_cell(m: Measured, kind: str) -> str:
    """All clients' writes of ``kind`` per finished trial; the operator's own in brackets
    where it made some."""
    per = max(m.done, 1)
    cell = f"{m.writes.get(kind, 0) / per:.2f}"
    if m.own.get(kind):
        cell += f" ({m.own[kind] / per:.2f})"
    return cell


def report_cpu(results: list[Measured], idle: dict[str, float]) -> None:
    """CPU ms per finished trial by process, and the machine's share used over the run;
    then the same less what each process used idle over as long (`idle_cpu`)."""
    names = sorted({k for m in results for k in m.cpu}, key=lambda k: -results[-1].cpu.get(k, 0))
    if not names:
        return
    cpus = os.cpu_count() or 1
    print("\nCPU per finished trial during the run, ms, by process:\n")
    print("| process | " + " | ".join(f"{m.trials}" for m in results) + " |")
    print("| --- | " + " | ".join("---:" for _ in results) + " |")
    for name in names:
        cells = " | ".join(
            _cell(1000 * m.cpu.get(name, 0) / max(m.done, 1), "", 0) for m in results
        )
        print(f"| {name} | {cells} |")
    total = " | ".join(_cell(1000 * sum(m.cpu.values()) / max(m.done, 1), "", 0) for m in results)
    print(f"| all | {total} |")
    share = " | ".join(
        _cell(100 * sum(m.cpu.values()) / (cpus * m.finished_s), " %", 0) for m in results
    )
    print(f"| of {cpus} CPUs over the run | {share} |")
    if not idle:
        return
    print("\nCPU while idle, ms a second (nodes' heartbeats, controllers' resyncs):\n")
    print("| process | ms/s |\n| --- | ---: |")
    for name in sorted(idle, key=lambda k: -idle[k]):
        print(f"| {name} | {1000 * idle[name]:.0f} |")
    print("\nCPU per finished trial less the idle rate over the run's time, ms:\n")
    print("| process | " + " | ".join(f"{m.trials}" for m in results) + " |")
    print("| --- | " + " | ".join("---:" for _ in results) + " |")
    for name in names:
        cells = " | ".join(
            _cell(
                1000 * (m.cpu.get(name, 0) - idle.get(name, 0.0) * m.finished_s) / max(m.done, 1),
                "",
                0,
            )
            for m in results
        )
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    raise SystemExit(main())
