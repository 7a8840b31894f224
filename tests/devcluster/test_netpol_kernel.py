"""NetworkPolicies compiled by `kubegym.devcluster.netpol`, enforced by the real kernel.

A node in miniature, all inside network namespaces (nothing on the host changes): a
"node" namespace holds bridge ``br0`` (10.244.213.1, with br_netfilter on), the node's
address 10.250.213.1 and a "public" one, 198.51.100.1, on its loopback, and the loaded
tables; three "pods" hang off the bridge by veth pairs. Every namespace runs a small
TCP/UDP server; a probe run inside a pod's namespace says which of its connections got an
answer. Each test loads a ruleset built from real NetworkPolicy dicts with ``nft -f`` and
asserts what passes and what does not, including replies, a Service's DNAT, the node's
own traffic, unknown addresses and IPv6 on the bridge.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from kubegym.devcluster import netpol
from kubegym.operator import objects
from tests.unit.operator.builders import attempt

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None,
    reason="needs root, nft and ip (network namespaces, nftables)",
)

TAG = f"kgnp{os.getpid() % 100000}"
NODE_NS = f"{TAG}-node"
GATEWAY = "10.244.213.1"
HOST = "10.250.213.1"
PUBLIC = "198.51.100.1"
VIP = "10.96.213.10"  # a Service address, DNAT'd to the server pod by a kube-proxy stand-in
CLIENT, SERVER, OTHER = "10.244.213.11", "10.244.213.12", "10.244.213.13"
#: name → (namespace, labels, address, IPv6 address, named container ports)
PODS: dict[str, tuple[str, dict[str, str], str, str, dict[str, int]]] = {
    "client": ("team-a", {"app": "client"}, CLIENT, "fd00:213::11", {}),
    "server": ("team-a", {"app": "server"}, SERVER, "fd00:213::12", {"http": 8080}),
    "other": ("team-b", {"app": "other"}, OTHER, "fd00:213::13", {}),
}
NAMESPACES = [
    {"metadata": {"name": "team-a", "labels": {"team": "a"}}},
    {"metadata": {"name": "team-b", "labels": {"team": "b"}}},
]
TCP_PORTS = (80, 443, 8080, 8081, 9000)
UDP_PORTS = (53, 5000)
OPTIONS = netpol.Options(node="real-0", pod_cidr="10.244.213.0/24")
NFT = ("ip", "netns", "exec", NODE_NS, "nft")

SERVER_SCRIPT = textwrap.dedent(
    """
    import socket, sys, threading
    def serve(conn):
        with conn:
            conn.sendall(b"hi\\n")
            while data := conn.recv(100):
                conn.sendall(data)
    def tcp(port):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port)); s.listen(64)
        while True:
            threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
    def udp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            data, peer = s.recvfrom(100); s.sendto(data, peer)
    for p in sys.argv[1].split(","):
        threading.Thread(target=tcp, args=(int(p),), daemon=True).start()
    for p in sys.argv[2].split(","):
        threading.Thread(target=udp, args=(int(p),), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    """
)
#: Tries every [address, port, protocol] at once; prints their outcomes as JSON.
PROBE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, concurrent.futures as cf
    def probe(target):
        host, port, proto = target
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(family, kind) as s:
            s.settimeout(1.0)
            if proto != "tcp":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            try:
                if proto == "tcp":
                    s.connect((host, port)); ok = s.recv(3) == b"hi\\n"
                elif proto == "udp-all":  # who answers a broadcast within the timeout
                    s.sendto(b"ping", (host, port)); who = set()
                    try:
                        while True:
                            who.add(s.recvfrom(100)[1][0])
                    except OSError:
                        return ",".join(sorted(who))
                else:
                    s.sendto(b"ping", (host, port)); ok = s.recvfrom(100)[0] == b"ping"
            except OSError:
                ok = False
        return "open" if ok else "blocked"
    targets = json.loads(sys.argv[1])
    with cf.ThreadPoolExecutor(len(targets)) as pool:
        print(json.dumps(list(pool.map(probe, targets))))
    """
)
#: Holds one TCP connection open; each line on stdin is sent, and the echo reported.
HOLD_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    print("connected" if s.recv(3) == b"hi\\n" else "refused", flush=True)
    s.settimeout(1.0)
    for line in sys.stdin:
        s.sendall(b"ping")
        try:
            print("echo" if s.recv(100) == b"ping" else "closed", flush=True)
        except OSError:
            print("silent", flush=True)
    """
)


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def netns(name: str) -> str:
    return f"{TAG}-{name}"


def pod_object(name: str) -> dict[str, Any]:
    namespace, labels, address, _, ports = PODS[name]
    container_ports = [{"name": n, "containerPort": p} for n, p in ports.items()]
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"nodeName": "real-0", "containers": [{"name": "c", "ports": container_ports}]},
        "status": {"phase": "Running", "podIP": address},
    }


def policy(name: str, selector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": "team-a", "name": name},
        "spec": {"podSelector": selector, **spec},
    }


def load(
    policies: list[dict[str, Any]],
    pods: list[dict[str, Any]] | None = None,
    options: netpol.Options = OPTIONS,
) -> netpol.Ruleset:
    """Compile, load in the node's namespace, forget old connections."""
    if pods is None:
        pods = [pod_object(name) for name in PODS]
    ruleset = netpol.compile_ruleset(policies, pods, NAMESPACES, options)
    netpol.apply(ruleset, nft=NFT)
    subprocess.run(["ip", "netns", "exec", NODE_NS, "conntrack", "-F"], capture_output=True)
    return ruleset


def probe(source: str, *targets: tuple[str, int, str]) -> list[str]:
    """Outcomes of connections from `source` (a pod's name, or "node") to `targets`."""
    space = NODE_NS if source == "node" else netns(source)
    out = subprocess.run(
        ["ip", "netns", "exec", space, sys.executable, "-c", PROBE_SCRIPT, json.dumps(targets)],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    )
    result: list[str] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def topology() -> Iterator[None]:
    servers: list[subprocess.Popen[str]] = []
    spaces = [NODE_NS, *(netns(n) for n in PODS)]
    try:
        try:
            sh("ip", "netns", "add", NODE_NS)
        except subprocess.CalledProcessError as err:
            pytest.skip(f"ip netns add failed: {err.stderr.strip()}")
        node = ("ip", "-n", NODE_NS)
        sh(*node, "link", "set", "lo", "up")
        sh(*node, "addr", "add", f"{HOST}/32", "dev", "lo")
        sh(*node, "addr", "add", f"{PUBLIC}/32", "dev", "lo")
        sh(*node, "link", "add", "br0", "type", "bridge")
        sh(*node, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        sh(*node, "link", "set", "br0", "up")
        for key in ("net.bridge.bridge-nf-call-iptables=1", "net.ipv4.ip_forward=1"):
            sh("ip", "netns", "exec", NODE_NS, "sysctl", "-qw", key)
        # A kube-proxy stand-in: the Service address is DNAT'd at -100, before the policy.
        subprocess.run(
            ["ip", "netns", "exec", NODE_NS, "nft", "-f", "-"],
            input="table ip fake-proxy {\n chain pre {\n  type nat hook prerouting priority "
            f"dstnat;\n  ip daddr {VIP} tcp dport 80 dnat to {SERVER}:8080\n }}\n}}\n",
            text=True,
            check=True,
        )
        for i, (name, (_, _, address, address6, _)) in enumerate(PODS.items()):
            space = netns(name)
            sh("ip", "netns", "add", space)
            sh(
                *node,
                "link",
                "add",
                f"veth{i}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                space,
            )
            sh(*node, "link", "set", f"veth{i}", "master", "br0", "up")
            pod = ("ip", "-n", space)
            sh(*pod, "link", "set", "lo", "up")
            sh(*pod, "addr", "add", f"{address}/24", "dev", "eth0")
            sh(*pod, "-6", "addr", "add", f"{address6}/64", "dev", "eth0", "nodad")
            sh(*pod, "link", "set", "eth0", "up")
            sh(*pod, "route", "add", "default", "via", GATEWAY)
        for space in spaces:
            ports = ",".join(map(str, TCP_PORTS)), ",".join(map(str, UDP_PORTS))
            server = subprocess.Popen(
                ["ip", "netns", "exec", space, sys.executable, "-c", SERVER_SCRIPT, *ports],
                stdout=subprocess.PIPE,
                text=True,
            )
            servers.append(server)
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield
    finally:
        for server in servers:
            server.kill()
            server.wait()
        subprocess.run([*NFT, "delete", "table", "inet", netpol.TABLE], capture_output=True)
        subprocess.run([*NFT, "delete", "table", "bridge", netpol.TABLE], capture_output=True)
        for space in reversed(spaces):
            subprocess.run(["ip", "netns", "delete", space], capture_output=True)


DENY_EGRESS = policy("deny-egress", {"matchLabels": {"app": "client"}}, policyTypes=["Egress"])


def test_without_policies_everything_passes(topology: None) -> None:
    load([])
    assert (
        probe("client", (SERVER, 80, "tcp"), (OTHER, 9000, "tcp"), (HOST, 80, "tcp"))
        == ["open"] * 3
    )
    assert probe("client", (SERVER, 53, "udp"), (HOST, 53, "udp")) == ["open"] * 2


def test_default_deny_egress_blocks_pods_and_the_node(topology: None) -> None:
    load([DENY_EGRESS])
    assert (
        probe(
            "client",
            (SERVER, 80, "tcp"),
            (OTHER, 80, "tcp"),
            (HOST, 80, "tcp"),
            (GATEWAY, 80, "tcp"),
        )
        == ["blocked"] * 4
    )
    # DNS on the node's address too: only a policy opens it
    assert probe("client", (HOST, 53, "udp"), (SERVER, 53, "udp")) == ["blocked"] * 2
    # a pod no policy selects is unaffected, and still reaches the isolated one
    assert (
        probe("other", (SERVER, 80, "tcp"), (HOST, 53, "udp"), (CLIENT, 80, "tcp")) == ["open"] * 3
    )


def test_egress_by_pod_selector_and_port_allows_exactly_that(topology: None) -> None:
    to_server = {"to": [{"podSelector": {"matchLabels": {"app": "server"}}}]}
    load(
        [
            policy(
                "p",
                {"matchLabels": {"app": "client"}},
                egress=[{**to_server, "ports": [{"port": 80}]}],
            )
        ]
    )
    assert probe(
        "client", (SERVER, 80, "tcp"), (SERVER, 443, "tcp"), (SERVER, 53, "udp"), (OTHER, 80, "tcp")
    ) == ["open", "blocked", "blocked", "blocked"]


def test_egress_by_namespace_selector(topology: None) -> None:
    to_team_b = {"to": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}
    load([policy("p", {"matchLabels": {"app": "client"}}, egress=[to_team_b])])
    assert probe("client", (OTHER, 9000, "tcp"), (OTHER, 5000, "udp"), (SERVER, 80, "tcp")) == [
        "open",
        "open",
        "blocked",
    ]


def test_egress_by_ip_block_with_except(topology: None) -> None:
    block = {"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"{SERVER}/32"]}}
    load([policy("p", {"matchLabels": {"app": "client"}}, egress=[{"to": [block]}])])
    assert probe(
        "client", (HOST, 80, "tcp"), (OTHER, 80, "tcp"), (SERVER, 80, "tcp"), (PUBLIC, 80, "tcp")
    ) == ["open", "open", "blocked", "blocked"]


def test_end_port_ranges_and_udp(topology: None) -> None:
    ports = [{"port": 8000, "endPort": 8100}, {"protocol": "UDP", "port": 5000}]
    load([policy("p", {"matchLabels": {"app": "client"}}, egress=[{"ports": ports}])])
    assert probe(
        "client",
        (SERVER, 8080, "tcp"),
        (HOST, 8081, "tcp"),
        (SERVER, 80, "tcp"),
        (SERVER, 9000, "tcp"),
        (SERVER, 5000, "udp"),
        (SERVER, 53, "udp"),
    ) == ["open", "open", "blocked", "blocked", "open", "blocked"]


def test_ingress_isolation_admits_the_selected_peer_on_the_named_port(topology: None) -> None:
    from_client = {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}
    load(
        [
            policy(
                "p",
                {"matchLabels": {"app": "server"}},
                ingress=[{**from_client, "ports": [{"port": "http"}]}],
            )
        ]
    )
    assert probe("client", (SERVER, 8080, "tcp"), (SERVER, 80, "tcp")) == ["open", "blocked"]
    assert probe("other", (SERVER, 8080, "tcp"), (CLIENT, 80, "tcp")) == ["blocked", "open"]
    # the node itself is always allowed (probes, host-network pods)
    assert probe("node", (SERVER, 80, "tcp"), (SERVER, 53, "udp")) == ["open", "open"]


def test_replies_of_allowed_connections_flow_back(topology: None) -> None:
    client, server = {"matchLabels": {"app": "client"}}, {"matchLabels": {"app": "server"}}
    load(
        [
            # the client takes no connections, the server makes none
            policy(
                "client-out",
                client,
                policyTypes=["Ingress", "Egress"],
                egress=[{"to": [{"podSelector": server}]}],
            ),
            policy(
                "server-in",
                server,
                policyTypes=["Ingress", "Egress"],
                ingress=[{"from": [{"podSelector": client}]}],
            ),
        ]
    )
    assert probe("client", (SERVER, 80, "tcp"), (SERVER, 53, "udp")) == ["open", "open"]
    assert (
        probe("server", (CLIENT, 80, "tcp"), (CLIENT, 53, "udp"), (HOST, 80, "tcp"))
        == ["blocked"] * 3
    )


def test_a_service_is_judged_by_the_pod_it_reaches(topology: None) -> None:
    to_server = {
        "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
        "ports": [{"port": 8080}],
    }
    load([policy("p", {"matchLabels": {"app": "client"}}, egress=[to_server])])
    assert probe("client", (VIP, 80, "tcp")) == ["open"]
    to_vip = {"to": [{"ipBlock": {"cidr": "10.96.0.0/12"}}]}
    load([policy("p", {"matchLabels": {"app": "client"}}, egress=[to_vip])])
    assert probe("client", (VIP, 80, "tcp")) == ["blocked"]


def test_an_address_no_pod_owns_is_dropped_both_ways(topology: None) -> None:
    known = [pod_object("client"), pod_object("server")]
    load([], pods=known)
    assert probe("other", (SERVER, 80, "tcp"), (HOST, 80, "tcp")) == ["blocked"] * 2
    assert probe("client", (OTHER, 80, "tcp"), (SERVER, 80, "tcp"), (GATEWAY, 80, "tcp")) == [
        "blocked",
        "open",
        "open",
    ]
    load([], pods=known, options=netpol.Options(node="real-0", pod_cidr=None))
    assert probe("other", (SERVER, 80, "tcp")) == ["open"]


def test_a_broadcast_does_not_get_around_ingress_isolation(topology: None) -> None:
    ruleset = load([policy("deny-in", {"matchLabels": {"app": "server"}})])
    flood = next(line for line in ruleset.text.splitlines() if "224.0.0.0/4" in line)
    everyone = ",".join([GATEWAY, CLIENT, SERVER, OTHER])
    unfiltered = ruleset.text.replace(flood + "\n", "")
    subprocess.run([*NFT, "-f", "-"], input=unfiltered, text=True, check=True)
    assert probe("client", ("255.255.255.255", 5000, "udp-all")) == [everyone], "the hole"
    netpol.apply(ruleset, nft=NFT)
    # only the client's own stack hears it (a broadcast loops back to its sender)
    assert probe("client", ("255.255.255.255", 5000, "udp-all")) == [CLIENT]
    assert probe("client", ("10.244.213.255", 5000, "udp-all")) == [CLIENT]


def test_ipv6_between_pods_on_the_bridge_is_dropped(topology: None) -> None:
    v6 = PODS["server"][3]
    subprocess.run([*NFT, "delete", "table", "bridge", netpol.TABLE], capture_output=True)
    load([], options=netpol.Options(node="real-0", pod_cidr=OPTIONS.pod_cidr, bridge_ports=None))
    assert probe("client", (v6, 80, "tcp")) == ["open"], "the test's IPv6 path works"
    load([])
    assert probe("client", (v6, 80, "tcp"), (SERVER, 80, "tcp")) == ["blocked", "open"]


@pytest.mark.skipif(shutil.which("conntrack") is None, reason="needs conntrack (conntrack-tools)")
def test_a_connection_the_new_rules_forbid_is_cut(topology: None) -> None:
    """Isolated both ways, like the operator's agent pod: after `forget_connections` the
    server's retransmissions cannot revive the flow either (conntrack's mid-stream pickup
    would make the client's packets replies of a connection from the server)."""
    before = load([])
    hold = subprocess.Popen(
        ["ip", "netns", "exec", netns("client"), sys.executable, "-c", HOLD_SCRIPT, SERVER, "80"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert hold.stdin is not None and hold.stdout is not None
    try:

        def ping() -> str:
            assert hold.stdin is not None and hold.stdout is not None
            hold.stdin.write("\n")
            hold.stdin.flush()
            return hold.stdout.readline().strip()

        assert hold.stdout.readline().strip() == "connected"
        assert ping() == "echo"
        deny_all = policy(
            "deny-all", {"matchLabels": {"app": "client"}}, policyTypes=["Ingress", "Egress"]
        )
        after = netpol.compile_ruleset(
            [deny_all], [pod_object(n) for n in PODS], NAMESPACES, OPTIONS
        )
        netpol.apply(after, nft=NFT)
        assert ping() == "echo", "established connections outlive a bare reload"
        conntrack = ("ip", "netns", "exec", NODE_NS, "conntrack")
        assert netpol.forget_connections(before, after, conntrack=conntrack) == [
            f"-D -s {CLIENT}",
            f"-D --reply-src {CLIENT}",
        ]
        assert ping() == "silent"
    finally:
        hold.kill()
        hold.wait()


def test_the_operators_policies_admit_only_the_agent(topology: None) -> None:
    a = attempt()
    agent, sandbox = objects.agent_pod(a), objects.sandbox_pod(a)
    for manifest, address in ((agent, CLIENT), (sandbox, SERVER)):
        manifest["spec"]["nodeName"] = "real-0"
        manifest["status"] = {"phase": "Running", "podIP": address}
    # a pod of another namespace wearing the labels of an agent pod of the same run
    other = pod_object("other")
    other["metadata"]["labels"] = objects.agent_pod(attempt(number=1))["metadata"]["labels"]
    assert other["metadata"]["namespace"] != a.namespace
    r = objects.RunObjects(a.namespace, a.spec.run, "run-uid", a.run, [a.task], a.settings)
    policies = [m for m in objects.run_objects(r) if m["kind"] == "NetworkPolicy"]
    netpol.apply(
        netpol.compile_ruleset(policies, [agent, sandbox, other], NAMESPACES, OPTIONS), nft=NFT
    )
    sandbox_port, evaluator_port = a.settings.sandbox_port, a.settings.evaluator_port
    assert probe(
        "client",
        (SERVER, sandbox_port, "tcp"),
        (SERVER, evaluator_port, "tcp"),
        (SERVER, 80, "tcp"),
        (HOST, 53, "udp"),
        (PUBLIC, 443, "tcp"),
        (PUBLIC, 80, "tcp"),
        (HOST, 443, "tcp"),
    ) == ["open", "open", "blocked", "open", "open", "blocked", "blocked"]
    assert (
        probe(
            "server",
            (CLIENT, 80, "tcp"),
            (HOST, 53, "udp"),
            (HOST, 80, "tcp"),
            (PUBLIC, 443, "tcp"),
        )
        == ["blocked"] * 4
    )
    # a pod of another namespace, whatever its labels
    assert probe("other", (SERVER, sandbox_port, "tcp")) == ["blocked"]
