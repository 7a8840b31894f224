"""``python -m kubegym.sandbox.relay``: the jail's way to its egress proxy.

A jail with an egress allowlist still has no network of its own, only loopback. Its
trial's proxy (`kubegym.egress.local.LocalEgress`) listens on a Unix socket on the host,
bound into the jail at `kubegym.sandbox.isolation.EGRESS_DIR`. HTTP clients (pip, curl,
requests, huggingface_hub) speak to a proxy over TCP, so this relay listens on
``127.0.0.1:PORT`` inside the jail and copies each connection to that socket, byte for
byte: it decides nothing, the host's proxy does (an agent that talks to the socket
directly meets the same proxy).

It runs in front of the sandbox server, in the same network namespace:
``relay --port P --socket S -- python -m kubegym.sandbox serve …`` binds the port, forks
the relay into the background and becomes the server (`os.execvp`), so the server's
process is the one its launcher started. Standard library only: it runs inside the jail
with the task's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Sequence

PORT = 3128
"""The relay's port on the jail's loopback (the proxy variables point there)."""

_CHUNK = 65536


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(_CHUNK):
            target.write(chunk)
            await target.drain()
        if target.can_write_eof():
            target.write_eof()
    except OSError:
        target.close()


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy_socket: str
) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(proxy_socket)
    except OSError:
        writer.close()  # the proxy is gone: the client sees a closed connection
        return
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for each in (writer, up_writer):
            each.close()


async def serve(listener: socket.socket, proxy_socket: str) -> None:
    """Relay every connection on ``listener`` to the Unix socket ``proxy_socket``, forever."""
    server = await asyncio.start_server(lambda r, w: _connection(r, w, proxy_socket), sock=listener)
    async with server:
        await server.serve_forever()


def listen(port: int) -> socket.socket:
    """The relay's listening socket on the jail's loopback."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    """Bind, fork the relay, exec the command after ``--`` (returns only on a bad command line)."""
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.sandbox.relay",
        description="Relay 127.0.0.1:PORT to the egress proxy's Unix socket, then exec COMMAND.",
    )
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--socket", required=True, help="the egress proxy's Unix socket")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG…]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    # Bound before the fork: once the command (the sandbox server) says it is ready, the
    # relay's port already takes connections.
    listener = listen(args.port)
    if os.fork() == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # never hold the server's ready-line pipe open
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(listener, args.socket))
        os._exit(0)
    listener.close()
    os.execvp(command[0], command)
    return 127  # pragma: no cover - execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main())
