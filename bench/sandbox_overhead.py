"""How much a command costs through the sandbox, against a bare subprocess and SWE-ReX.

Runs the same trivial commands many times through: a bare ``subprocess.run``; kubegym's
`Session` directly; kubegym's sandbox server over TCP and over a Unix socket; SWE-ReX's
``LocalRuntime`` (in-process) and SWE-ReX's own server (``RemoteRuntime`` over loopback HTTP),
and prints the median and p90 of each, with ratios to the bare subprocess. SWE-ReX runs in
its own interpreter (``--swerex-python``), since its dependencies are not kubegym's; see
bench/README.md. Usage::

    .venv/bin/python bench/sandbox_overhead.py [--n 300] [--swerex-python /tmp/swerex-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubegym.devcluster.processes import free_port

COMMANDS = ["true", "echo hi", "/bin/true"]
DEFAULT_SWEREX_PYTHON = "/tmp/swerex-venv/bin/python"

Timings = dict[str, list[float]]


def _time(run: Callable[[str], object], commands: list[str], n: int, warmup: int) -> Timings:
    timings: Timings = {}
    for command in commands:
        for _ in range(warmup):
            run(command)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            run(command)
            samples.append(time.perf_counter() - start)
        timings[command] = samples
    return timings


# -- kubegym ---------------------------------------------------------------------------------


def bench_bare(commands: list[str], n: int, warmup: int) -> Timings:
    def run(command: str) -> object:
        return subprocess.run(
            shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    return _time(run, commands, n, warmup)


def bench_session(commands: list[str], n: int, warmup: int, workspace: Path) -> Timings:
    from kubegym.sandbox.session import Session

    session = Session(workspace, timeout=60)
    session.start()
    try:
        return _time(lambda c: _check(session.run(c)), commands, n, warmup)
    finally:
        session.close()


def bench_server(commands: list[str], n: int, warmup: int, workspace: Path, unix: bool) -> Timings:
    from kubegym.sandbox.client import start_server

    sock = workspace / "bench.sock" if unix else None
    token = secrets.token_hex(16)
    with (
        start_server(workspace=workspace, token=token, unix_path=sock) as server,
        server.client() as client,
    ):
        return _time(lambda c: _check(client.exec(c, timeout=60)), commands, n, warmup)


def bench_jail(n: int) -> dict[str, dict[str, list[float]]]:
    """A jailed sandbox's start (prepare, server up, first command, close) and one command in
    it, with the hardening of issue 11 on and off: the seccomp filter and a 20Gi disk quota
    (loop-mounted as root; ``unenforced`` and free otherwise), same run, same machine."""
    from kubegym.sandbox import local

    variants = {
        "jail, no filter, no quota": {"seccomp": False, "disk": None},
        "jail + seccomp": {"seccomp": True, "disk": None},
        "jail + seccomp + 20Gi quota": {"seccomp": True, "disk": 20 << 30},
    }
    out: dict[str, dict[str, list[float]]] = {name: {"start": [], "true": []} for name in variants}
    for _ in range(n):
        for name, variant in variants.items():  # interleaved: drift hits every variant alike
            with tempfile.TemporaryDirectory(prefix="kubegym-bench-") as folder:
                workspace = Path(folder) / "ws"
                workspace.mkdir()
                request = local.SandboxRequest(
                    name="bench", workspace=workspace, disk_bytes=variant["disk"]
                )
                start = time.perf_counter()
                sandbox = _open_jail(local, request, bool(variant["seccomp"]))
                sandbox.client.exec("true")
                out[name]["start"].append(time.perf_counter() - start)
                for _ in range(20):
                    begin = time.perf_counter()
                    sandbox.client.exec("true")
                    out[name]["true"].append(time.perf_counter() - begin)
                sandbox.close()
    return out


def _open_jail(local: Any, request: Any, seccomp: bool) -> Any:
    from kubegym.sandbox import isolation

    if seccomp:
        return local.open_sandbox(request)
    real = isolation.IsolationSpec.__init__

    def without(self: Any, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **{**kwargs, "seccomp": False})

    isolation.IsolationSpec.__init__ = without  # type: ignore[method-assign]
    try:
        return local.open_sandbox(request)
    finally:
        isolation.IsolationSpec.__init__ = real  # type: ignore[method-assign]


def _check(result: Any) -> object:
    if result.exit_code != 0:
        raise RuntimeError(f"the command failed: {result}")
    return result


# -- SWE-ReX, run in its own interpreter -------------------------------------------------------


def swerex_worker(kind: str, commands: list[str], n: int, warmup: int) -> Timings:
    """Runs inside the SWE-ReX interpreter: time its local or remote runtime."""
    import asyncio

    from swerex.runtime.abstract import BashAction, CreateBashSessionRequest

    async def main() -> Timings:
        server = None
        if kind == "local":
            from swerex.runtime.local import LocalRuntime

            runtime: Any = LocalRuntime()
        else:
            from swerex.runtime.remote import RemoteRuntime

            port, token = free_port(), secrets.token_hex(16)
            argv = [sys.executable, "-m", "swerex.server", "--host", "127.0.0.1"]
            server = subprocess.Popen(
                [*argv, "--port", str(port), "--auth-token", token],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            runtime = RemoteRuntime(host="http://127.0.0.1", port=port, auth_token=token)
            await runtime.wait_until_alive(timeout=30)
        try:
            await runtime.create_session(CreateBashSessionRequest())
            timings: Timings = {}
            for command in commands:
                action = BashAction(command=command, timeout=60, check="raise")
                for _ in range(warmup):
                    await runtime.run_in_session(action)
                samples = []
                for _ in range(n):
                    start = time.perf_counter()
                    await runtime.run_in_session(action)
                    samples.append(time.perf_counter() - start)
                timings[command] = samples
            return timings
        finally:
            await runtime.close()
            if server is not None:
                server.terminate()
                server.wait()

    return asyncio.run(main())


def bench_swerex(kind: str, python: str, commands: list[str], n: int, warmup: int) -> Timings:
    argv = [python, __file__, "--swerex-worker", kind, "--n", str(n), "--warmup", str(warmup)]
    argv += ["--commands", json.dumps(commands)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    timings: Timings = json.loads(done.stdout.strip().splitlines()[-1])
    return timings


# -- report ----------------------------------------------------------------------------------


def _p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def report(
    results: dict[str, Timings], skipped: dict[str, str], commands: list[str], n: int
) -> str:
    base = results["subprocess.run (bare)"]
    lines = [
        f"{n} runs per command; milliseconds; ratio = median / bare subprocess.run median",
        "",
        f"{'method':<28} {'command':<10} {'median':>8} {'p90':>8} {'ratio':>7}",
        "-" * 65,
    ]
    for method, timings in results.items():
        for command in commands:
            samples = timings[command]
            median = statistics.median(samples)
            ratio = median / statistics.median(base[command])
            lines.append(
                f"{method:<28} {command:<10} {median * 1e3:>8.3f} {_p90(samples) * 1e3:>8.3f} "
                f"{ratio:>6.2f}x"
            )
    for method, why in skipped.items():
        lines.append(f"{method:<28} skipped: {why}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="runs per command (default: 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs first (default: 20)")
    parser.add_argument("--commands", default=json.dumps(COMMANDS), help="a JSON list of commands")
    parser.add_argument(
        "--swerex-python",
        default=DEFAULT_SWEREX_PYTHON if os.path.exists(DEFAULT_SWEREX_PYTHON) else sys.executable,
        help=f"an interpreter with swe-rex installed (default: {DEFAULT_SWEREX_PYTHON} if present)",
    )
    parser.add_argument("--skip-swerex", action="store_true", help="measure kubegym only")
    parser.add_argument("--swerex-worker", choices=["local", "remote"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--jail", type=int, metavar="N", help="only: N jailed starts per variant (seccomp, quota)"
    )
    args = parser.parse_args()
    commands: list[str] = json.loads(args.commands)

    if args.jail:
        print("| jail | start median (ms) | start p90 | `true` median (ms) | `true` p90 |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, timing in bench_jail(args.jail).items():
            cells = [
                f"{f(timing[k]) * 1000:.1f}"
                for k in ("start", "true")
                for f in (statistics.median, _p90)
            ]
            print(f"| {name} | {' | '.join(cells)} |")
        return 0

    if args.swerex_worker:
        print(json.dumps(swerex_worker(args.swerex_worker, commands, args.n, args.warmup)))
        return 0

    results: dict[str, Timings] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kubegym-bench-") as folder:
        workspace = Path(folder)
        results["subprocess.run (bare)"] = bench_bare(commands, args.n, args.warmup)
        results["kubegym Session (direct)"] = bench_session(
            commands, args.n, args.warmup, workspace
        )
        results["kubegym server, TCP"] = bench_server(
            commands, args.n, args.warmup, workspace, False
        )
        results["kubegym server, Unix"] = bench_server(
            commands, args.n, args.warmup, workspace, True
        )
    for kind, label in (("local", "SWE-ReX LocalRuntime"), ("remote", "SWE-ReX server, TCP")):
        if args.skip_swerex:
            skipped[label] = "--skip-swerex"
            continue
        try:
            results[label] = bench_swerex(kind, args.swerex_python, commands, args.n, args.warmup)
        except Exception as exc:
            skipped[label] = (
                f"{exc} (install it: python3 -m venv /tmp/swerex-venv && "
                "/tmp/swerex-venv/bin/pip install swe-rex)"
            )
    print(report(results, skipped, commands, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
