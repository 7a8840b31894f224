"""The kernel's side of NetworkPolicy: loading and removing the nft tables, forgetting the
conntrack entries new rules must judge, and making bridged traffic pass the IPv4 hooks.

Called by the controller (`kubegym.devcluster.netpol.controller.run`), by the real node's
teardown (`remove`) and by the kernel tests.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kubegym import errors
from kubegym.devcluster.netpol import compiler, rules

#: Whether bridged IPv4 passes iptables' (and nftables') IPv4 hooks: br_netfilter's switch.
BR_NETFILTER = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def apply(ruleset: compiler.Ruleset, *, nft: Sequence[str] = ("nft",)) -> None:
    """Load `ruleset`, replacing its tables atomically.

    Args:
        ruleset: what `compile_ruleset` made.
        nft: the nft command (tests run it in a network namespace).

    Raises:
        errors.InfraError: nft refused the script; the tables loaded before stay.
    """
    _nft(ruleset.text, nft)


def remove(table: str = rules.TABLE, *, nft: Sequence[str] = ("nft",)) -> None:
    """Delete the tables (inet and bridge) named `table`; absent ones are fine."""
    _nft(
        "".join(f"add table {f} {table}\ndelete table {f} {table}\n" for f in ("inet", "bridge")),
        nft,
    )


def _nft(script: str, nft: Sequence[str]) -> None:
    result = subprocess.run([*nft, "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        raise errors.InfraError("NetworkPolicyNotLoaded", f"nft -f: {result.stderr[-800:]}")


def forget_connections(
    before: compiler.Ruleset | None,
    after: compiler.Ruleset,
    *,
    conntrack: Sequence[str] = ("conntrack",),
) -> list[str]:
    """Delete the conntrack entries of pods whose rules changed, so `after` judges them.

    An allowed connection survives: conntrack picks it up again from its next packet,
    judged in that packet's direction (so a flow the pod opened may come back as one its
    peer opened, if the pod admits that peer). One that `after` forbids stops.

    Returns:
        The ``conntrack`` arguments run; none when conntrack is not installed.
    """
    old = {(p.namespace, p.name, p.address): p for p in before.pods} if before else {}
    runs: list[str] = []
    for pod in after.pods:
        prev = old.get((pod.namespace, pod.name, pod.address))
        if pod.egress is not None and (prev is None or prev.egress != pod.egress):
            runs.append(f"-D -s {pod.address}")
        if pod.ingress is not None and (prev is None or prev.ingress != pod.ingress):
            runs.append(f"-D --reply-src {pod.address}")
    if shutil.which(conntrack[0]) is None:
        return []
    for args in runs:  # exit 1 means there was nothing to delete
        subprocess.run([*conntrack, *args.split()], capture_output=True, check=False)
    return runs


def ensure_bridge_netfilter() -> None:
    """Make bridged pod-to-pod packets pass the IPv4 hooks (br_netfilter).

    Raises:
        errors.InfraError: the kernel has no br_netfilter.
    """
    if not BR_NETFILTER.exists():
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, check=False)
    if not BR_NETFILTER.exists():
        raise errors.InfraError(
            "NetworkPolicyNotLoaded", "no br_netfilter: pod-to-pod traffic would go unfiltered"
        )
    if BR_NETFILTER.read_text().strip() != "1":
        BR_NETFILTER.write_text("1")
