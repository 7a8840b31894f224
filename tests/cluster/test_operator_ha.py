"""Two operator processes with leader election on the real control plane (issue 15: HA).

Both run `kubegym operator --leader-election` with the default timings (lease 10 s,
renew deadline 8 s, retry 2 s). Only the Lease's holder reconciles; when it is
SIGKILLed the standby takes over and finishes the run it had started, with no
retry; the takeover delay is read from the Lease's own timestamps. The attacks: a
candidate hammering the Lease never wins while the leader renews, and a leader cut
off from the API server (its token revoked, or the process stopped past its lease)
stops acting before the standby takes over and writes nothing after. Last, the chart
with `operator.replicas=2`: its settings and Role elect one leader, and a clean stop
hands the Lease over at the standby's next try.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import cluster
from kubegym.operator import leader, leases
from kubegym.operator.main import LEADERSHIP_LOST_EXIT
from tests.support.kube import admin_client, wait_for

from .harness import Kubelet, OperatorProcess, apply_cluster_role, operator_kubeconfig
from .resources import (
    apply,
    benchmark_run,
    get_run,
    sample,
    summary_for,
    task,
    trials_of,
)

pytestmark = pytest.mark.cluster

LEASE = "kubegym-operator"  # the CLI's default
TIMING = leader.Timing()  # the defaults, which the < 15 s promise is about


class Pair:
    """Two operator processes, `a` started first (so it leads), `b` its standby."""

    def __init__(
        self, api_client: Any, admin_kubeconfig: Path, namespace: str, tmp_path: Path
    ) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.kubelet = Kubelet(api_client, namespace)
        self.custom = client.CustomObjectsApi(api_client)
        self.processes: dict[str, OperatorProcess] = {}
        for name in ("a", "b"):
            config = operator_kubeconfig(
                api_client,
                admin_kubeconfig,
                namespace,
                tmp_path / f"operator-{name}.kubeconfig",
                account=f"kubegym-operator-{name}",
            )
            self.processes[name] = OperatorProcess(
                config,
                namespace,
                tmp_path / f"operator-{name}.log",
                env={"KUBEGYM_LEADER_ELECTION": "true", "HOSTNAME": f"op-{name}"},
            )

    @property
    def a(self) -> OperatorProcess:
        return self.processes["a"]

    @property
    def b(self) -> OperatorProcess:
        return self.processes["b"]

    def start(self) -> None:
        self.a.start()
        wait_for(lambda: self.holder().startswith("op-a_"), timeout=60)
        self.b.start()

    def lease(self) -> leases.LeaseRecord:
        from kubernetes import client

        lease = client.CoordinationV1Api(self.api_client).read_namespaced_lease(
            LEASE, self.namespace
        )
        spec = self.api_client.sanitize_for_serialization(lease).get("spec") or {}
        return leases.LeaseRecord.from_spec(spec)

    def holder(self) -> str:
        try:
            return self.lease().holder
        except Exception as exc:  # no Lease yet
            if getattr(exc, "status", None) == 404:
                return ""
            raise

    def stop(self) -> None:
        for name, process in self.processes.items():
            if process.process is not None and process.process.poll() is None:
                process.process.send_signal(signal.SIGCONT)  # a test may have stopped it
            process.stop()
            print(f"--- operator {name} ---\n{process.log()[-4000:]}")


@pytest.fixture
def pair(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    kubegym_crds: list[str],
    repo_root: Path,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Pair]:
    apply_cluster_role(api_client, repo_root)
    both = Pair(api_client, Path(dev_cluster.kubeconfig), namespace, tmp_path)
    try:
        both.start()
        yield both
    finally:
        both.stop()


def events(process: OperatorProcess) -> list[dict[str, Any]]:
    """The process's JSON log lines."""
    found = []
    for line in process.log().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def reconciles(process: OperatorProcess) -> float:
    """Trial and run reconciles the process has made (0 when it never made one)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(process.metrics()):
        for s in family.samples:
            if s.name == "kubegym_operator_reconcile_duration_seconds_count":
                total += s.value
    return total


def leads(process: OperatorProcess) -> float:
    return sample(process.metrics(), "kubegym_operator_leader")


def seconds(later: datetime | None, earlier: datetime | None) -> float:
    assert later is not None and earlier is not None
    return (later - earlier).total_seconds()


def test_only_the_leader_reconciles_and_the_standby_finishes_its_run_after_a_kill(
    pair: Pair, namespace: str
) -> None:
    kubelet, custom = pair.kubelet, pair.custom
    assert (leads(pair.a), leads(pair.b)) == (1, 0)
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run("ha", ["alpha"], ["a1"], seeds=2, parallelism=2),
    )
    # Both trials start (their agent pods run), created while both operators run.
    wait_for(lambda: len(kubelet.running_agents()) == 2, timeout=90)
    first, second = sorted(kubelet.running_agents(), key=lambda p: p["metadata"]["name"])
    kubelet.finish_agent(first, summary_for(0.8))
    trial_of_first = first["metadata"]["labels"]["kubegym.io/trial"]

    def first_succeeded() -> bool:
        return any(
            t["metadata"]["name"] == trial_of_first
            and (t.get("status") or {}).get("phase") == "Succeeded"
            for t in trials_of(custom, namespace, "ha")
        )

    wait_for(first_succeeded, timeout=60)
    # The standby watched nothing and reconciled nothing; the leader did it all.
    assert reconciles(pair.b) == 0 and reconciles(pair.a) > 0
    assert not [e for e in events(pair.b) if e.get("event") == "operator_starting"]

    pair.a.kill()
    died = pair.lease()  # read after the kill: the dead leader's last renewal
    assert died.holder.startswith("op-a_")
    wait_for(lambda: pair.holder().startswith("op-b_"), timeout=60, interval=0.1)
    took = pair.lease()
    delay = seconds(took.acquire_time, died.renew_time)
    print(f"takeover: {delay:.2f} s from the dead leader's last renewal to the new acquireTime")
    # Never before the lease duration (the standby waits it out from when it saw that
    # renewal, which came after it); at most a retry period more (it polls that often), and
    # the round trips of a read and a write on this loaded machine.
    assert TIMING.lease_duration <= delay <= TIMING.lease_duration + TIMING.retry_period + 1.0
    assert took.transitions == died.transitions + 1
    wait_for(lambda: leads(pair.b) == 1, timeout=30)

    # The run started before the kill ends under the new leader, with no retry.
    kubelet.finish_agent(second, summary_for(0.7))
    wait_for(
        lambda: (
            (get_run(custom, namespace, "ha").get("status") or {}).get("phase")
            in ("Succeeded", "Failed")
        ),
        timeout=90,
    )
    status = get_run(custom, namespace, "ha")["status"]
    assert status["phase"] == "Succeeded"
    assert status["counters"]["succeeded"] == 2 and status["counters"]["infraRetried"] == 0
    for trial in trials_of(custom, namespace, "ha"):
        assert trial["status"]["attempt"] == 0, trial["status"]
        assert not trial["status"].get("infraFailures"), trial["status"]
    assert {t["status"]["score"] for t in trials_of(custom, namespace, "ha")} == {0.8, 0.7}
    assert reconciles(pair.b) > 0
    # Each trial's pods were made once: one sandbox and one agent pod per trial, attempt 0.
    names = sorted(p["metadata"]["name"] for p in kubelet.pods("kubegym.io/run=ha"))
    assert all("-a0-" in n for n in names), names


def test_attack_a_candidate_hammering_the_lease_never_wins_while_the_leader_renews(
    pair: Pair, api_client: Any, namespace: str, dev_cluster: cluster.ClusterInfo, tmp_path: Path
) -> None:
    """Besides operator b, a candidate with the operator's rights tries every 50 ms for
    three lease durations: the leader renews, and neither ever holds the Lease."""
    config = operator_kubeconfig(
        api_client,
        Path(dev_cluster.kubeconfig),
        namespace,
        tmp_path / "rival.kubeconfig",
        account="rival",
    )
    renewals = set()
    with admin_client(config) as client:
        rival = leader.Elector(leases.LeaseClient(client, namespace, LEASE), "rival_0")
        deadline = time.monotonic() + 3 * TIMING.lease_duration
        tries = 0
        while time.monotonic() < deadline:
            assert not rival.try_acquire_or_renew()
            tries += 1
            record = pair.lease()
            assert record.holder.startswith("op-a_"), record
            renewals.add(record.renew_time)
            time.sleep(0.05)
    assert tries > 50
    assert len(renewals) >= 3 * TIMING.lease_duration / TIMING.retry_period - 2  # it renewed
    assert (leads(pair.a), leads(pair.b)) == (1, 0)
    assert not [e for e in events(pair.b) if e.get("event") == "leader_acquired"]
    assert pair.lease().transitions == 0


def after(process: OperatorProcess, offset: int) -> list[dict[str, Any]]:
    """The JSON log lines written after the log had `offset` characters."""
    found = []
    for line in process.log()[offset:].splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


# What a leader that lost its Lease may still log: its loss, the writes it was refused,
# its goodbye, and failed calls (the renewal's, refused like the rest).
GIVING_UP = {"leader_lost", "write_refused", "operator_stopping", "lease_try_failed"}


def test_attack_a_stopped_leader_writes_nothing_after_the_standby_took_over(
    pair: Pair, namespace: str
) -> None:
    """SIGSTOP the leader past its lease; the standby takes over; a run applied meanwhile
    is work the old leader's watches deliver when it is continued. It must not act on it:
    every write is refused (its deadline passed while it was stopped) and it exits 3."""
    kubelet, custom = pair.kubelet, pair.custom
    pair.a.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    stopped_at = pair.lease()
    wait_for(lambda: pair.holder().startswith("op-b_"), timeout=60, interval=0.2)
    took = pair.lease()
    print(
        f"takeover from a stopped leader: {seconds(took.acquire_time, stopped_at.renew_time):.2f} s"
    )
    apply(custom, namespace, task("alpha"), benchmark_run("late", ["alpha"], ["a1"], seeds=1))
    wait_for(lambda: len(kubelet.running_agents()) == 1, timeout=90)
    offset = len(pair.a.log())
    pair.a.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
    assert pair.a.process.wait(60) == LEADERSHIP_LOST_EXIT  # type: ignore[union-attr]
    said = after(pair.a, offset)
    assert {e.get("event") for e in said} <= GIVING_UP, said
    assert any(e.get("event") == "operator_stopping" for e in said), said
    # The new leader ran the run alone: one trial, attempt 0, its pods made once.
    (agent,) = kubelet.running_agents()
    kubelet.finish_agent(agent, summary_for(0.9))
    wait_for(
        lambda: (
            (get_run(custom, namespace, "late").get("status") or {}).get("phase") == "Succeeded"
        ),
        timeout=90,
    )
    (trial,) = trials_of(custom, namespace, "late")
    assert trial["status"]["attempt"] == 0 and not trial["status"].get("infraFailures")
    assert pair.holder().startswith("op-b_")


def test_attack_a_leader_cut_off_from_the_api_server_stops_before_the_standby_takes_over(
    pair: Pair, api_client: Any, namespace: str
) -> None:
    """Operator a's ServiceAccount is deleted: its token is refused, renewals too. It must
    stop (exit 3) at its renew deadline, before b takes over, which is a lease duration
    after the last renewal b saw."""
    from kubernetes import client

    last = pair.lease()
    client.CoreV1Api(api_client).delete_namespaced_service_account("kubegym-operator-a", namespace)
    revoked = time.time()
    # The API server may accept the token for a few more seconds (it caches successful
    # authentications); then its renewals fail until the deadline (exit 3), unless kopf gives up on the refused
    # token first (exit 1): either way it stops. The moment is bounded from above by when
    # the wait returns, on this machine's clock, which also stamped the Lease.
    assert pair.a.process.wait(60) != 0  # type: ignore[union-attr]
    exited = time.time()
    wait_for(lambda: pair.holder().startswith("op-b_"), timeout=60, interval=0.2)
    took = pair.lease()
    assert took.acquire_time is not None
    gap = took.acquire_time.timestamp() - exited
    print(
        f"cut-off leader stopped within {exited - revoked:.2f} s of its token's revocation "
        f"and {gap:.2f} s before the standby took over"
    )
    assert gap > 0
    assert took.transitions == last.transitions + 1


def test_the_charts_replicas_elect_one_leader_and_a_clean_stop_hands_over_at_once(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    kubegym_crds: list[str],
    namespace: str,
    tmp_path: Path,
) -> None:
    """`helm install --set operator.replicas=2`: two operators with the Deployment's settings
    and the chart's ServiceAccount (its Role's `leases` rule), one leads; SIGTERM on the
    leader (a rolling update) releases the Lease and the standby takes it at its next try."""
    from kubegym import errors
    from kubegym.devcluster import helm as helm_bin

    from . import test_helm

    try:
        helm = helm_bin.ensure_helm()
    except errors.InfraError as exc:
        pytest.skip(f"helm is not available: {exc}")
    release = test_helm.RELEASE
    test_helm.install(
        helm,
        dev_cluster,
        api_client,
        release,
        namespace,
        f"operator.watchNamespace={namespace}",
        "image.repository=registry.invalid/kubegym",
        "operator.replicas=2",
    )
    processes: list[OperatorProcess] = []
    try:
        env = test_helm.deployment_env(api_client, namespace)
        assert env["KUBEGYM_LEADER_ELECTION"] == "true"
        lease_name = env["KUBEGYM_LEASE_NAME"]
        env = {
            k: v for k, v in env.items() if k not in ("KUBEGYM_HEALTH_PORT", "KUBEGYM_METRICS_PORT")
        }
        kubeconfig = test_helm.service_account_kubeconfig(
            api_client, dev_cluster, namespace, f"{release}-operator", tmp_path / "sa.kubeconfig"
        )
        from kubernetes import client

        coordination = client.CoordinationV1Api(api_client)

        def lease() -> leases.LeaseRecord:
            body = api_client.sanitize_for_serialization(
                coordination.read_namespaced_lease(lease_name, namespace)
            )
            return leases.LeaseRecord.from_spec(body.get("spec") or {})

        for name in ("a", "b"):
            processes.append(
                OperatorProcess(
                    kubeconfig,
                    namespace,
                    tmp_path / f"{name}.log",
                    env={**env, "HOSTNAME": f"op-{name}"},
                )
            )
        a, b = processes
        a.start()
        wait_for(lambda: lease().holder.startswith("op-a_"), timeout=60)
        b.start()
        assert (leads(a), leads(b)) == (1, 0)
        a.stop()  # SIGTERM: kopf stops, then the Lease is released
        assert a.process is not None and a.process.returncode == 0
        released = lease()
        assert released.holder == "" or released.holder.startswith("op-b_"), released
        wait_for(lambda: lease().holder.startswith("op-b_"), timeout=30, interval=0.1)
        took = lease()
        if released.holder == "":  # read before b's next try: time the handover
            handover = seconds(took.acquire_time, released.renew_time)
            print(f"handover after a clean stop: {handover:.2f} s")
            assert handover <= TIMING.retry_period + 1.0  # b's next try, not a lease duration
        assert took.transitions == 1
        wait_for(lambda: leads(b) == 1, timeout=30)
        logs = a.log() + b.log()
        assert "Forbidden" not in logs and "(403)" not in logs
    finally:
        for process in processes:
            process.stop()
            print(process.log()[-3000:])
        test_helm.run_helm(
            helm, dev_cluster, "uninstall", release, "--namespace", namespace, "--wait"
        )
