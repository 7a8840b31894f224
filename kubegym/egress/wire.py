"""The HTTP the egress proxy speaks with its clients: reading a request's head, writing
refusals. Strict on purpose: anything ambiguous (a repeated Host, a bare CR, a folded
header, a Transfer-Encoding) is refused rather than guessed at, since a proxy and a server
that read one request two ways is how requests get smuggled past a check.

Used by `kubegym.egress.proxy`. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(rb"^HTTP/1\.[01]$")
_REASONS = {
    200: "Connection established",
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class BadRequest(Exception):
    """A request the proxy will not read: its ``reason`` code and a sentence for the client."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RequestHead:
    """A request line and its headers, as sent."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    """``(name in lower case, value)`` in order."""

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; None when absent.

        Raises:
            BadRequest: it is given more than once.
        """
        values = [v for k, v in self.headers if k == name]
        if len(values) > 1:
            raise BadRequest("malformed", f"the {name} header is given {len(values)} times")
        return values[0] if values else None

    def header_map(self) -> dict[str, str]:
        """Every header once, for the identification.

        Raises:
            BadRequest: a header is repeated.
        """
        found: dict[str, str] = {}
        for name, value in self.headers:
            if name in found:
                raise BadRequest("malformed", f"the {name} header is given more than once")
            found[name] = value
        return found


def parse_head(data: bytes) -> RequestHead:
    """Read a request head (without its final empty line).

    Raises:
        BadRequest: not an HTTP/1.x request line with well-formed headers.
    """
    if b"\r" in data.replace(b"\r\n", b"") or b"\0" in data:
        raise BadRequest("malformed", "bare CR or NUL in the request head")
    lines = data.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise BadRequest("malformed", "the request line is not 'METHOD TARGET HTTP/1.1'")
    if not _VERSION.match(parts[2]):
        raise BadRequest("malformed", "only HTTP/1.0 and HTTP/1.1 are spoken here")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise BadRequest("malformed", "a header line is not 'Name: value' (folding refused)")
        try:
            text = value.strip(b" \t").decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise BadRequest("malformed", "a header value is not text") from None
        headers.append((name.decode("ascii").lower(), text))
    try:
        target = parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest("malformed", "the request target is not ASCII") from None
    return RequestHead(parts[0].decode("ascii"), target, parts[2].decode("ascii"), headers)


def response(status: int, text: str = "") -> bytes:
    """A complete response that ends the connection: the proxy's answer to one request."""
    body = (text + "\n").encode("utf-8") if text else b""
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
    if status != 200:
        head += "Content-Type: text/plain; charset=utf-8\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        if status == 407:
            head += 'Proxy-Authenticate: Basic realm="kubegym-egress"\r\n'
    return (head + "\r\n").encode("ascii") + body


def split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    """``host[:port]`` (IPv6 literals in brackets) as ``(host, port)``.

    Raises:
        BadRequest: no host, or the port is not a number from 1 to 65535.
    """
    host, port_text = authority, ""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise BadRequest("malformed", f"unclosed [ in {authority[:80]!r}")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise BadRequest("malformed", f"junk after the address in {authority[:80]!r}")
        port_text = rest[1:]
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    if not host or "@" in host:
        raise BadRequest("malformed", f"no host (or user info) in {authority[:80]!r}")
    if not port_text:
        if default_port is None:
            raise BadRequest("malformed", f"no port in {authority[:80]!r}: write HOST:443")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadRequest("malformed", f"bad port in {authority[:80]!r}")
    return host, int(port_text)
