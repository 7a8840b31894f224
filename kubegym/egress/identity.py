"""Who is asking: the egress proxy's pluggable client identification.

The proxy (`kubegym.egress.proxy.EgressProxy`) calls an `Identify` for every request,
with the `Listener` the connection came in on and the request's headers, before it looks
at the host. It returns the trial's `Identity` (its name and allowlist) or raises
`Refused`. Two kinds exist:

- one listener per trial (the local runtime: a Unix socket bound into that trial's jail
  alone): the listener *is* the identity, `fixed` returns it whatever the headers say;
- one shared listener for many trials (a cluster's egress Service): the identity comes
  from a credential the client sends, say ``Proxy-Authorization``, which the
  implementation verifies and the proxy never forwards upstream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from kubegym.egress import allowlist as allowlist_mod


@dataclass(frozen=True)
class Listener:
    """Where a connection came in."""

    name: str
    """The listener's name, given when it was opened (`EgressProxy.serve_unix`/`serve_tcp`)."""

    address: str
    """What it listens on: a Unix socket's path, or ``host:port``."""

    peer: str
    """The client's address (``host:port`` for TCP; empty for a Unix socket)."""


@dataclass(frozen=True)
class Identity:
    """The trial a request belongs to, and what it may reach."""

    trial: str
    """The trial's id; every record of its requests carries it."""

    allowlist: allowlist_mod.Allowlist
    """Its allowed hosts."""


class Refused(Exception):
    """The client is not who it must be: the proxy answers ``status`` with ``message``.

    Args:
        message: why, in words for the client (never echo a secret).
        status: 407 (no or bad credentials: the client may retry with some) or 403.
    """

    def __init__(self, message: str, *, status: int = 407) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


Headers = Mapping[str, str]
"""A request's headers, names in lower case (a repeated header is refused before this)."""

Identify = Callable[[Listener, Headers], "Identity | Awaitable[Identity]"]
"""Identifies the client of one request, or raises `Refused`; may be a coroutine function."""


def fixed(identity: Identity) -> Identify:
    """The identification of a listener that serves one trial only: always ``identity``."""

    def identify(listener: Listener, headers: Headers) -> Identity:
        del listener, headers  # the socket reaches one jail: nothing a client says matters
        return identity

    return identify
