"""`kubegym.operator.heap`: freed memory between live blocks goes back to the system.

Against the real C allocator, in a fresh interpreter (what an earlier test left in this
process's heaps would blur the numbers).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from kubegym.operator import heap

PIECES = r"""
import json
from kubegym.operator import heap

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

# 80 MiB in blocks of 1,000 to 3,000 bytes (glibc's heap, not Python's small-object
# arenas), every 16th kept, so no stretch at the heap's top is free to give back alone.
kept, freed = [], []
for i in range(40_000):
    (kept if i % 16 == 0 else freed).append(bytes(1_000 + (i * 37) % 2_000))
del freed
before = rss_mib()
returned = heap.trim()
print(json.dumps({"before": before, "after": rss_mib(), "returned": returned, "kept": len(kept)}))
"""


@pytest.mark.skipif(heap._TRIM is None, reason="this C library has no malloc_trim")
def test_trim_returns_the_free_pages_between_live_blocks() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PIECES], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(out.stdout)
    assert found["returned"] is True
    # ~75 MiB were freed in pieces between the kept blocks; glibc kept them resident.
    assert found["before"] - found["after"] > 40, found


def test_trim_forever_trims_at_its_interval_until_cancelled() -> None:
    calls: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(
            heap.trim_forever(0.01, lambda: calls.append(loop.time()) is None)
        )
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = len(calls)
        await asyncio.sleep(0.05)
        assert len(calls) == seen  # nothing after the cancel

    asyncio.run(main())
    assert len(calls) >= 3
