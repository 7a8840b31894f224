"""The first bytes of a CONNECT tunnel: a TLS ClientHello, and the server name it asks for.

The proxy never decrypts a tunnel, but it reads the ClientHello that opens it: a tunnel
to a listed name must carry TLS (not some other protocol to whatever the listed address
also serves), and a ClientHello whose server name (SNI) differs from the name CONNECT
asked for is trying to reach another site behind the same address. Neither gets through,
nor a ClientHello offering Encrypted Client Hello, whose real server name is hidden.

What reading the ClientHello cannot see: a client that names the listed host in its SNI and
then asks, inside the encrypted stream, for another site the same server also serves
(domain fronting, on a CDN that allows it). List names whose servers serve only what you
mean to allow, or a mirror of your own.

Used by `kubegym.egress.proxy`. Standard library only.
"""

from __future__ import annotations

import asyncio

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_SNI = 0
_ECH = 0xFE0D
"""Encrypted Client Hello's extension (draft-ietf-tls-esni): the real server name inside."""
MAX_HELLO = 65536
"""Most bytes of ClientHello the proxy reads (a post-quantum key share makes them large)."""


class NotTls(Exception):
    """The tunnel's first bytes are not a well-formed TLS ClientHello."""


async def read_client_hello(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The TLS records that carry the ClientHello, as read, and the ClientHello itself.

    Raises:
        NotTls: not a TLS handshake record, a truncated one, or one over `MAX_HELLO`.
        asyncio.IncompleteReadError: the client closed early.
    """
    raw = bytearray()
    message = bytearray()
    while True:
        header = await reader.readexactly(5)
        if header[0] != _HANDSHAKE or header[1] != 3:
            raise NotTls("the tunnel does not start with a TLS handshake")
        length = int.from_bytes(header[3:5], "big")
        if length == 0 or len(raw) + 5 + length > MAX_HELLO:
            raise NotTls("a TLS record of a bad size")
        fragment = await reader.readexactly(length)
        raw += header + fragment
        message += fragment
        if len(message) >= 4:
            if message[0] != _CLIENT_HELLO:
                raise NotTls("the first handshake message is not a ClientHello")
            total = 4 + int.from_bytes(message[1:4], "big")
            if total > MAX_HELLO:
                raise NotTls("a ClientHello over the size the proxy reads")
            if len(message) >= total:
                return bytes(raw), bytes(message[:total])


def server_name(hello: bytes) -> str | None:
    """The host name a ClientHello asks for (lower case); None when it names none.

    Raises:
        NotTls: the message is malformed, or offers Encrypted Client Hello (the name it
            shows is then not the one it asks for).
    """
    try:
        return _server_name(memoryview(hello))
    except IndexError:
        raise NotTls("a truncated ClientHello") from None


def _server_name(hello: memoryview) -> str | None:
    found = None
    for kind, body in _extensions(hello):
        if kind == _ECH:
            raise NotTls("the ClientHello offers Encrypted Client Hello: its server name is hidden")
        if kind == _SNI:
            found = _first_host_name(body)
    return found


def _extensions(hello: memoryview) -> list[tuple[int, memoryview]]:
    at = 4 + 2 + 32  # message header, client version, random
    at += 1 + hello[at]  # session id
    at += 2 + int.from_bytes(hello[at : at + 2], "big")  # cipher suites
    at += 1 + hello[at]  # compression methods
    if at == len(hello):
        return []  # no extensions at all
    end = at + 2 + int.from_bytes(hello[at : at + 2], "big")
    if end > len(hello):
        raise NotTls("the ClientHello's extensions run past its end")
    at += 2
    found: list[tuple[int, memoryview]] = []
    while at + 4 <= end:
        kind = int.from_bytes(hello[at : at + 2], "big")
        size = int.from_bytes(hello[at + 2 : at + 4], "big")
        body = hello[at + 4 : at + 4 + size]
        if len(body) != size:
            raise NotTls("a ClientHello extension runs past its end")
        if kind in (k for k, _ in found) and kind in (_SNI, _ECH):
            raise NotTls("a ClientHello repeats an extension")
        found.append((kind, body))
        at += 4 + size
    return found


def _first_host_name(body: memoryview) -> str:
    names = []
    at = 2
    end = 2 + int.from_bytes(body[0:2], "big")
    while at + 3 <= end:
        kind = body[at]
        size = int.from_bytes(body[at + 1 : at + 3], "big")
        if kind == 0:
            names.append(bytes(body[at + 3 : at + 3 + size]))
        at += 3 + size
    if len(names) != 1:
        raise NotTls("the server name extension does not hold exactly one host name")
    try:
        return names[0].decode("ascii").lower()
    except UnicodeDecodeError:
        raise NotTls("the server name is not ASCII") from None
