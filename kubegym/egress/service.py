"""The egress proxy on a cluster: one shared TCP proxy per operator installation.

``python -m kubegym.egress.service`` runs in the chart's egress-proxy Deployment (the
kubegym image), in the release's namespace, behind a Service that sandboxes of every
namespace the operator watches reach on one port (the proxy, `kubegym.egress.proxy`).
Which trial a request belongs to comes only from its ``Proxy-Authorization`` credentials,
minted by the operator and signed with the installation's key (`kubegym.egress.credentials`):
`GrantIdentify` verifies them, refuses those of a closed trial, and binds each attempt's
credentials to the first address that used them, so credentials that leak out of one
sandbox do not work from another.

Each attempt's records are kept here (`RecordBook`) until the operator takes them when the
trial ends: a second port (`RecordsServer`, reachable from operator pods only, by the
proxy's NetworkPolicy, and behind a token derived from the key) serves
``GET /v1/records/<namespace>/<trial>/<attempt>`` and, on ``DELETE``, closes the attempt
(its credentials are refused from then on) and forgets its records. Records live in
memory: a proxy restart loses the records of running trials, which the operator's summary
then shows as incomplete (`RecordBook.started`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubegym.egress import addresses, allowlist, credentials, identity, proxy, records, wire

#: Records kept per attempt, and over every attempt: more are counted as dropped (the
#: trial's counts are then marked incomplete), so sandboxes flooding the shared proxy with
#: requests cannot grow its memory (a record is a few hundred bytes) past its limit.
MAX_RECORDS: Final = 5_000
MAX_TOTAL_RECORDS: Final = 250_000
#: How long a closed attempt's credentials stay refused, and an uncollected attempt's
#: records stay kept past its credentials' expiry (the operator was away that long).
KEEP_SECONDS: Final = 7 * 24 * 3600
#: Attempts known at once; the oldest expired ones go first when there are more.
MAX_CLIENTS: Final = 100_000
#: Most bytes of a request head: its Proxy-Authorization carries the trial's allowlist.
HEAD_BYTES: Final = 98_304


@dataclass
class _Client:
    """One attempt as the proxy knows it."""

    expires: int
    address: str = ""
    records: list[records.EgressRecord] = field(default_factory=list)
    dropped: int = 0


class RecordBook:
    """Every attempt's records, its bound address, and the attempts closed by the operator.

    A sink for the proxy (`__call__`) and the store behind `RecordsServer`. Single-threaded:
    both run on the proxy's event loop.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        max_records: int = MAX_RECORDS,
        max_total: int = MAX_TOTAL_RECORDS,
    ) -> None:
        self.clock = clock
        self.max_records = max_records
        self.max_total = max_total
        self.started = dt.datetime.now(dt.UTC).isoformat()
        self._clients: dict[str, _Client] = {}
        self._closed: dict[str, float] = {}
        self._total = 0
        self.unidentified = 0

    def admit(self, grant: credentials.Grant, address: str) -> None:
        """Let ``address`` act as the grant's attempt, unless closed or bound elsewhere.

        Raises:
            identity.Refused: the attempt was closed, or another address used it first.
        """
        key = grant.client
        if key in self._closed:
            raise identity.Refused(f"the credentials of {key} are closed: its trial has ended")
        client = self._clients.get(key)
        if client is None:
            self._prune()
            client = self._clients[key] = _Client(expires=grant.expires, address=address)
        if client.address != address:
            raise identity.Refused(
                f"the credentials of {key} belong to another sandbox", status=403
            )

    def __call__(self, record: records.EgressRecord) -> None:
        client = self._clients.get(record.trial)
        if client is None:
            self.unidentified += 1
            print(json.dumps({"event": "egress_unidentified", **record.to_json()}), flush=True)
            return
        if self._total >= self.max_total:
            self._prune()
        if len(client.records) >= self.max_records or self._total >= self.max_total:
            client.dropped += 1
        else:
            client.records.append(record)
            self._total += 1

    def take(self, key: str) -> dict[str, Any]:
        """The attempt's records (none when it never used the proxy), and since when kept."""
        client = self._clients.get(key)
        return {
            "client": key,
            "since": self.started,
            "records": [r.to_json() for r in client.records] if client else [],
            "dropped": client.dropped if client else 0,
        }

    def close(self, key: str) -> None:
        """Refuse the attempt's credentials from now on and forget its records."""
        client = self._clients.pop(key, None)
        if client is not None:
            self._total -= len(client.records)
        self._closed[key] = self.clock() + KEEP_SECONDS
        self._prune()

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, until in self._closed.items() if until <= now]:
            del self._closed[key]
        if len(self._clients) >= MAX_CLIENTS or self._total >= self.max_total:
            # Attempts the operator never collected, long past their credentials' expiry.
            for key in [k for k, c in self._clients.items() if c.expires + KEEP_SECONDS <= now]:
                self._total -= len(self._clients.pop(key).records)


class GrantIdentify:
    """The shared listener's identification: a request's signed grant is its identity."""

    def __init__(self, key: bytes, book: RecordBook) -> None:
        self.key = credentials.check_key(key)
        self.book = book

    def __call__(self, listener: identity.Listener, headers: identity.Headers) -> identity.Identity:
        header = headers.get("proxy-authorization")
        if header is None:
            raise identity.Refused("proxy credentials are required (Proxy-Authorization)")
        try:
            user, password = credentials.parse_basic(header)
            grant = credentials.verify(self.key, user, password, self.book.clock())
        except credentials.CredentialsError as exc:
            raise identity.Refused(str(exc)) from None
        address = listener.peer.rpartition(":")[0]
        self.book.admit(grant, address)
        return identity.Identity(grant.client, allowlist.Allowlist.union(grant.hosts))


class RecordsServer:
    """The operator's endpoint: one request per connection, a bearer token, JSON answers."""

    def __init__(self, key: bytes, book: RecordBook) -> None:
        self.token = credentials.admin_token(credentials.check_key(key))
        self.book = book

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._serve, host=host, port=port, limit=16384)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                data = await reader.readuntil(b"\r\n\r\n")
            status, body = self.answer(wire.parse_head(data[:-4]))
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
            status, body = 400, {"error": "no complete request head"}
        except wire.BadRequest as exc:
            status, body = 400, {"error": exc.message}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + payload)
            await writer.drain()
        writer.close()

    def answer(self, head: wire.RequestHead) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request."""
        if head.method == "GET" and head.target == "/healthz":
            return 200, {"ok": True}
        given = head.header("authorization") or ""
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return 401, {"error": "a bearer token is required"}
        parts = head.target.split("/")
        if len(parts) != 6 or parts[:3] != ["", "v1", "records"] or not parts[5].isdigit():
            return 404, {"error": "GET or DELETE /v1/records/<namespace>/<trial>/<attempt>"}
        key = credentials.client_key(parts[3], parts[4], int(parts[5]))
        if head.method == "GET":
            return 200, self.book.take(key)
        if head.method == "DELETE":
            self.book.close(key)
            return 200, {"client": key, "closed": True}
        return 405, {"error": f"method {head.method}"}


class Service:
    """The proxy on its shared listener and the records endpoint, over one `RecordBook`.

    Args:
        key: the installation's signing key.
        trusted_networks: non-public networks a listed name may resolve to (the chart's
            ``egressProxy.trustedNetworks``: an in-cluster mirror's Service network).
        test_ports: FOR TESTS ONLY: ports allowed besides 80 and 443 (`proxy.ProxySettings`).
        clock: the time now, for expiries (a parameter for tests).
    """

    def __init__(
        self,
        key: bytes,
        *,
        trusted_networks: Sequence[addresses.Network] = (),
        test_ports: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = RecordBook(clock)
        settings = proxy.ProxySettings(
            # Room for the credentials of the longest allowlist the API allows (128 names).
            head_bytes=HEAD_BYTES,
            trusted_networks=tuple(trusted_networks),
            test_ports=test_ports,
        )
        self.proxy = proxy.EgressProxy(GrantIdentify(key, self.book), self.book, settings)
        self.records = RecordsServer(key, self.book)
        self._records_server: asyncio.Server | None = None

    async def start(self, listen: tuple[str, int], records: tuple[str, int]) -> tuple[int, int]:
        """Listen; the proxy's and the records endpoint's ports (0 picks a free one)."""
        shared = await self.proxy.serve_tcp(*listen, name="shared")
        self._records_server = await self.records.serve(*records)
        return _port(shared), _port(self._records_server)

    async def close(self) -> None:
        if self._records_server is not None:
            self._records_server.close()
        await self.proxy.close()


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def run(
    key_file: Path,
    listen: tuple[str, int],
    records: tuple[str, int],
    trusted_networks: Sequence[addresses.Network],
    stop: asyncio.Event,
) -> None:
    """Serve the proxy and the records endpoint until ``stop`` is set."""
    service = Service(key_file.read_bytes().strip(), trusted_networks=trusted_networks)
    ports = await service.start(listen, records)
    print(json.dumps({"event": "egress_proxy_started", "ports": ports}), flush=True)
    try:
        await stop.wait()
    finally:
        await service.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host or "0.0.0.0", int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.egress.service",
        description="kubegym's egress proxy for a cluster: signed per-trial credentials.",
    )
    parser.add_argument("--key-file", type=Path, required=True, help="the signing key")
    parser.add_argument("--listen", type=_address, default=("0.0.0.0", 3128))
    parser.add_argument("--records", type=_address, default=("0.0.0.0", 3129))
    parser.add_argument(
        "--trusted-network",
        type=ipaddress.ip_network,
        action="append",
        default=[],
        help="a non-public network (CIDR) a listed name may resolve to; repeatable",
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(args.key_file, args.listen, args.records, args.trusted_network, stop)

    try:
        asyncio.run(serve())
    except (OSError, credentials.CredentialsError) as exc:
        print(f"kubegym egress proxy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
