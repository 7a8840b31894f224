"""Network: none by default (not even the host's loopback), the host's network with egress."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from kubegym.sandbox import isolation
from tests.unit.sandbox_isolation.jailrun import python

MakeJail = Callable[..., isolation.Jail]

CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    "    print(s.recv(16).decode())\n"
    "except OSError as error:\n"
    "    print('unreachable', error); sys.exit(3)\n"
)


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that greets each client; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            with client:
                client.sendall(b"hello-host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_no_network_reaches_nothing_on_the_host(jail_factory: MakeJail, host_server: int) -> None:
    code, out = python(jail_factory(network="none"), CONNECT.format(port=host_server))
    assert code == 3, out
    assert "unreachable" in out


def test_egress_shares_the_hosts_network(jail_factory: MakeJail, host_server: int) -> None:
    code, out = python(jail_factory(network="egress"), CONNECT.format(port=host_server))
    assert code == 0, out
    assert out.strip() == "hello-host"
