"""What a jail is: where agent code may run, within which limits, and the wire's framing.

The shapes every other module of `kubegym.evaluator.jails` shares: the local modes and
the `Remote` jail server, `JailLimits`, the kit folder jails run, and how a request on
a jail socket is read. Callers outside the package use them through
`kubegym.evaluator.jails` (the scorer, the judge, ``python -m kubegym.evaluator``, the
dev-cluster kubelet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation

KIT_DIR = Path(__file__).resolve().parent.parent / "kit"
"""The folder holding only ``kubegym_eval.py``: on the script's PYTHONPATH and bound into jails."""

LocalMode = Literal["auto", "bwrap", "process"]
"""``auto``: bubblewrap when it runs here, else a separate process; or force one."""

MAX_MESSAGE = 1 << 16
"""The longest request or answer on a jail socket, in bytes."""


@dataclass(frozen=True)
class Remote:
    """Jails served by a `JailServer` in another container (or as another uid).

    Attributes:
        socket: the server's Unix socket.
        share: the folder both sides see at this same path: the evaluator writes the
            adapter, its files and the submission there; the server only reads it.
    """

    socket: Path
    share: Path


JailMode = LocalMode | Remote
"""Where agent code runs: a local mode, or a `Remote` jail server."""


@dataclass(frozen=True)
class JailLimits:
    """What one jail may use: memory for all its processes, CPUs, processes at once."""

    memory_bytes: int | None = 4 << 30
    cpus: float | None = None
    pids: int | None = 256


def local_backend(mode: LocalMode) -> isolation.Backend:
    """The backend ``mode`` means on this machine: ``auto`` is bubblewrap where it runs."""
    if mode != "auto":
        return mode
    try:
        isolation.check_available("bwrap")
    except ConfigError:
        return "process"
    return "bwrap"


def parse_request(data: bytes) -> dict[str, Any] | None:
    """One request read off a jail socket; None when it is not a JSON object."""
    try:
        request = json.loads(data)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None
