"""The nft script of a ruleset: both tables, replaced in one ``nft -f`` transaction.

Table ``inet``, chain ``prerouting`` (hook prerouting, priority filter): accepts loopback
and established flows, drops pods' broadcast and multicast, jumps by source address to a
pod's egress chain and by destination to its ingress chain, and drops pod-CIDR addresses
no pod owns. Table ``bridge`` lets only IPv4 and ARP in from the pods' bridge ports.
Called by `kubegym.devcluster.netpol.compiler.Ruleset.text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from kubegym.devcluster.netpol import rules


def render(options: rules.Options, pods: Sequence[rules.PodRules]) -> str:
    """The ``nft -f`` script that programs ``pods`` as ``options`` say."""
    families = ["inet", "bridge"] if options.bridge_ports else ["inet"]
    out = [
        f"{verb} table {family} {options.table}"
        for family in families
        for verb in ("add", "delete")
    ]
    out.append(f"table inet {options.table} {{")
    chains, maps = _pod_chains(pods)
    out += chains
    out += _lookups(pods, maps)
    out += _prerouting(options.pod_cidr)
    out.append("}")
    if options.bridge_ports:
        out += [
            f"table bridge {options.table} {{",
            "\tchain prerouting {",
            "\t\ttype filter hook prerouting priority filter; policy accept;",
            f"\t\tiifname {_quote(options.bridge_ports)} ether type != {{ ip, arp }} counter drop",
            "\t}",
            "}",
        ]
    return "\n".join(out) + "\n"


def _pod_chains(pods: Sequence[rules.PodRules]) -> tuple[list[str], dict[str, list[str]]]:
    """Each isolated pod's egress and ingress chains, and the map elements that jump there."""
    out: list[str] = []
    maps: dict[str, list[str]] = {"egress": [], "ingress": []}
    for i, pod in enumerate(pods):
        for kind, matches, field, verdict in (
            ("egress", pod.egress, "daddr", "return"),
            ("ingress", pod.ingress, "saddr", "accept"),
        ):
            if matches is None:
                continue
            chain = f"pod{i}-{kind}"
            maps[kind].append(f"{pod.address} : jump {chain}")
            out += [f"\tchain {chain} {{", f"\t\tcomment {_quote(f'{pod.namespace}/{pod.name}')}"]
            out += [f"\t\t{_rule(m, field, verdict)}" for m in matches]
            out += ["\t\tcounter drop", "\t}"]
    return out, maps


def _lookups(pods: Sequence[rules.PodRules], maps: dict[str, list[str]]) -> list[str]:
    """The set of programmed pods' addresses and the two address → chain maps."""
    addresses = ", ".join(str(p.address) for p in pods)
    out = ["\tset pod-addresses {", "\t\ttype ipv4_addr"]
    out += [f"\t\telements = {{ {addresses} }}"] if addresses else []
    out.append("\t}")
    for kind, elements in maps.items():
        out += [f"\tmap {kind}-chains {{", "\t\ttype ipv4_addr : verdict"]
        out += [f"\t\telements = {{ {', '.join(elements)} }}"] if elements else []
        out.append("\t}")
    return out


def _prerouting(cidr: str | None) -> list[str]:
    """The base chain every packet passes once (see the module docstring)."""
    out = [
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority filter; policy accept;",
        '\t\tiifname "lo" accept',
        "\t\tct state established,related accept",
        f"\t\tip saddr @pod-addresses ip daddr {_set(rules.FLOODED)} counter drop",
        "\t\tip saddr vmap @egress-chains",
    ]
    out += [f"\t\tip saddr {cidr} ip saddr != @pod-addresses counter drop"] if cidr else []
    out.append("\t\tip daddr vmap @ingress-chains")
    out += (
        [f"\t\tip daddr {cidr} ip daddr != @pod-addresses fib daddr type != local counter drop"]
        if cidr
        else []
    )
    out.append("\t}")
    return out


def _rule(match: rules.Match, field: str, verdict: str) -> str:
    parts = []
    if match.addresses is not None:
        parts.append(f"ip {field} {_set(match.addresses)}")
    if match.excepted:
        parts.append(f"ip {field} != {_set(match.excepted)}")
    if match.protocol is not None:
        parts.append(f"meta l4proto {match.protocol}")
        if match.ports is not None:
            ports = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in match.ports)
            parts.append(f"th dport {{ {ports} }}")
    return " ".join([*parts, verdict, "comment", _quote(match.source)])


def _set(networks: Iterable[rules.Network]) -> str:
    items = [str(n.network_address) if n.prefixlen == 32 else str(n) for n in networks]
    return "{ " + ", ".join(items) + " }"


def _quote(text: str) -> str:
    return '"' + re.sub(r"[^A-Za-z0-9._/*:-]", "_", text)[:120] + '"'
