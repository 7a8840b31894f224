"""A run's per-run network objects on the real node: headless Services naming the run's sandbox
pods (two shards here, one sandbox in each), and NetworkPolicies by label, enforced by the
node's NetworkPolicy controller.

The run's objects (`objects.run_objects`, without their owner reference: no BenchmarkRun
exists here, and the garbage collector would take objects whose owner is missing) are
created in a fresh namespace, with two sandbox pods of two trials of that run, built from
the operator's own manifests (labels, ``hostname``, ``subdomain``) but running a small
server on the sandbox and evaluator ports (one of them never Ready). Then one-shot pods
probe: an agent pod of the run reaches both sandboxes by their DNS names, each under its
own shard's Service and not the other's (the other trial's too: the attempt's tokens keep
it out, tests/unit/operator/test_run_network_trust.py), the not-Ready sandbox included;
an agent pod of another run, and a pod of another namespace wearing the run's agent
labels, reach neither; a sandbox of the run reaches nothing, DNS included.

Needs a machine that can run the real node; skips, saying why, elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from kubegym.operator import labels, objects
from kubegym.operator.settings import Settings
from tests.node.conftest import NodeCluster
from tests.node.pods import python_pod, run_pod
from tests.support import kube
from tests.unit.operator.builders import attempt, run_spec, task

pytestmark = pytest.mark.node

SETTINGS = Settings()
#: A parallelism of 256: two headless Services (`objects.service_shards`).
RUN = run_spec(agents=[{"name": "gpt", "model": "openai/gpt-4o"}], parallelism=256)
#: Two trials of run `demo` (task toy, agent gpt, seeds 0 and 1), one in each shard.
TRIALS = ("demo-toy-gpt-s0-1a2b3c4d", "demo-toy-gpt-s1-5e6f7a8b")
SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}

#: Answers ``hi`` on the sandbox and evaluator ports.
SERVER = (
    "import socket, threading\n"
    "def serve(port):\n"
    "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('', port)); s.listen(16)\n"
    "    while True:\n"
    "        c = s.accept()[0]; c.sendall(b'hi'); c.close()\n"
    f"for p in ({SETTINGS.sandbox_port}, {SETTINGS.evaluator_port}):\n"
    "    threading.Thread(target=serve, args=(p,), daemon=True).start()\n"
    "threading.Event().wait()\n"
)


def probe_code(targets: dict[str, tuple[str, int]]) -> str:
    """Prints ``{name: open|blocked|unresolved}`` as JSON. A target is tried for up to 20 s
    (the node's policy controller programs a new pod's address within moments): open as
    soon as one connection gets the server's answer."""
    return (
        "import json, socket, time, concurrent.futures as cf\n"
        "def probe(target):\n"
        "    host, port = target\n"
        "    deadline = time.monotonic() + 20\n"
        "    seen = 'unresolved'\n"
        "    while time.monotonic() < deadline:\n"
        "        try:\n"
        "            address = socket.gethostbyname(host)\n"
        "        except OSError:\n"
        "            time.sleep(1); continue\n"
        "        seen = 'blocked'\n"
        "        try:\n"
        "            with socket.create_connection((address, port), timeout=2) as c:\n"
        "                if c.recv(2) == b'hi':\n"
        "                    return 'open'\n"
        "        except OSError:\n"
        "            time.sleep(1)\n"
        "    return seen\n"
        f"targets = {targets!r}\n"
        "with cf.ThreadPoolExecutor(len(targets)) as pool:\n"
        "    found = dict(zip(targets, pool.map(probe, targets.values())))\n"
        "print(json.dumps(found))\n"
    )


def labelled(pod: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """``pod`` wearing ``manifest``'s labels (the operator's pod of that role)."""
    pod["metadata"]["labels"] = dict(manifest["metadata"]["labels"])
    return pod


def probe(
    api: Any, namespace: str, name: str, image: str, wearing: dict[str, Any], targets: Any
) -> dict[str, str]:
    pod = labelled(python_pod(name, image, probe_code(targets), resources=SMALL), wearing)
    status = run_pod(api, namespace, pod, timeout=180)
    assert status["phase"] == "Succeeded", status
    found: dict[str, str] = json.loads(status["logs"].strip().splitlines()[-1])
    return found


def test_a_runs_sandboxes_admit_the_runs_agents_only(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(node_api)
    net: Any = client.NetworkingV1Api(node_api)
    image = node_cluster.images["kubegym"]
    attempts = [
        dataclasses.replace(attempt(run=RUN, trial=t, settings=SETTINGS), namespace=node_namespace)
        for t in TRIALS
    ]
    r = objects.RunObjects(node_namespace, "demo", "uid", RUN, [task()], SETTINGS)
    for manifest in objects.run_objects(r):
        del manifest["metadata"]["ownerReferences"]
        if manifest["kind"] == "Service":
            core.create_namespaced_service(node_namespace, manifest)
        elif manifest["kind"] == "NetworkPolicy":
            net.create_namespaced_network_policy(node_namespace, manifest)
        # (the run's key Secret: these pods run no credentials init container)
    for number, a in enumerate(attempts):
        operator_pod = objects.sandbox_pod(a)
        pod = labelled(
            python_pod(f"sandbox-{number}", image, SERVER, resources=SMALL), operator_pod
        )
        pod["spec"]["hostname"] = operator_pod["spec"]["hostname"]
        pod["spec"]["subdomain"] = operator_pod["spec"]["subdomain"]
        if number == 1:  # never Ready: its name must resolve all the same
            pod["spec"]["containers"][0]["readinessProbe"] = {
                "tcpSocket": {"port": 9},
                "periodSeconds": 1,
            }
        core.create_namespaced_pod(node_namespace, pod)

    def addressed() -> list[str] | None:
        pods = [core.read_namespaced_pod(f"sandbox-{n}", node_namespace) for n in (0, 1)]
        ips = [p.status.pod_ip for p in pods]
        return ips if all(ips) and all(p.status.phase == "Running" for p in pods) else None

    mine, theirs = kube.wait_for(addressed, 120)
    hosts = [a.sandbox_host for a in attempts]
    # one sandbox in the first shard, the other in the second (its own Service's name)
    assert [a.service for a in attempts] == [objects.run_service_name("demo", k) for k in (0, 1)]
    ports = (SETTINGS.sandbox_port, SETTINGS.evaluator_port)
    by_name = {f"trial{n}:{port}": (hosts[n], port) for n in (0, 1) for port in ports}
    # an agent pod of the run: both sandboxes, by their names (the not-Ready one too)
    agent = objects.agent_pod(attempts[0])
    # ... and only there: the first shard's Service does not name the second's pod
    wrong_shard = f"{attempts[1].hostname}.{attempts[0].service}.{node_namespace}.svc"
    targets = {**by_name, "wrong-shard": (wrong_shard, SETTINGS.sandbox_port)}
    assert probe(node_api, node_namespace, "agent", image, agent, targets) == {
        **dict.fromkeys(by_name, "open"),
        "wrong-shard": "unresolved",
    }
    # an agent pod of another run, in the same namespace: nothing
    other_run = objects.agent_pod(attempts[0])
    other_run["metadata"]["labels"][labels.RUN] = "other"
    by_address = {
        f"{n}:{port}": (ip, port)
        for n, ip in (("mine", mine), ("theirs", theirs))
        for port in ports
    }
    found = probe(node_api, node_namespace, "other-run", image, other_run, by_address)
    assert found == dict.fromkeys(by_address, "blocked")
    # a pod of another namespace wearing the run's agent labels: nothing
    with kube.fresh_namespace(node_api, "o", grace_period_seconds=0) as elsewhere:
        found = probe(node_api, elsewhere, "elsewhere", image, agent, by_address)
    assert found == dict.fromkeys(by_address, "blocked")
    # a sandbox of the run: not the other sandbox, not the cluster's DNS
    sandbox = objects.sandbox_pod(attempts[0])
    found = probe(
        node_api,
        node_namespace,
        "sandbox-probe",
        image,
        sandbox,
        {"theirs": (theirs, SETTINGS.sandbox_port), "dns": (hosts[1], SETTINGS.sandbox_port)},
    )
    assert found == {"theirs": "blocked", "dns": "unresolved"}
