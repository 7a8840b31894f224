"""`processes.free_port` never hands out one port twice.

The kernel's choice for a bind to port 0 is free at that instant only: the component
that will listen on it starts later, and the kernel may offer the same port meanwhile.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from kubegym.devcluster import processes


def test_many_ports_picked_in_a_row_are_all_different() -> None:
    # 300 plain binds to port 0 on this machine gave 297 different ports.
    ports = [processes.free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_the_kernel_offers_again_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    offers = iter([41_001, 41_001, 41_001, 41_002])

    class Kernel(socket.socket):
        """Binds to port 0 get the next of `offers`, as a kernel that offers one port again."""

        def getsockname(self) -> Any:
            return ("127.0.0.1", next(offers))

    monkeypatch.setattr(processes, "_HANDED_OUT", set())
    monkeypatch.setattr(processes.socket, "socket", Kernel)
    assert processes.free_port() == 41_001
    assert processes.free_port() == 41_002


def test_a_kernel_that_offers_only_old_ports_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Kernel(socket.socket):
        def getsockname(self) -> Any:
            return ("127.0.0.1", 41_001)

    monkeypatch.setattr(processes, "_HANDED_OUT", {41_001})
    monkeypatch.setattr(processes.socket, "socket", Kernel)
    with pytest.raises(RuntimeError, match="handed out before"):
        processes.free_port()
