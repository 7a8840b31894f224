"""NetworkPolicy semantics of `kubegym.devcluster.netpol.compile_ruleset`, with no kernel.

What a ruleset lets through is asked of `Ruleset.allows`, which reads the same matches the
nft text is rendered from (tests/devcluster/test_netpol_kernel.py loads that text into a
real kernel). Covered: label selectors, policyTypes defaulting, the union of policies,
every kind of peer, ports (numbers, ranges, protocols, named ports), which pods are
programmed, failing closed, the operator's own policies, the text, and the watch loop.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubegym.devcluster import netpol
from kubegym.devcluster.netpol import controller, kernel
from kubegym.operator import labels, objects
from tests.unit.operator.builders import attempt, run_spec, task
from tests.unit.operator.test_egress_objects import SETTINGS as PROXY_SETTINGS

OPTIONS = netpol.Options(node="real-0")
NAMESPACES = [
    {"metadata": {"name": "a", "labels": {"team": "a", "kubernetes.io/metadata.name": "a"}}},
    {"metadata": {"name": "b", "labels": {"team": "b", "kubernetes.io/metadata.name": "b"}}},
    {"metadata": {"name": "c", "labels": {"kubernetes.io/metadata.name": "c"}}},
]
NODE_IP = "10.250.0.1"
PUBLIC = "93.184.216.34"


def pod(
    name: str,
    ip: str,
    namespace: str = "a",
    labels: dict[str, str] | None = None,
    ports: dict[str, int | tuple[int, str]] | None = None,
    node: str = "real-0",
    **spec: Any,
) -> dict[str, Any]:
    container_ports = [
        {"name": n, "containerPort": p}
        if isinstance(p, int)
        else {"name": n, "containerPort": p[0], "protocol": p[1]}
        for n, p in (ports or {}).items()
    ]
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels or {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": container_ports}], **spec},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def policy(
    name: str, selector: dict[str, Any] | None = None, namespace: str = "a", **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"podSelector": selector if selector is not None else {}, **spec},
    }


def app(name: str) -> dict[str, Any]:
    return {"matchLabels": {"app": name}}


#: client and server in namespace a, other in b, far on another node (in a).
PODS = [
    pod("client", "10.244.0.5"),
    pod("server", "10.244.0.6", ports={"http": 8080, "dns": (5353, "UDP")}),
    pod("other", "10.244.0.7", namespace="b", labels={"app": "client"}),
    pod("far", "10.244.1.9", node="kwok-0", ports={"http": 9090}),
]


def compile_(*policies: dict[str, Any], pods: list[dict[str, Any]] = PODS) -> netpol.Ruleset:
    return netpol.compile_ruleset(list(policies), pods, NAMESPACES, OPTIONS)


# -- Label selectors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({}, True),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "web", "tier": "front"}}, True),
        ({"matchLabels": {"app": "db"}}, False),
        ({"matchLabels": {"missing": ""}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}, False),
        (  # matchLabels and every expression must hold
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "Exists"},
                    {"key": "zone", "operator": "Exists"},
                ],
            },
            False,
        ),
    ],
)
def test_label_selectors(selector: dict[str, Any], expected: bool) -> None:
    assert netpol.selects(selector, {"app": "web", "tier": "front"}) is expected


# -- Isolation and policyTypes -------------------------------------------------------------


def test_without_policies_nothing_is_isolated() -> None:
    ruleset = compile_()
    assert all(p.ingress is None and p.egress is None for p in ruleset.pods)
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 1)
    assert ruleset.allows("10.244.0.5", NODE_IP, "udp", 53)


def test_policy_types_default_to_ingress_only_without_egress_rules() -> None:
    ruleset = compile_(policy("p", app("server")), policy("q", app("client"), egress=[]))
    server, client = by_name(ruleset, "server"), by_name(ruleset, "client")
    assert server.ingress == () and server.egress is None
    assert client.ingress == () and client.egress is None, "egress: [] is no egress section"


def test_policy_types_default_to_both_with_egress_rules() -> None:
    client = by_name(compile_(policy("p", app("client"), egress=[{}])), "client")
    assert client.ingress == () and client.egress is not None


def test_explicit_egress_only_leaves_ingress_open() -> None:
    ruleset = compile_(policy("p", app("server"), policyTypes=["Egress"]))
    assert by_name(ruleset, "server").ingress is None
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.6", "10.244.0.5", "tcp", 80)
    assert not ruleset.allows("10.244.0.6", NODE_IP, "udp", 53), "the node's DNS is egress too"


def test_a_policy_selects_only_in_its_namespace() -> None:
    ruleset = compile_(policy("p", app("client"), namespace="b", policyTypes=["Egress"]))
    assert by_name(ruleset, "client").egress is None
    assert by_name(ruleset, "other").egress == ()


def test_allowed_traffic_is_the_union_of_the_selecting_policies() -> None:
    ruleset = compile_(
        policy("to-server", app("client"), egress=[{"to": [{"podSelector": app("server")}]}]),
        policy("to-node", app("client"), egress=[{"to": [{"ipBlock": {"cidr": f"{NODE_IP}/32"}}]}]),
        policy("ingress-only", app("client")),  # isolates client's ingress, adds no egress
    )
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert ruleset.allows("10.244.0.5", NODE_IP, "tcp", 6443)
    assert not ruleset.allows("10.244.0.5", "10.244.0.7", "tcp", 80)
    assert not ruleset.allows("10.244.0.7", "10.244.0.5", "tcp", 80), "client is ingress-isolated"
    assert ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80)


def test_one_policy_isolating_both_ways_with_another_allowing() -> None:
    ruleset = compile_(
        policy("deny", app("server"), policyTypes=["Ingress", "Egress"]),
        policy("allow", app("server"), ingress=[{"from": [{"podSelector": app("client")}]}]),
    )
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.6", "10.244.0.5", "tcp", 80)


# -- Peers ---------------------------------------------------------------------------------


def test_a_pod_selector_peer_is_in_the_policys_namespace() -> None:
    ruleset = compile_(
        policy("p", app("server"), ingress=[{"from": [{"podSelector": app("client")}]}])
    )
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80), "same labels, namespace b"
    assert not ruleset.allows(PUBLIC, "10.244.0.6", "tcp", 80)


def test_an_empty_pod_selector_peer_is_every_pod_of_the_namespace() -> None:
    ruleset = compile_(policy("p", app("server"), ingress=[{"from": [{"podSelector": {}}]}]))
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert ruleset.allows("10.244.1.9", "10.244.0.6", "tcp", 80), "a pod on another node"
    assert not ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80)


def test_a_namespace_selector_peer_is_every_pod_there() -> None:
    team_b = {"namespaceSelector": {"matchLabels": {"team": "b"}}}
    ruleset = compile_(policy("p", app("server"), ingress=[{"from": [team_b]}]))
    assert ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    everywhere = compile_(
        policy("p", app("server"), ingress=[{"from": [{"namespaceSelector": {}}]}])
    )
    assert everywhere.allows("10.244.0.7", "10.244.0.6", "tcp", 80)
    assert everywhere.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert not everywhere.allows(PUBLIC, "10.244.0.6", "tcp", 80), "pods only, not addresses"


def test_a_namespace_is_selectable_by_its_name_label_even_when_unlisted() -> None:
    by_name_label = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "d"}}}
    pods = [*PODS, pod("d1", "10.244.0.20", namespace="d")]
    ruleset = compile_(policy("p", app("server"), ingress=[{"from": [by_name_label]}]), pods=pods)
    assert ruleset.allows("10.244.0.20", "10.244.0.6", "tcp", 80)


def test_pod_and_namespace_selectors_in_one_peer_must_both_hold() -> None:
    both = {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": app("client")}
    pods = [*PODS, pod("b-server", "10.244.0.8", namespace="b", labels={"app": "server"})]
    ruleset = compile_(policy("p", app("server"), ingress=[{"from": [both]}]), pods=pods)
    assert ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.8", "10.244.0.6", "tcp", 80), "wrong pod labels"
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80), "wrong namespace"


def test_two_peers_in_one_rule_are_either() -> None:
    either = [{"namespaceSelector": {"matchLabels": {"team": "b"}}}, {"podSelector": app("client")}]
    ruleset = compile_(policy("p", app("server"), ingress=[{"from": either}]))
    assert ruleset.allows("10.244.0.7", "10.244.0.6", "tcp", 80)
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)


def test_an_ip_block_with_except() -> None:
    block = {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.244.0.0/24", "10.96.0.0/12"]}}
    ruleset = compile_(policy("p", app("client"), egress=[{"to": [block]}]))
    assert ruleset.allows("10.244.0.5", NODE_IP, "tcp", 6443)
    assert ruleset.allows("10.244.0.5", "10.244.1.9", "tcp", 80)
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.5", "10.96.0.1", "tcp", 443)
    assert not ruleset.allows("10.244.0.5", PUBLIC, "tcp", 443)


def test_ipv6_and_malformed_ip_blocks_match_nothing() -> None:
    blocks = [{"ipBlock": {"cidr": "::/0"}}, {"ipBlock": {"cidr": "not-a-cidr"}}]
    ruleset = compile_(policy("p", app("client"), egress=[{"to": blocks}]))
    assert by_name(ruleset, "client").egress == ()
    assert not ruleset.allows("10.244.0.5", PUBLIC, "tcp", 443)


def test_empty_to_and_ports_allow_everything() -> None:
    ruleset = compile_(policy("p", app("client"), egress=[{}]))
    assert ruleset.allows("10.244.0.5", PUBLIC, "sctp", 9)
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "udp", 53)


def test_a_selector_that_matches_no_pod_allows_nothing() -> None:
    ruleset = compile_(
        policy("p", app("client"), egress=[{"to": [{"podSelector": app("nobody")}]}])
    )
    assert by_name(ruleset, "client").egress == ()


# -- Ports ---------------------------------------------------------------------------------


def test_ports_protocols_default_to_tcp_and_ranges_are_inclusive() -> None:
    ports = [{"port": 80}, {"protocol": "UDP", "port": 53}, {"port": 8000, "endPort": 8010}]
    ruleset = compile_(policy("p", app("client"), egress=[{"ports": ports}]))
    for proto, port, expected in [
        ("tcp", 80, True),
        ("udp", 80, False),
        ("udp", 53, True),
        ("tcp", 53, False),
        ("tcp", 8000, True),
        ("tcp", 8010, True),
        ("tcp", 8011, False),
        ("tcp", 7999, False),
        ("sctp", 80, False),
    ]:
        assert ruleset.allows("10.244.0.5", PUBLIC, proto, port) is expected, (proto, port)


def test_a_protocol_without_a_port_is_every_port_of_it() -> None:
    ruleset = compile_(
        policy("p", app("client"), egress=[{"ports": [{"protocol": "SCTP"}, {"port": 80}]}])
    )
    assert ruleset.allows("10.244.0.5", PUBLIC, "sctp", 1)
    assert ruleset.allows("10.244.0.5", PUBLIC, "sctp", 65535)
    assert not ruleset.allows("10.244.0.5", PUBLIC, "udp", 1)


def test_an_ingress_named_port_is_the_target_pods() -> None:
    ports = [{"port": "http"}, {"protocol": "UDP", "port": "dns"}]
    ruleset = compile_(policy("p", app("server"), ingress=[{"ports": ports}]))
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 8080)
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "udp", 5353)
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 5353), "dns is UDP"
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)


def test_an_egress_named_port_is_each_destination_pods() -> None:
    ruleset = compile_(policy("p", app("client"), egress=[{"ports": [{"port": "http"}]}]))
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 8080)
    assert ruleset.allows("10.244.0.5", "10.244.1.9", "tcp", 9090)
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 9090), "not server's http"
    assert not ruleset.allows("10.244.0.5", PUBLIC, "tcp", 8080), "an address has no port names"


def test_an_egress_named_port_respects_the_peers() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}}]}
    ruleset = compile_(policy("p", app("client"), egress=[{**rule, "ports": [{"port": "http"}]}]))
    assert ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 8080)
    assert not ruleset.allows("10.244.0.5", "10.244.1.9", "tcp", 9090)


def test_ports_that_resolve_to_nothing_allow_nothing() -> None:
    ruleset = compile_(policy("p", app("client"), egress=[{"ports": [{"port": "nope"}]}]))
    assert by_name(ruleset, "client").egress == ()
    assert not ruleset.allows("10.244.0.5", PUBLIC, "tcp", 80)


# -- Which pods ----------------------------------------------------------------------------


def test_only_this_nodes_pods_with_an_address_are_programmed() -> None:
    pods = [
        *PODS,
        pod("pending", "", labels={"app": "client"}),
        pod("host", NODE_IP, hostNetwork=True),
        {**pod("done", "10.244.0.30"), "status": {"phase": "Succeeded", "podIP": "10.244.0.30"}},
    ]
    ruleset = compile_(policy("p", {}), pods=pods)
    assert [p.name for p in ruleset.pods] == ["client", "server", "other"]


def test_host_network_pods_are_not_peers() -> None:
    pods = [*PODS, pod("host", NODE_IP, hostNetwork=True, labels={"app": "client"})]
    ruleset = compile_(
        policy("p", app("server"), ingress=[{"from": [{"podSelector": app("client")}]}]), pods=pods
    )
    assert not ruleset.allows(NODE_IP, "10.244.0.6", "tcp", 80)


def test_an_address_claimed_twice_belongs_to_this_nodes_live_pod() -> None:
    old = pod("old", "10.244.0.5", labels={"app": "friend"})
    old["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    remote = pod("remote", "10.244.0.5", node="kwok-0", labels={"app": "friend"})
    pods = [old, remote, pod("client", "10.244.0.5"), pod("server", "10.244.0.6")]
    ruleset = compile_(
        policy("p", app("server"), ingress=[{"from": [{"podSelector": app("friend")}]}]), pods=pods
    )
    assert [p.name for p in ruleset.pods] == ["client", "server"]
    assert not ruleset.allows("10.244.0.5", "10.244.0.6", "tcp", 80)


def test_an_address_no_pod_owns_is_dropped_in_the_pod_cidr() -> None:
    ruleset = compile_()
    assert not ruleset.allows("10.244.0.99", "10.244.0.6", "tcp", 80)
    assert not ruleset.allows("10.244.0.5", "10.244.0.99", "tcp", 80)
    assert ruleset.allows("10.244.0.5", "10.244.1.99", "tcp", 80), "outside this node's CIDR"
    open_ = netpol.compile_ruleset([], PODS, NAMESPACES, netpol.Options("real-0", pod_cidr=None))
    assert open_.allows("10.244.0.99", "10.244.0.6", "tcp", 80)
    assert "10.244.0.0/24" not in open_.text


def test_broadcast_and_multicast_from_a_pod_are_dropped_even_unisolated() -> None:
    ruleset = compile_()
    assert not ruleset.allows("10.244.0.5", "255.255.255.255", "udp", 5000)
    assert not ruleset.allows("10.244.0.5", "224.0.0.251", "udp", 5353)
    assert "ip saddr @pod-addresses ip daddr { 224.0.0.0/4, 255.255.255.255 } counter drop" in (
        ruleset.text
    )


# -- The operator's policies ---------------------------------------------------------------


AGENT_IP, SANDBOX_IP, OTHER_AGENT_IP = "10.244.0.10", "10.244.0.11", "10.244.0.12"
#: Another trial of the same run, an agent pod of another run, a pod of another namespace
#: wearing the run's agent labels, and the egress proxy's pod.
PEER_AGENT_IP, PEER_SANDBOX_IP = "10.244.0.13", "10.244.0.14"
OTHER_RUN_IP, OTHER_NAMESPACE_IP, PROXY_IP = "10.244.0.15", "10.244.0.16", "10.244.0.17"


def _placed(manifest: dict[str, Any], address: str) -> dict[str, Any]:
    manifest["spec"]["nodeName"] = "real-0"
    manifest["status"] = {"phase": "Running", "podIP": address}
    return manifest


def operator_ruleset(a: objects.Attempt) -> netpol.Ruleset:
    """The run's policies (`objects.run_objects`) over the attempt's two pods, the agent pod of
    its next attempt, a second trial of the same run, an agent pod of another run, a pod in
    another namespace with the run's agent labels, and the egress proxy's pod."""
    r = objects.RunObjects(a.namespace, a.spec.run, "run-uid", a.run, [a.task], a.settings)
    peer = attempt(
        task_obj=a.task, run=a.run, settings=a.settings, trial="demo-toy-gpt-s1-5e6f7a8b"
    )
    other_run = objects.agent_pod(attempt(run=a.run, trial="other-toy-gpt-s0-9a8b7c6d"))
    other_run["metadata"]["labels"][labels.RUN] = "other"
    elsewhere = objects.agent_pod(a)
    elsewhere["metadata"]["namespace"] = "elsewhere"
    proxy = pod("proxy", PROXY_IP, namespace="kubegym-system")
    proxy["metadata"]["labels"] = {"app.kubernetes.io/component": "egress-proxy"}
    pods = [
        _placed(objects.agent_pod(a), AGENT_IP),
        _placed(objects.sandbox_pod(a), SANDBOX_IP),
        _placed(objects.agent_pod(attempt(number=a.attempt + 1)), OTHER_AGENT_IP),
        _placed(objects.agent_pod(peer), PEER_AGENT_IP),
        _placed(objects.sandbox_pod(peer), PEER_SANDBOX_IP),
        _placed(other_run, OTHER_RUN_IP),
        _placed(elsewhere, OTHER_NAMESPACE_IP),
        proxy,
    ]
    policies = [m for m in objects.run_objects(r) if m["kind"] == "NetworkPolicy"]
    namespaces = [{"metadata": {"name": n}} for n in (a.namespace, "elsewhere", "kubegym-system")]
    return netpol.compile_ruleset(policies, pods, namespaces, OPTIONS)


def test_the_runs_policies_admit_the_runs_agents_to_its_sandboxes_only() -> None:
    a = attempt()
    ruleset = operator_ruleset(a)
    for port in (a.settings.sandbox_port, a.settings.evaluator_port):
        assert ruleset.allows(AGENT_IP, SANDBOX_IP, "tcp", port)
        # per run: another trial's (or attempt's) agent connects too; the attempt's
        # tokens keep it out (tests/unit/operator/test_run_network_trust.py)
        assert ruleset.allows(PEER_AGENT_IP, SANDBOX_IP, "tcp", port)
        assert ruleset.allows(OTHER_AGENT_IP, SANDBOX_IP, "tcp", port)
        assert ruleset.allows(AGENT_IP, PEER_SANDBOX_IP, "tcp", port)
        # never a pod of another run, nor one of another namespace wearing the labels
        assert not ruleset.allows(OTHER_RUN_IP, SANDBOX_IP, "tcp", port)
        assert not ruleset.allows(OTHER_NAMESPACE_IP, SANDBOX_IP, "tcp", port)
        assert not ruleset.allows(PEER_SANDBOX_IP, SANDBOX_IP, "tcp", port), "nor a sandbox"
    assert not ruleset.allows(AGENT_IP, SANDBOX_IP, "tcp", 22)
    assert not ruleset.allows(AGENT_IP, SANDBOX_IP, "udp", a.settings.sandbox_port)
    assert not ruleset.allows(SANDBOX_IP, AGENT_IP, "tcp", 80), "no ingress to the agent"
    assert not ruleset.allows(OTHER_RUN_IP, AGENT_IP, "tcp", 80)


def test_the_operators_policies_deny_the_sandbox_any_egress() -> None:
    ruleset = operator_ruleset(attempt())
    for destination, proto, port in [
        (NODE_IP, "udp", 53),
        (NODE_IP, "tcp", 6443),
        (AGENT_IP, "tcp", 80),
        (PEER_SANDBOX_IP, "tcp", 8080),
        (PUBLIC, "tcp", 443),
        (PROXY_IP, "tcp", 3128),
        ("10.96.0.1", "tcp", 443),
    ]:
        assert not ruleset.allows(SANDBOX_IP, destination, proto, port), destination


def test_the_operators_agent_reaches_dns_and_public_https_only() -> None:
    ruleset = operator_ruleset(attempt())
    assert ruleset.allows(AGENT_IP, NODE_IP, "udp", 53)
    assert ruleset.allows(AGENT_IP, NODE_IP, "tcp", 53)
    assert ruleset.allows(AGENT_IP, PUBLIC, "tcp", 443)
    assert not ruleset.allows(AGENT_IP, PUBLIC, "tcp", 80)
    assert not ruleset.allows(AGENT_IP, NODE_IP, "tcp", 443), "the node is a private address"
    assert not ruleset.allows(AGENT_IP, "10.96.0.1", "tcp", 443), "nor is the apiserver's Service"


def test_a_task_with_network_egress_opens_the_sandboxs_egress() -> None:
    ruleset = operator_ruleset(attempt(task_obj=task(network="egress")))
    assert ruleset.allows(SANDBOX_IP, PUBLIC, "tcp", 80)
    assert ruleset.allows(PEER_SANDBOX_IP, PUBLIC, "tcp", 80), "the same task's other trial"
    assert not ruleset.allows(OTHER_RUN_IP, SANDBOX_IP, "tcp", 8080)


def test_a_task_with_egress_hosts_reaches_the_proxys_port_only() -> None:
    ruleset = operator_ruleset(
        attempt(task_obj=task(egress={"hosts": ["pypi.org"]}), settings=PROXY_SETTINGS)
    )
    assert ruleset.allows(SANDBOX_IP, PROXY_IP, "tcp", 3128)
    for destination, proto, port in [
        (PROXY_IP, "tcp", 3129),
        (NODE_IP, "udp", 53),
        (PUBLIC, "tcp", 443),
        (AGENT_IP, "tcp", 80),
    ]:
        assert not ruleset.allows(SANDBOX_IP, destination, proto, port), (destination, port)


def test_an_external_agent_images_declared_egress() -> None:
    run = run_spec(
        agents=[
            {
                "name": "ext",
                "image": "registry.example/their-agent:2",
                "egress": [{"cidr": "203.0.113.0/24", "ports": [8443]}],
            }
        ]
    )
    ruleset = operator_ruleset(attempt(run=run))
    assert ruleset.allows(AGENT_IP, "203.0.113.7", "tcp", 8443)
    assert not ruleset.allows(AGENT_IP, "203.0.113.7", "tcp", 443)
    assert not ruleset.allows(AGENT_IP, PUBLIC, "tcp", 443)


# -- The nft text --------------------------------------------------------------------------


def test_the_text_replaces_both_tables_in_one_transaction() -> None:
    text = compile_(policy("p", app("client"), policyTypes=["Egress"])).text
    first = text.splitlines()[:4]
    assert first == [
        "add table inet kubegym-netpol",
        "delete table inet kubegym-netpol",
        "add table bridge kubegym-netpol",
        "delete table bridge kubegym-netpol",
    ]
    assert "type filter hook prerouting priority filter; policy accept;" in text
    assert "elements = { 10.244.0.5 : jump pod0-egress }" in text
    assert 'iifname "veth*" ether type != { ip, arp } counter drop' in text


def test_allow_rules_return_for_egress_and_accept_for_ingress() -> None:
    text = compile_(
        policy(
            "e",
            app("client"),
            egress=[{"to": [{"podSelector": app("server")}], "ports": [{"port": 80}]}],
        ),
        policy(
            "i",
            app("server"),
            ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
        ),
    ).text
    assert 'ip daddr { 10.244.0.6 } meta l4proto tcp th dport { 80 } return comment "a/e"' in text
    assert 'ip saddr { 10.0.0.0/8 } ip saddr != { 10.1.0.0/16 } accept comment "a/i"' in text


def test_ranges_merge_and_the_text_is_deterministic() -> None:
    ports = [{"port": 90, "endPort": 100}, {"port": 80, "endPort": 95}, {"port": 101}, {"port": 7}]
    first = compile_(policy("p", app("client"), egress=[{"ports": ports}]))
    assert "th dport { 7, 80-101 }" in first.text
    again = netpol.compile_ruleset(
        [policy("p", app("client"), egress=[{"ports": ports}])],
        list(reversed(PODS)),
        NAMESPACES,
        OPTIONS,
    )
    assert again.text == first.text


def test_names_that_reach_the_text_are_sanitised() -> None:
    ruleset = compile_(
        policy('p" flush ruleset "', app("client"), policyTypes=["Egress"], egress=[{}])
    )
    assert 'return comment "a/p__flush_ruleset__"' in ruleset.text


def test_no_bridge_ports_means_no_bridge_table() -> None:
    ruleset = netpol.compile_ruleset(
        [], PODS, NAMESPACES, netpol.Options("real-0", bridge_ports=None)
    )
    assert "bridge" not in ruleset.text


# -- Connections and the loop --------------------------------------------------------------


def test_connections_are_forgotten_only_for_pods_whose_rules_changed() -> None:
    before = compile_(policy("p", app("client"), policyTypes=["Egress"]))
    assert netpol.forget_connections(None, before, conntrack=("true",)) == ["-D -s 10.244.0.5"]
    assert netpol.forget_connections(before, before, conntrack=("true",)) == []
    after = compile_(policy("p", app("client"), policyTypes=["Ingress", "Egress"], egress=[{}]))
    assert netpol.forget_connections(before, after, conntrack=("true",)) == [
        "-D -s 10.244.0.5",
        "-D --reply-src 10.244.0.5",
    ]


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


def test_the_watch_keeps_the_objects_and_signals_changes() -> None:
    stop, changed = threading.Event(), threading.Event()
    first = pod("client", "10.244.0.5")
    first["metadata"]["resourceVersion"] = "1"

    def list_call(**_: Any) -> _Response:
        return _Response({"metadata": {"resourceVersion": "1"}, "items": [first]})

    def stream(*_: Any, resource_version: str, **__: Any) -> Iterator[dict[str, Any]]:
        assert resource_version == "1"
        added = pod("server", "10.244.0.6")
        added["metadata"]["resourceVersion"] = "2"
        yield {"type": "ADDED", "object": added}
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}}
        gone = {**first, "metadata": {**first["metadata"], "resourceVersion": "4"}}
        yield {"type": "DELETED", "object": gone}
        stop.set()

    watched = controller.Watched("pods", list_call, stream)
    watched.run(stop, changed)
    assert watched.synced and changed.is_set()
    assert [p["metadata"]["name"] for p in watched.snapshot()] == ["server"]


def test_the_command_line_builds_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(kubeconfig: str, options: netpol.Options, *, once: bool, keep: bool) -> None:
        seen.update(kubeconfig=kubeconfig, options=options, once=once, keep=keep)

    monkeypatch.setattr(controller, "run", fake_run)
    args = ["--kubeconfig", "k.yaml", "--node", "real-0", "--once", "--pod-cidr", ""]
    assert controller.main(args) == 0
    assert seen == {
        "kubeconfig": "k.yaml",
        "options": netpol.Options("real-0", pod_cidr=None),
        "once": True,
        "keep": False,
    }


def by_name(ruleset: netpol.Ruleset, name: str) -> netpol.PodRules:
    return next(p for p in ruleset.pods if p.name == name)


def test_run_fails_closed_first_and_removes_its_tables_on_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[netpol.Ruleset] = []
    removed: list[str] = []

    def fake_apply(ruleset: netpol.Ruleset, **_: Any) -> None:
        loaded.append(ruleset)
        if ruleset.pods:  # the first real ruleset: now stop, as realnode's `stop` does
            os.kill(os.getpid(), signal.SIGTERM)

    def listing(items: list[dict[str, Any]]) -> Any:
        return lambda **_: _Response({"metadata": {"resourceVersion": "1"}, "items": items})

    def idle_stream(*_: Any, **__: Any) -> Iterator[dict[str, Any]]:
        time.sleep(0.05)
        return iter(())

    kinds = [
        controller.Watched("networkpolicies", listing([policy("p", app("client"))]), idle_stream),
        controller.Watched("pods", listing(PODS), idle_stream),
        controller.Watched("namespaces", listing(NAMESPACES), idle_stream),
    ]
    monkeypatch.setattr(controller, "connect", lambda _: kinds)
    monkeypatch.setattr(kernel, "apply", fake_apply)
    monkeypatch.setattr(kernel, "remove", removed.append)
    monkeypatch.setattr(kernel, "ensure_bridge_netfilter", lambda: None)
    monkeypatch.setattr(kernel, "forget_connections", lambda *_, **__: [])
    monkeypatch.setattr("shutil.which", lambda _: "/usr/sbin/nft")
    before = signal.getsignal(signal.SIGTERM)
    netpol.run("k.yaml", OPTIONS)
    assert [len(r.pods) for r in loaded] == [0, 3], "the pod CIDR is dropped until synced"
    assert "ip saddr 10.244.0.0/24 ip saddr != @pod-addresses counter drop" in loaded[0].text
    assert removed == ["kubegym-netpol"]
    assert signal.getsignal(signal.SIGTERM) == before
