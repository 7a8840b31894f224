"""Limits: a fork bomb and a memory hog are contained and reported, CPU is throttled, and
the mechanism in effect (cgroup or rlimit) is reported honestly."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import pytest

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation
from tests.unit.sandbox_isolation.conftest import cgroups_expected
from tests.unit.sandbox_isolation.jailrun import python

MakeJail = Callable[..., isolation.Jail]

FORK_BOMB = (
    "import os, time\n"
    "children = 0\n"
    "for _ in range(10_000):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError as error:\n"
    "        print('fork failed after', children, error.errno); break\n"
    "    if pid == 0:\n"
    "        time.sleep(30); os._exit(0)\n"
    "    children += 1\n"
    "else:\n"
    "    print('forked all', children)\n"
)
MEMORY_HOG = "b = bytearray(2 << 30)\nprint('allocated', len(b))\n"


def _cgroup_jail(make: MakeJail, **fields: object) -> isolation.Jail:
    try:
        return make(limits="cgroup", **fields)
    except ConfigError as error:
        if cgroups_expected():
            pytest.fail(f"root with a writable cgroup mount, yet no cgroup: {error}")
        pytest.skip(f"no writable cgroup here: {error}")


def test_a_fork_bomb_stops_at_the_pids_limit_and_is_reported(jail_factory: MakeJail) -> None:
    jail = _cgroup_jail(jail_factory, pids=64)
    started = time.monotonic()
    code, out = python(jail, FORK_BOMB, timeout=60)
    assert code == 0, out
    assert out.startswith("fork failed after"), out
    assert int(out.split()[3]) < 64
    assert jail.pids_exceeded() is True
    assert time.monotonic() - started < 20
    # The host still starts processes promptly.
    started = time.monotonic()
    subprocess.run(["true"], check=True)
    assert time.monotonic() - started < 2


def test_a_memory_hog_is_killed_and_reported(jail_factory: MakeJail) -> None:
    jail = _cgroup_jail(jail_factory, memory_bytes=256 << 20)
    assert jail.memory_exceeded() is False
    code, out = python(jail, MEMORY_HOG, timeout=60)
    assert code == 137, out  # SIGKILL from the OOM killer, passed on by bwrap as 128 + 9
    assert "allocated" not in out
    assert jail.memory_exceeded() is True
    assert jail.describe()["limits"]["memory"]["mechanism"].startswith("cgroup-v")


def test_the_cpu_limit_throttles_a_busy_loop(jail_factory: MakeJail) -> None:
    jail = _cgroup_jail(jail_factory, cpus=0.2)
    code, out = python(
        jail,
        "import time\n"
        "end = time.monotonic() + 1.0\n"
        "while time.monotonic() < end: pass\n"
        "print(time.process_time())",
    )
    assert code == 0, out
    assert float(out) < 0.6, out  # unthrottled it would be close to 1.0


def test_under_rlimits_a_memory_hog_fails_to_allocate(jail_factory: MakeJail) -> None:
    jail = jail_factory(limits="rlimit", memory_bytes=512 << 20, pids=None)
    assert jail.cgroup is None
    assert jail.describe()["limits"]["memory"] == {"value": 512 << 20, "mechanism": "rlimit"}
    code, out = python(jail, MEMORY_HOG, timeout=60)
    assert code == 1 and "MemoryError" in out, out
    assert jail.memory_exceeded() is None  # no cgroup to ask: the exit status is all there is


def test_rlimits_report_what_they_cannot_enforce(jail_factory: MakeJail) -> None:
    jail = jail_factory(limits="rlimit", cpus=1.0, pids=100)
    mechanisms = {k: v["mechanism"] for k, v in jail.describe()["limits"].items()}
    assert mechanisms["cpu"] == "unenforced"  # RLIMIT_CPU is total seconds, not a rate
    # The kernel never applies RLIMIT_NPROC to root, so as root it cannot hold a fork bomb.
    assert mechanisms["pids"] == ("unenforced" if os.geteuid() == 0 else "rlimit")
    assert jail.pids_exceeded() is None


def test_the_limit_mechanism_is_described(jail_factory: MakeJail) -> None:
    jail = jail_factory(memory_bytes=1 << 30, cpus=1.0, pids=128)
    described = json.loads(json.dumps(jail.describe()))
    assert described["isolated"] is True
    assert set(described["limits"]) == {"memory", "cpu", "pids"}
    if jail.cgroup is not None:
        assert described["cgroup"] == sorted({str(p) for p in jail.cgroup.dirs.values()})
