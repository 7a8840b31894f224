"""Chaos, measured: a 1,000-trial run while the operator is SIGKILLed, the API server and etcd restarted.

On a development cluster with its S3 server (MinIO, bucket versioning on), a run of
`kwok-scored…` trials (kubegym's KWOK stages play every pod to the end with a known
score; no real failure ever happens) goes from apply to Succeeded while, at random
moments, the operator is SIGKILLed 20 times (and restarted at once), kube-apiserver is
restarted 3 times and etcd once, in place; and once more the moment the run turns
Succeeded, when its rollups go to the store. At the end it prints:

- trials lost: trials of the grid that never finished (or were never made);
- spurious attempts: trials with attempt > 0 or infraFailures — with the stages nothing
  fails, so every one is an attempt that no real failure called for;
- the run's counters against the trials' own records;
- orphans: pods, Secrets, Services and NetworkPolicies of finished trials, of an attempt
  that is not the trial's current one, or whose owner is gone; and duplicate pods;
- whether the run's rollups were stored once (every key in the bucket has one version);
- the run's status and leaderboard against what the stages' scores imply.

It exits 1 when any count is wrong.

    .venv/bin/python bench/operator_chaos.py                   # ~15 minutes on 2 cores
    .venv/bin/python bench/operator_chaos.py --trials 200 --kills 5
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import staged_runs as sr  # noqa: E402

from kubegym.api import tasks  # noqa: E402
from kubegym.devcluster import cluster, controlplane, minio  # noqa: E402
from kubegym.devcluster.kwok_stages import expected  # noqa: E402

RUN = "chaos"
S3_SECRET = "s3-creds"
#: The kinds of objects a trial owns, by the API the listing goes through.
OWNED = ("pods", "secrets", "services", "networkpolicies")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20, help="operator SIGKILLs")
    parser.add_argument("--apiserver-restarts", type=int, default=3)
    parser.add_argument("--etcd-restarts", type=int, default=1)
    parser.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(2.0, 8.0),
        metavar=("MIN", "MAX"),
        help="seconds between two disruptions, drawn uniformly",
    )
    parser.add_argument("--seed", type=int, default=None, help="the disruptions' random seed")
    parser.add_argument(
        "--no-kill-at-end",
        dest="kill_at_end",
        action="store_false",
        help="no extra SIGKILL the moment the run turns Succeeded (as its rollups are stored)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the operator's log here")
    sr.add_tree_flag(parser)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"chaos seed {seed} (--seed {seed} draws the same moments)", flush=True)
    rng = random.Random(seed)
    from kubernetes import config

    with tempfile.TemporaryDirectory(prefix="kubegym-chaos-") as tmp:
        state = Path(tmp)
        logs = args.keep or state
        logs.mkdir(parents=True, exist_ok=True)
        options = cluster.ClusterOptions(cpu_nodes=20, gpu_nodes=20, state_dir=state, with_s3=True)
        info = cluster.up(options)
        api = config.new_client_from_config(config_file=info.kubeconfig)
        try:
            sr.install_crds(api, args.operator_tree or ROOT)  # the CRDs of the operator measured
            print(f"development cluster up in {info.startup_seconds:.1f}s; {sr.machine_note()}")
            return chaos_run(api, info, state, args, rng, logs)
        finally:
            api.close()
            cluster.down(state)


def chaos_run(
    api: Any,
    info: cluster.ClusterInfo,
    state: Path,
    args: argparse.Namespace,
    rng: random.Random,
    logs: Path,
) -> int:
    import boto3
    from kubernetes import client

    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    s3_server = minio.running(state / cluster.S3_DIR)
    assert s3_server is not None, "the cluster's S3 server is not running"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=s3_server.region,
    )
    bucket = "chaos"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    namespace = sr.new_namespace(core, "chaos")
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": S3_SECRET},
            "stringData": {
                "AWS_ACCESS_KEY_ID": s3_server.access_key,
                "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            },
        },
    )
    grid = sr.Grid.about(args.trials)
    task_docs = sr.tasks_of(grid)
    for doc in task_docs:
        custom.create_namespaced_custom_object(sr.G, sr.V, namespace, "tasks", doc)
    store = {
        "s3": {
            "bucket": bucket,
            "prefix": "runs",
            "endpoint": s3_server.endpoint,
            "credentialsSecret": S3_SECRET,
        }
    }
    operator = sr.Operator(
        info.kubeconfig,
        namespace,
        logs / "operator-chaos.log",
        env={"KUBEGYM_AGENT_IMAGE": "registry.invalid/kubegym:bench", **s3_server.env()},
        tree=args.operator_tree,
    ).start()
    parallelism = min(args.parallelism, grid.trials)
    print(
        f"run: {grid.trials} trials ({grid.tasks} tasks × {grid.agents} agents × "
        f"{grid.seeds} seeds), parallelism {parallelism}",
        flush=True,
    )
    started = time.monotonic()
    run = sr.run_manifest(RUN, grid, parallelism, store=store)
    custom.create_namespaced_custom_object(sr.G, sr.V, namespace, "benchmarkruns", run)
    done = disrupt(custom, namespace, info, state, operator, args, rng, started)
    try:
        body = sr.wait_finished(custom, namespace, RUN, 1800 + grid.trials, interval=0.2)
        print(f"run {body['status']['phase']} after {time.monotonic() - started:.1f}s", flush=True)
        if args.kill_at_end:
            # The run's end is when its rollups are written and then marked Stored: a kill
            # between the two is the one that could store them twice.
            landed = "before" if not is_stored(body) else "after"
            operator.kill()
            operator.start(wait=False)
            done["operator SIGKILL at the run's end"] += 1
            print(f"  operator SIGKILL as the run ended ({landed} its Stored condition)")
        stored = wait_stored(custom, namespace)
        settled = settle(api, namespace)
        body = sr.run_body(custom, namespace, RUN)
        members = sr.trials_of(custom, namespace, RUN)
        chosen = [tasks.Task.model_validate(doc) for doc in task_docs]
        counts = tally(body, members, chosen, grid, settled, s3, bucket, stored)
    finally:
        operator.stop()
        sr.drop_finalizers(api, namespace)
    return report(counts, done, operator)


def disrupt(
    custom: Any,
    namespace: str,
    info: cluster.ClusterInfo,
    state: Path,
    operator: sr.Operator,
    args: argparse.Namespace,
    rng: random.Random,
    started: float,
) -> Counter[str]:
    """The disruptions, in a random order at random moments, while the run has not finished."""
    plan = (
        ["operator SIGKILL"] * args.kills
        + ["kube-apiserver restart"] * args.apiserver_restarts
        + ["etcd restart"] * args.etcd_restarts
    )
    rng.shuffle(plan)
    done: Counter[str] = Counter()
    for what in plan:
        time.sleep(rng.uniform(*args.gap))
        if finished(custom, namespace):
            print(f"the run finished before the remaining {len(plan) - done.total()} disruptions")
            break
        moment = time.monotonic() - started
        if what == "operator SIGKILL":
            operator.kill()
            operator.start(wait=False)  # at once: the next kill may land in its start-up
        elif what == "kube-apiserver restart":
            controlplane.restart_apiserver(state, info.apiserver, Path(info.ca_cert), info.token)
        else:
            controlplane.restart_etcd(state, info.endpoints["etcd"])
        done[what] += 1
        print(f"  {moment:6.1f}s  {what}", flush=True)
    return done


def finished(custom: Any, namespace: str) -> bool:
    try:
        phase = (sr.run_body(custom, namespace, RUN).get("status") or {}).get("phase")
    except Exception:  # the API server restarting: not known to be finished
        return False
    return phase in ("Succeeded", "Failed")


def is_stored(body: dict[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Stored" and c["status"] == "True" for c in conditions)


def wait_stored(custom: Any, namespace: str, timeout: float = 300) -> bool:
    """Whether the run's Stored condition came within ``timeout`` of its end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_stored(sr.run_body(custom, namespace, RUN)):
            return True
        time.sleep(1)
    return False


def settle(api: Any, namespace: str, quiet: float = 20, timeout: float = 300) -> dict[str, Any]:
    """The namespace's owned objects once their count has not changed for ``quiet`` seconds
    (the operator's clean-up after the run's end has had its chance)."""
    last: tuple[int, ...] = ()
    since = time.monotonic()
    deadline = since + timeout
    while True:
        objects = owned_objects(api, namespace)
        shape = tuple(len(objects[k]) for k in OWNED)
        if shape != last:
            last, since = shape, time.monotonic()
        if time.monotonic() - since >= quiet or time.monotonic() > deadline:
            return objects
        time.sleep(2)


def owned_objects(api: Any, namespace: str) -> dict[str, Any]:
    """kubegym's pods, Secrets, Services and NetworkPolicies in ``namespace``, and every
    object's uid that an owner reference may name (runs and trials)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    net = client.NetworkingV1Api(api)
    custom = client.CustomObjectsApi(api)
    selector = "app.kubernetes.io/managed-by=kubegym"
    listed = {
        "pods": core.list_namespaced_pod(namespace, label_selector=selector).items,
        "secrets": core.list_namespaced_secret(namespace, label_selector=selector).items,
        "services": core.list_namespaced_service(namespace, label_selector=selector).items,
        "networkpolicies": net.list_namespaced_network_policy(
            namespace, label_selector=selector
        ).items,
    }
    uids = set()
    for plural in ("benchmarkruns", "trials"):
        for item in custom.list_namespaced_custom_object(sr.G, sr.V, namespace, plural)["items"]:
            uids.add(item["metadata"]["uid"])
    return {**listed, "owner_uids": uids}


def tally(
    body: dict[str, Any],
    members: list[dict[str, Any]],
    chosen: list[tasks.Task],
    grid: sr.Grid,
    objects: dict[str, Any],
    s3: Any,
    bucket: str,
    stored: bool,
) -> dict[str, Any]:
    """Every count the report prints, each with what it should be."""
    by_name = {m["metadata"]["name"]: m for m in members}
    status_of = {name: (m.get("status") or {}) for name, m in by_name.items()}
    ended = {n for n, st in status_of.items() if st.get("phase") in ("Succeeded", "Failed")}
    lost = grid.trials - len(ended)
    spurious = {
        n: [f.get("reason") for f in st.get("infraFailures") or []]
        for n, st in status_of.items()
        if st.get("attempt", 0) > 0 or st.get("infraFailures")
    }
    phases = Counter(st.get("phase", "Pending") for st in status_of.values())
    own_counters = {
        "total": grid.trials,
        "succeeded": phases["Succeeded"],
        "failed": phases["Failed"],
        "running": phases["Running"],
        "pending": grid.trials - phases["Succeeded"] - phases["Failed"] - phases["Running"],
        "infraRetried": sum(st.get("attempt", 0) for st in status_of.values()),
    }
    counters = (body.get("status") or {}).get("counters") or {}
    counter_diff = {
        k: (counters.get(k, 0), v) for k, v in own_counters.items() if counters.get(k, 0) != v
    }
    orphans, duplicates = find_orphans(objects, status_of, ended)
    versions = rollup_versions(s3, bucket)
    return {
        "lost": lost,
        "spurious": spurious,
        "counter_diff": counter_diff,
        "counters": counters,
        "orphans": orphans,
        "duplicates": duplicates,
        "versions": versions,
        "stored": stored,
        "check": expected.differences(body, members, chosen),
    }


def find_orphans(
    objects: dict[str, Any], status_of: dict[str, dict[str, Any]], ended: set[str]
) -> tuple[dict[str, Counter[str]], int]:
    """Per kind: objects of a finished trial, of another attempt than the trial's current one,
    or whose owner is gone; and how many pods a trial's current attempt has twice."""
    orphans: dict[str, Counter[str]] = {kind: Counter() for kind in OWNED}
    per_role: Counter[tuple[str, str]] = Counter()
    for kind in OWNED:
        for item in objects[kind]:
            labels = item.metadata.labels or {}
            owners = item.metadata.owner_references or []
            trial = labels.get("kubegym.io/trial")
            if owners and not any(o.uid in objects["owner_uids"] for o in owners):
                orphans[kind]["owner gone"] += 1
            elif trial is not None and trial in ended:
                orphans[kind]["of a finished trial"] += 1
            elif trial is not None and labels.get("kubegym.io/attempt") not in (
                None,
                str(status_of.get(trial, {}).get("attempt", 0)),
            ):
                orphans[kind]["of an old attempt"] += 1
            elif kind == "pods" and trial is not None:
                per_role[(trial, labels.get("kubegym.io/role", ""))] += 1
    duplicates = sum(n - 1 for n in per_role.values() if n > 1)
    return orphans, duplicates


def rollup_versions(s3: Any, bucket: str) -> dict[str, int]:
    """Every key in the bucket → how many versions it has (one when it was stored once)."""
    versions: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            versions[version["Key"]] += 1
    return dict(versions)


def report(counts: dict[str, Any], done: Counter[str], operator: sr.Operator) -> int:
    print()
    print("| what | count | expected |")
    print("| --- | ---: | ---: |")
    for what, n in sorted(done.items()):
        label = what if what.endswith("run's end") else f"{what}s during the run"
        print(f"| {label} | {n} | |")
    print(f"| operator starts | {operator.starts} | |")
    print(f"| objects in the store (rollups) | {len(counts['versions'])} | |")
    rows: list[tuple[str, int, int]] = [
        ("trials lost (not finished)", counts["lost"], 0),
        ("trials with a spurious attempt", len(counts["spurious"]), 0),
        ("run counters unlike the trials' records", len(counts["counter_diff"]), 0),
    ]
    for kind, found in counts["orphans"].items():
        rows.append((f"orphaned {kind}", sum(found.values()), 0))
    rows.append(("duplicate pods", counts["duplicates"], 0))
    many = {k: n for k, n in counts["versions"].items() if n > 1}
    rows.append(("rollup objects stored more than once", len(many), 0))
    rows.append(("run's rollups Stored condition", int(counts["stored"]), 1))
    rows.append(("status/leaderboard differences", len(counts["check"]), 0))
    wrong = False
    for what, n, want in rows:
        mark = "" if n == want else "  ← wrong"
        wrong |= n != want
        print(f"| {what} | {n} | {want} |{mark}")
    if not counts["versions"]:
        wrong = True
        print("no rollup object in the store")
    print()
    for name, reasons in sorted(counts["spurious"].items())[:10]:
        print(f"spurious: {name}: {reasons}")
    for kind, found in counts["orphans"].items():
        for why, n in found.items():
            print(f"orphaned {kind}: {n} {why}")
    for key, (got, want) in counts["counter_diff"].items():
        print(f"counter {key}: run says {got}, the trials say {want}")
    for key, n in sorted(many.items()):
        print(f"stored {n} times: {key}")
    for line in counts["check"]:
        print(f"status: {line}")
    print("\nchaos: " + ("WRONG" if wrong else "nothing lost, nothing spurious, nothing orphaned"))
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
