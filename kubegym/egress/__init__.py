"""The egress allowlist: a forwarding HTTP proxy that lets a sandbox reach listed hosts by
name, and records every request.

A sandbox has no network (``Task.spec.network: none``). When its trial's allowlist (the
Task's ``spec.egress.hosts`` and the run's ``spec.sandboxEgress.hosts`` together) is not
empty, the sandbox's HTTP(S) traffic goes through an `EgressProxy`, which lets through only

- ``CONNECT name:443`` to a listed name, as a TLS tunnel it never decrypts (the
  ClientHello must carry TLS and ask for that same name), and
- plain HTTP requests in absolute form to port 80 of a listed name (``Host`` must agree);

it resolves names itself (public addresses only; ``localhost`` reaches loopback only when
listed), and refuses IP literals, other ports, unlisted names, malformed or oversized
requests with a 4xx whose body says why. Every request, let through or refused, is an
`EgressRecord` (time, trial, method, host, port, allowed, reason, bytes each way,
seconds, the address connected to) handed to a sink.

Using it (the API a runtime builds on):

- `Allowlist` (``allowlist``): ``Allowlist.union(task_hosts, run_hosts)``; ``allows(name)``.
- `Identify` (``identity``): ``identify(listener, headers) -> Identity`` (or an awaitable
  of one), raising `Refused` (407/403) for a client it does not know. `Listener` says
  which listener (its ``name`` as given to ``serve_*``, its address, the peer) the request
  came in on; ``headers`` are the request's, names lower-cased (``proxy-authorization``…).
  The proxy never forwards ``Proxy-Authorization`` upstream. `fixed` is the identity of a
  listener that serves one trial only.
- `EgressProxy(identify, sink, settings)` (``proxy``): ``await serve_unix(path, name)``,
  ``await serve_tcp(host, port, name)`` (several listeners may share one proxy), ``await
  close()``. ``sink`` is any ``Callable[[EgressRecord], None]``, called on the proxy's
  loop: `JsonlLog` (``records``) appends to a JSON-lines file and counts per host.
  `ProxySettings` holds sizes, timeouts, the connection cap, and two test-only options
  (``test_ports``, ``resolver``).
- `ProxyThread` (``background``): the proxy on a thread's own loop, for sync callers.
- `LocalEgress` (``local``): the local runtime's per-trial proxy on a Unix socket that only
  its jail sees (the sandbox reaches it through an in-jail relay,
  `kubegym.sandbox.relay`).
- `summarise` / `JsonlLog.summary`: the trial's `kubegym.api.results.EgressSummary`.

Layer: beside `kubegym.sandbox` (independent of it); imports `kubegym.api` only.
"""

from kubegym.egress.addresses import Resolver
from kubegym.egress.allowlist import Allowlist
from kubegym.egress.background import ProxyThread
from kubegym.egress.identity import Identify, Identity, Listener, Refused, fixed
from kubegym.egress.local import LocalEgress
from kubegym.egress.proxy import EgressProxy, ProxySettings
from kubegym.egress.records import EGRESS_JSONL, EgressRecord, JsonlLog, Sink, summarise

__all__ = [
    "EGRESS_JSONL",
    "Allowlist",
    "EgressProxy",
    "EgressRecord",
    "Identify",
    "Identity",
    "JsonlLog",
    "Listener",
    "LocalEgress",
    "ProxySettings",
    "ProxyThread",
    "Refused",
    "Resolver",
    "Sink",
    "fixed",
    "summarise",
]
