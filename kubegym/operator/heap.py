"""Give the C allocator's free pages back to the system, every `TRIM_SECONDS`.

The operator's RSS grows during a long run although what it keeps does not: in a run of
3,000 trials (bench/README.md, "The rest of the growth is freed memory"), glibc's heaps
held 42 MiB in use throughout while their free chunks grew from 11 to 34 MiB. glibc
gives memory back by itself only from the top of a heap; the free chunks between live
ones stay resident. ``malloc_trim(0)`` returns every whole free page of every arena
(glibc ≥ 2.8 also releases the middle of a heap), which took 18 MiB off the operator's
peak in a run of the same size (one run each). Python's own small-object allocator keeps
its arenas apart from glibc's heaps, so this does not touch them.

Where the C library has no ``malloc_trim`` (musl, macOS), `trim` does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import time
from collections.abc import Callable
from typing import Final, cast

import structlog

log = structlog.get_logger()

#: How often the operator trims: a run's watch events churn through the heaps steadily,
#: and a trim takes milliseconds (7 ms to return 100 MiB freed in pieces, here).
TRIM_SECONDS: Final = 20.0
#: A trim that takes longer than this is logged (it holds each arena's lock in turn).
SLOW_SECONDS: Final = 0.05


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``int malloc_trim(size_t pad)``, from the symbols the process already has."""
    try:
        found = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    found.argtypes = [ctypes.c_size_t]
    found.restype = ctypes.c_int
    return cast(Callable[[int], int], found)


_TRIM = _malloc_trim()


def trim() -> bool:
    """Return the heaps' free pages to the system; whether any were returned (False where
    the C library cannot)."""
    return _TRIM is not None and bool(_TRIM(0))


async def trim_forever(interval: float = TRIM_SECONDS, trimmer: Callable[[], bool] = trim) -> None:
    """`trimmer` every ``interval`` seconds until cancelled, in the event loop: it takes
    milliseconds, not worth a hand-off to a thread."""
    while True:
        await asyncio.sleep(interval)
        began = time.monotonic()
        trimmer()
        took = time.monotonic() - began
        if took > SLOW_SECONDS:
            log.info("heap_trim_slow", seconds=round(took, 3))
