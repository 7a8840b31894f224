"""The egress proxy: an asyncio forwarding HTTP proxy that lets a sandbox reach listed hosts
by name, and nothing else.

What goes through (each request checked on its own, one request per connection):

- ``CONNECT name:443``: a TLS tunnel, never decrypted; its ClientHello must ask for the
  same name (`kubegym.egress.tls`);
- ``GET http://name/path`` (any usual method): a plain HTTP request to port 80, sent on
  in origin form with ``Connection: close`` and without the proxy's own headers; a
  ``Host`` header naming another host is refused, and so is any Transfer-Encoding.

The proxy resolves every name itself and connects to an address of its choosing
(`kubegym.egress.addresses`); IP literals, other ports, unlisted names, private
addresses behind a listed name, malformed or oversized heads all get a 4xx whose body
says why. Every request, let through or refused, becomes one `EgressRecord` for the sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubegym.egress import addresses, identity, records, tls, wire
from kubegym.egress import allowlist as allowlist_mod

_log = logging.getLogger(__name__)

HTTP_PORT = 80
HTTPS_PORT = 443
PLAIN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods of plain HTTP requests the proxy forwards."""
_HOP_BY_HOP = frozenset(
    {
        *("connection", "keep-alive", "proxy-authorization", "proxy-authenticate"),
        *("proxy-connection", "te", "trailer", "upgrade", "host"),
    }
)
"""Request headers the proxy drops: its own, the connection's, and Host (it writes its own)."""
_CHUNK = 65536


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy reads requests and how long it waits."""

    head_bytes: int = 16384
    """Most bytes of a request's head (line and headers); more: 431."""

    head_timeout: float = 20.0
    """Seconds a client has to send a complete head."""

    connect_timeout: float = 10.0
    """Seconds to connect to the host (per address)."""

    hello_timeout: float = 20.0
    """Seconds a tunnel's client has to send its TLS ClientHello."""

    idle_timeout: float = 300.0
    """Seconds a tunnel or a response may go without a byte either way before the proxy ends
    it (the record then says ``idle``): a stalled host or client never holds a connection."""

    max_connections: int = 128
    """Connections served at once; more are answered 503."""

    trusted_networks: tuple[addresses.Network, ...] = ()
    """Non-public networks a listed name may still resolve to: an internal mirror, or a site
    whose DNS answers with an intercepting gateway's address. Set by whoever runs the proxy,
    never by a trial; loopback stays ``localhost``'s alone unless a network here holds it."""

    test_ports: frozenset[int] = frozenset()
    """FOR TESTS ONLY: ports allowed besides 80 (plain HTTP) and 443 (CONNECT), for both, so
    a test server on a free port can stand in for a listed host."""

    resolver: addresses.Resolver | None = None
    """FOR TESTS ONLY: resolves names instead of the host's resolver (to test what a listed
    name that resolves to a private address gets)."""


@dataclass
class _Exchange:
    """One request as it is being served, and then its record."""

    listener: str
    started: float = field(default_factory=time.monotonic)
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    trial: str = ""
    method: str = ""
    host: str = ""
    port: int = 0
    allowed: bool = False
    reason: str = ""
    bytes_up: int = 0
    bytes_down: int = 0
    address: str = ""
    idle: bool = False

    def record(self) -> records.EgressRecord:
        return records.EgressRecord(
            time=self.time,
            trial=self.trial,
            method=self.method,
            host=self.host[:253],
            port=self.port,
            allowed=self.allowed,
            reason=self.reason,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            seconds=round(time.monotonic() - self.started, 6),
            address=self.address,
            idle=self.idle,
        )


class _Refusal(Exception):
    """Answer ``status`` with ``message`` and record ``reason``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class EgressProxy:
    """The proxy: one or more listeners, one identification, one sink for the records.

    Args:
        identify: who a request's client is (`kubegym.egress.identity`).
        sink: receives every request's record (`kubegym.egress.records.JsonlLog`).
        settings: sizes and timeouts; the test-only options.
    """

    def __init__(
        self,
        identify: identity.Identify,
        sink: records.Sink,
        settings: ProxySettings | None = None,
    ) -> None:
        self.identify = identify
        self.sink = sink
        self.settings = settings or ProxySettings()
        self._resolve = self.settings.resolver or addresses.system_resolver
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve_unix(self, path: Path, name: str, mode: int = 0o666) -> asyncio.Server:
        """Listen on a Unix socket at ``path`` (a jail's uid must reach it: ``mode``)."""
        server = await asyncio.start_unix_server(
            lambda r, w: self._accept(r, w, name, str(path)),
            path=str(path),
            limit=self.settings.head_bytes,
        )
        os.chmod(path, mode)
        self._servers.append(server)
        return server

    async def serve_tcp(self, host: str, port: int, name: str) -> asyncio.Server:
        """Listen on TCP ``host:port`` (0: a free port; see the server's ``sockets``)."""
        server = await asyncio.start_server(
            lambda r, w: self._accept(r, w, name, f"{host}:{port}"),
            host=host,
            port=port,
            limit=self.settings.head_bytes,
        )
        self._servers.append(server)
        return server

    async def close(self) -> None:
        """Stop listening and end every open request and tunnel (each still gets its record)."""
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, where: str
    ) -> None:
        # A task of our own per connection (not asyncio's), so `close` can end them all.
        busy = len(self._tasks) >= self.settings.max_connections
        peer = writer.get_extra_info("peername")
        listener = identity.Listener(
            name, where, f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        )
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer, listener, busy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        listener: identity.Listener,
        busy: bool,
    ) -> None:
        exchange = _Exchange(listener.name)
        try:
            if busy:
                raise _Refusal(503, "busy", "the egress proxy serves too many connections")
            head = await self._read_head(reader)
            if head is None:
                return  # connected and left without a word: nothing to record
            await self._handle(head, reader, writer, listener, exchange)
        except _Refusal as refusal:
            exchange.reason = refusal.reason
            exchange.allowed = False
            await self._answer(writer, refusal.status, refusal.message, exchange)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; the record says how far it got
        except Exception:  # kubegym's own bug: this request ends, the proxy serves on
            _log.exception("egress_request_failed trial=%s", exchange.trial)
            exchange.reason = exchange.reason or "proxy_error"
        finally:
            if exchange.reason:
                try:
                    self.sink(exchange.record())
                except Exception:  # a broken sink must not take the proxy down
                    _log.exception("egress_record_lost trial=%s", exchange.trial)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_head(self, reader: asyncio.StreamReader) -> wire.RequestHead | None:
        try:
            async with asyncio.timeout(self.settings.head_timeout):
                data = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _Refusal(
                431, "too_large", f"the request head is over {self.settings.head_bytes} bytes"
            ) from None
        except TimeoutError:
            raise _Refusal(408, "malformed", "no complete request head in time") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise _Refusal(400, "malformed", "the request head ends early") from None
        try:
            return wire.parse_head(data[:-4])
        except wire.BadRequest as exc:
            raise _Refusal(exc.status, exc.reason, exc.message) from None

    async def _handle(
        self,
        head: wire.RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        listener: identity.Listener,
        exchange: _Exchange,
    ) -> None:
        exchange.method = head.method
        try:
            headers = head.header_map()
            who = await self._identify(listener, headers)
            exchange.trial = who.trial
            if head.method == "CONNECT":
                host, port = wire.split_authority(head.target, None)
                exchange.host, exchange.port = host, port
                name = self._check(who.allowlist, host, port, HTTPS_PORT, "CONNECT")
                await self._tunnel(name, reader, writer, exchange)
            else:
                plain = _PlainRequest.read(head)
                exchange.host, exchange.port = plain.host, plain.port
                name = self._check(who.allowlist, plain.host, plain.port, HTTP_PORT, "HTTP")
                await self._forward(name, plain, reader, writer, exchange)
        except wire.BadRequest as exc:
            raise _Refusal(exc.status, exc.reason, exc.message) from None

    async def _identify(
        self, listener: identity.Listener, headers: dict[str, str]
    ) -> identity.Identity:
        try:
            found = self.identify(listener, headers)
            if inspect.isawaitable(found):
                found = await found
        except identity.Refused as exc:
            raise _Refusal(exc.status, "identity", exc.message) from None
        return found

    def _check(
        self, allowed: allowlist_mod.Allowlist, host: str, port: int, usual: int, kind: str
    ) -> str:
        """The listed name asked for; refused unless it is one, on the port its kind uses."""
        try:
            name = allowlist_mod.normalise(host)
        except allowlist_mod.HostRefused as exc:
            raise _Refusal(403, exc.reason, exc.message) from None
        if port != usual and port not in self.settings.test_ports:
            raise _Refusal(403, "port", f"{kind} goes to port {usual} only; port {port} is refused")
        if not allowed.allows(name):
            raise _Refusal(
                403,
                "not_listed",
                f"{name} is not on this trial's egress allowlist (allowed: {allowed})",
            )
        return name

    async def _connect(
        self, name: str, port: int, exchange: _Exchange
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Resolve ``name`` here, keep the addresses it may lead to, connect to the first that
        answers."""
        try:
            found = await self._resolve(name, port)
        except OSError as exc:
            raise _Refusal(502, "unresolved", f"{name} does not resolve: {exc}") from None
        usable = addresses.reachable(name, found, self.settings.trusted_networks)
        if not usable:
            raise _Refusal(
                403,
                "private_address",
                f"{name} resolves to {', '.join(found) or 'nothing'}: loopback, private and "
                "special addresses are refused (only a listed localhost reaches loopback)",
            )
        errors = []
        for address in usable:
            try:
                async with asyncio.timeout(self.settings.connect_timeout):
                    connection = await asyncio.open_connection(address, port, limit=_CHUNK)
            except (OSError, TimeoutError) as exc:
                errors.append(f"{address}: {exc or 'timed out'}")
                continue
            exchange.address = address
            return connection
        raise _Refusal(502, "unreachable", f"cannot connect to {name}:{port} ({'; '.join(errors)})")

    async def _tunnel(
        self,
        name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        exchange: _Exchange,
    ) -> None:
        up_reader, up_writer = await self._connect(name, exchange.port, exchange)
        try:
            writer.write(wire.response(200))
            await writer.drain()
            try:
                async with asyncio.timeout(self.settings.hello_timeout):
                    raw, hello = await tls.read_client_hello(reader)
                asked = tls.server_name(hello)
            except (tls.NotTls, TimeoutError) as exc:
                exchange.reason = "not_tls"
                _log.info("egress_not_tls trial=%s host=%s: %s", exchange.trial, name, exc)
                return
            if asked is not None and asked.rstrip(".") != name:
                exchange.reason = "sni_mismatch"
                _log.info("egress_sni_mismatch trial=%s %s != %s", exchange.trial, asked, name)
                return
            exchange.allowed, exchange.reason = True, "allowed"
            up_writer.write(raw)
            exchange.bytes_up += len(raw)
            ways = [(reader, up_writer, True), (up_reader, writer, False)]
            await _relay(ways, exchange, self.settings.idle_timeout)
        finally:
            up_writer.close()

    async def _forward(
        self,
        name: str,
        plain: _PlainRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        exchange: _Exchange,
    ) -> None:
        up_reader, up_writer = await self._connect(name, plain.port, exchange)
        exchange.allowed, exchange.reason = True, "allowed"
        try:
            up_writer.write(plain.upstream_head())
            left = plain.body_bytes
            while left:  # exactly the declared body: what follows is never another request
                try:
                    async with asyncio.timeout(self.settings.idle_timeout):
                        chunk = await reader.read(min(left, _CHUNK))
                except TimeoutError:
                    exchange.idle = True  # the client stalled in its body: never sent on
                    return
                if not chunk:
                    return  # the body ended early: the host never gets a cut request's answer
                up_writer.write(chunk)
                exchange.bytes_up += len(chunk)
                left -= len(chunk)
                await up_writer.drain()
            await up_writer.drain()
            response = [(up_reader, writer, False)]
            await _relay(response, exchange, self.settings.idle_timeout, half_close=False)
        finally:
            up_writer.close()

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, message: str, exchange: _Exchange
    ) -> None:
        host = exchange.host[:253]
        what = f"{exchange.method} {host}:{exchange.port}" if host else "request"
        text = f"kubegym egress proxy: refused {what}: {message}"
        with contextlib.suppress(ConnectionError):
            writer.write(wire.response(status, text))
            await writer.drain()


@dataclass(frozen=True)
class _PlainRequest:
    """A plain HTTP request in absolute form, checked, and how it goes upstream."""

    head: wire.RequestHead
    host: str
    port: int
    origin: str
    body_bytes: int

    @classmethod
    def read(cls, head: wire.RequestHead) -> _PlainRequest:
        """Check a plain request's method, target, Host and body framing.

        Raises:
            BadRequest: what is wrong with it (the reason code ``malformed``,
                ``method`` or ``host_mismatch``).
        """
        if head.method not in PLAIN_METHODS:
            raise wire.BadRequest("method", f"method {head.method} is not forwarded", 403)
        scheme, sep, rest = head.target.partition("://")
        if not sep or scheme.lower() != "http":
            hint = "use CONNECT for https" if scheme.lower() == "https" else "send http://HOST/PATH"
            raise wire.BadRequest("malformed", f"a proxy request needs an absolute URI ({hint})")
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        authority, origin = rest[:cut], rest[cut:]
        host, port = wire.split_authority(authority, HTTP_PORT)
        origin = origin.split("#", 1)[0]
        if not origin.startswith("/"):
            origin = "/" + origin
        given = head.header("host")
        if given is not None:
            other_host, other_port = wire.split_authority(given, HTTP_PORT)
            if (other_host.lower().rstrip("."), other_port) != (host.lower().rstrip("."), port):
                raise wire.BadRequest(
                    "host_mismatch",
                    f"the Host header ({given[:80]}) names another host than the URI ({authority})",
                )
        if head.header("transfer-encoding") is not None:
            raise wire.BadRequest(
                "malformed", "Transfer-Encoding is refused on plain HTTP; send a Content-Length"
            )
        length = head.header("content-length")
        if length is not None and not (length.isdigit() and len(length) <= 15):
            raise wire.BadRequest("malformed", f"bad Content-Length {length[:20]!r}")
        return cls(head, host, port, origin, int(length or 0))

    def upstream_head(self) -> bytes:
        """The head the host gets: origin form, its own Host, no proxy or hop-by-hop headers."""
        authority = self.host if self.port == HTTP_PORT else f"{self.host}:{self.port}"
        lines = [f"{self.head.method} {self.origin} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{k}: {v}" for k, v in self.head.headers if k not in _HOP_BY_HOP]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _relay(
    ways: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]],
    exchange: _Exchange,
    idle: float,
    *,
    half_close: bool = True,
) -> None:
    """Copy each ``(source, target, upward)`` until every source ends, or until no byte moved
    either way for ``idle`` seconds (then ``exchange.idle``). ``half_close``: pass a source's
    end on to its target at once (a tunnel); else the caller closes, after its record."""
    last = time.monotonic()

    async def one_way(source: asyncio.StreamReader, target: asyncio.StreamWriter, up: bool) -> None:
        nonlocal last
        try:
            while chunk := await source.read(_CHUNK):
                last = time.monotonic()
                target.write(chunk)
                if up:
                    exchange.bytes_up += len(chunk)
                else:
                    exchange.bytes_down += len(chunk)
                await target.drain()
            if half_close and target.can_write_eof():
                target.write_eof()
        except (ConnectionError, OSError):
            target.close()

    loop = asyncio.get_running_loop()
    work = asyncio.gather(*(one_way(*way) for way in ways))
    timer: asyncio.TimerHandle | None = None

    def check() -> None:  # a timer, not a task: a finished relay returns at once
        nonlocal timer
        if time.monotonic() - last >= idle:
            exchange.idle = True
            work.cancel()
        else:
            timer = loop.call_at(loop.time() + last + idle - time.monotonic(), check)

    timer = loop.call_later(idle, check)
    try:
        await work
    except asyncio.CancelledError:
        if not exchange.idle:
            raise  # the proxy is closing: not ours to swallow
    finally:
        if timer is not None:
            timer.cancel()
