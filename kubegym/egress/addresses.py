"""Where a listed name may lead: the proxy resolves names itself and keeps only addresses a
sandbox may reach.

A listed public name must resolve to public addresses: one that resolves to a loopback,
private, link-local or otherwise special address (a rebinding trick, or a name pointed at
the cluster's or the host's own services) is refused. Only ``localhost``, and only when the
allowlist names it, reaches loopback, and then nothing else. Which address the proxy
connects to is its own choice from its own lookup; the client never names one.

Used by `kubegym.egress.proxy`. Standard library only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from kubegym.egress import allowlist as allowlist_mod

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves ``(name, port)`` to addresses, in the order to try them."""


async def system_resolver(name: str, port: int) -> list[str]:
    """The host's resolver (``getaddrinfo``), addresses once each in its order.

    Raises:
        OSError: the name does not resolve.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _plain(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return parsed


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def reachable(name: str, addresses: list[str], also: Sequence[Network] = ()) -> list[str]:
    """The addresses of ``name`` the proxy may connect to (``name`` already allowed).

    ``localhost``: loopback addresses only. Any other name: global unicast addresses only,
    and those in ``also`` (networks the proxy's operator trusts, never the client's say).
    """
    kept = []
    for address in addresses:
        try:
            parsed = _plain(address)
        except ValueError:
            continue
        if name == allowlist_mod.LOCALHOST:
            if parsed.is_loopback:
                kept.append(address)
        elif (parsed.is_global and not parsed.is_multicast) or any(parsed in n for n in also):
            kept.append(address)
    return kept
