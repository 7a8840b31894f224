"""The network objects of one BenchmarkRun, made once for all its trials (`run_objects`).

- Headless Services naming the run's sandbox pods: one per `attempt.SERVICE_SHARD_PODS` of
  the run's parallelism (`attempt.service_shards`; one, ``kubegym-run-<run>``, up to 128).
  A sandbox pod is in one shard, picked by a hash of its trial (`attempt.service_shard`,
  its `labels.SHARD` label, which the shard's Service selects), and sets ``hostname``
  (``<trial>-a<attempt>``) and ``subdomain`` (its shard's Service), so its agent reaches it
  at ``<hostname>.<service>.<namespace>.svc`` (`attempt.Attempt.sandbox_url`). Shards keep
  what the endpoint controllers write on each pod change to about 128 addresses, however
  large the run. The Services publish addresses of pods that are not Ready: the agent runner
  waits for both servers itself (`kubegym.agent_runner.pod.wait_until_up`), and the
  sandbox pod stops being Ready once its evaluator has ended (after a submit), while the
  agent still packs the workspace through the sandbox server; a name that vanished then
  would lose the upload. A run whose parallelism grows gets its new shards at its next
  reconcile (a pod made in between names its Service a moment early: the agent runner
  waits for the name); one whose parallelism shrinks keeps the shards its pods name.
- ``<run>.sandbox``: the run's sandbox pods admit the run's agent pods on the sandbox and
  evaluator ports only, and reach nothing.
- ``<run>.sandbox.<mode>`` for each network mode of the run's tasks that opens something
  (`egress.network_mode`, the sandbox pod's `labels.NETWORK`): ``open`` reaches anywhere,
  ``allowlist`` the egress proxy's port only. A Task edited mid-run into a mode its run has
  no policy for gets no egress (closed, never open).
- ``<run>.agent.<agent>`` per agent: the agent's pods admit nothing and reach DNS, the run's
  sandbox pods' two ports and `network.agent_egress`.

Every object is owned by the BenchmarkRun (deleting the run deletes them) and its name is
fixed by (run, shard, mode or agent), so creating twice is harmless. Run and agent names
are DNS labels (no dots), so the dotted policy names never collide across runs, nor with
the per-attempt names of older operators.

Trust: any agent pod of a run can open a connection to any sandbox pod of that run; the
attempt's two tokens (its own Secret, one per attempt) are what keeps it out of another
trial's sandbox and evaluator. Pods of another run or namespace cannot connect at all.

The operator's run reconcile (`kubegym.operator.controller`) creates them before it admits
the run's first Trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubegym.api import runs, tasks
from kubegym.operator import labels
from kubegym.operator.objects import credentials, egress, network
from kubegym.operator.objects.attempt import (
    ROLE_AGENT,
    ROLE_SANDBOX,
    owner_reference,
    run_service_name,
    service_shards,
)
from kubegym.operator.settings import Settings

#: The modes whose sandboxes reach something, in the order their policies are made.
OPEN_MODES: Final[tuple[egress.NetworkMode, ...]] = ("allowlist", "open")


@dataclass(frozen=True)
class RunObjects:
    """Everything a run's network objects are made from.

    Attributes:
        namespace: the BenchmarkRun's namespace.
        run: the BenchmarkRun's name.
        run_uid: its uid, for owner references.
        spec: its spec (the agents, the store, the sandbox egress hosts).
        tasks: the run's Tasks (their network modes).
        settings: the operator's settings (ports, the egress proxy, the default store).
    """

    namespace: str
    run: str
    run_uid: str
    spec: runs.BenchmarkRunSpec
    tasks: Sequence[tasks.Task]
    settings: Settings

    @property
    def shards(self) -> int:
        """How many headless Services the run has now (`attempt.service_shards`)."""
        return service_shards(self.spec.parallelism)


def run_objects(r: RunObjects) -> list[dict[str, Any]]:
    """The run's key (its attempts' tokens are derived from it, `objects.credentials`), its
    headless Services (one per shard) and NetworkPolicies: the sandbox policy, one per
    network mode that opens egress (`OPEN_MODES`, those the run's tasks use), one per agent."""
    used = {egress.network_mode(task, r.spec) for task in r.tasks}
    modes = [m for m in OPEN_MODES if m in used]
    if r.settings.egress is None and "allowlist" in modes:
        # Such a run never starts (`runs.check_tasks`); its sandboxes would stay closed.
        modes.remove("allowlist")
    return [
        credentials.run_key_secret(_metadata(r, credentials.run_key_secret_name(r.run))),
        *(service(r, shard) for shard in range(r.shards)),
        sandbox_policy(r),
        *(sandbox_egress_policy(r, mode) for mode in modes),
        *(agent_policy(r, agent) for agent in r.spec.agents),
    ]


def sandbox_policy_name(run: str, mode: egress.NetworkMode | None = None) -> str:
    """``<run>.sandbox``, or ``<run>.sandbox.<mode>`` for a mode's egress policy."""
    return f"{run}.sandbox" if mode is None else f"{run}.sandbox.{mode}"


def run_agent_policy_name(run: str, agent: str) -> str:
    """``<run>.agent.<agent>``: the NetworkPolicy of the run's pods of that agent."""
    return f"{run}.agent.{agent}"


def service(r: RunObjects, shard: int = 0) -> dict[str, Any]:
    """One of the run's headless Services: the run's sandbox pods of that shard, by hostname."""
    meta = _metadata(r, run_service_name(r.run, shard))
    meta["labels"][labels.SHARD] = str(shard)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            # Headless: no cluster IP to allocate, no kube-proxy rules; DNS answers each
            # sandbox pod's <hostname>.<service> with its own address.
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {**_sandboxes(r), labels.SHARD: str(shard)},
            "ports": [
                {"name": "sandbox", "port": r.settings.sandbox_port, "targetPort": "sandbox"},
                {"name": "evaluator", "port": r.settings.evaluator_port, "targetPort": "evaluator"},
            ],
        },
    }


def sandbox_policy(r: RunObjects) -> dict[str, Any]:
    """The run's sandbox pods admit only the run's agent pods, on the two ports; no egress."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(r, sandbox_policy_name(r.run)),
        "spec": {
            "podSelector": {"matchLabels": _sandboxes(r)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": _agents(r)}}],
                    "ports": _server_ports(r),
                }
            ],
            "egress": [],
        },
    }


def sandbox_egress_policy(r: RunObjects, mode: egress.NetworkMode) -> dict[str, Any]:
    """The egress the run's sandbox pods labelled `mode` get besides `sandbox_policy`'s
    nothing (policies add up): anywhere for ``open``, the proxy's port for ``allowlist``."""
    if mode not in OPEN_MODES:
        raise ValueError(f"network mode {mode!r} opens nothing: it has no policy")
    rules = [{}] if mode == "open" else egress.proxy_rules(r.settings.egress)
    meta = _metadata(r, sandbox_policy_name(r.run, mode))
    meta["labels"][labels.NETWORK] = mode
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": {**_sandboxes(r), labels.NETWORK: mode}},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }


def agent_policy(r: RunObjects, agent: runs.Agent) -> dict[str, Any]:
    """The run's pods of `agent`: no ingress; egress to DNS, the run's sandbox pods' two ports
    and `network.agent_egress` only."""
    meta = _metadata(r, run_agent_policy_name(r.run, agent.name))
    meta["labels"][labels.AGENT] = agent.name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": {**_agents(r), labels.AGENT: agent.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                network.dns_rule(),
                {
                    "to": [{"podSelector": {"matchLabels": _sandboxes(r)}}],
                    "ports": _server_ports(r),
                },
                *network.agent_egress(agent, r.spec, r.settings),
            ],
        },
    }


def _metadata(r: RunObjects, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": r.namespace,
        "labels": {labels.RUN: r.run, labels.MANAGED_BY: "kubegym"},
        "ownerReferences": [owner_reference("BenchmarkRun", r.run, r.run_uid)],
    }


def _sandboxes(r: RunObjects) -> dict[str, str]:
    return {labels.RUN: r.run, labels.ROLE: ROLE_SANDBOX}


def _agents(r: RunObjects) -> dict[str, str]:
    return {labels.RUN: r.run, labels.ROLE: ROLE_AGENT}


def _server_ports(r: RunObjects) -> list[dict[str, Any]]:
    return [network.tcp(r.settings.sandbox_port), network.tcp(r.settings.evaluator_port)]
