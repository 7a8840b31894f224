"""Attacks on the local sandbox and its servers (issue 11, points 7, 8 and 9).

Each test plays a hostile agent against the real thing: a bubblewrap jail with the seccomp
filter, root's jails as an unprivileged host uid, the loop-mounted workspace quota, and the
sandbox server's HTTP plumbing (`kubegym.sandbox.httpapi`, which the evaluator server shares).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubegym.sandbox import httpapi, isolation, local, server
from kubegym.sandbox.isolation import launch, specs
from tests.unit.sandbox_isolation import conftest as jail_fixtures
from tests.unit.sandbox_isolation.conftest import Dirs
from tests.unit.sandbox_isolation.jailrun import python, run

MakeJail = Callable[..., isolation.Jail]
# The jail tests' fixtures (bwrap, dirs, jail_factory), registered here under their own names.
bwrap, dirs, jail_factory = jail_fixtures.bwrap, jail_fixtures.dirs, jail_fixtures.jail_factory
Server = httpapi.ThreadingTCPServer
TOKEN = "attack-token-5d1e"

SYSCALLS = r"""
import ctypes, errno, json, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
X86 = platform.machine() == "x86_64"
NR = {
    "ptrace": 101 if X86 else 117, "process_vm_readv": 310 if X86 else 270,
    "keyctl": 250 if X86 else 219, "add_key": 248 if X86 else 217,
    "unshare": 272 if X86 else 97, "personality": 135 if X86 else 92,
    "perf_event_open": 298 if X86 else 241, "userfaultfd": 323 if X86 else 282,
    "bpf": 321 if X86 else 280, "mount": 165 if X86 else 40, "io_uring_setup": 425,
    "setns": 308 if X86 else 268, "kcmp": 312 if X86 else 272, "clone": 56 if X86 else 220,
}
def call(name, *args):
    result = libc.syscall(NR[name], *[ctypes.c_long(a) for a in args])
    return 0 if result >= 0 else errno.errorcode[ctypes.get_errno()]
buf = ctypes.create_string_buffer(8)
iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)
seen = {
    "ptrace": call("ptrace", 0, 0, 0, 0),                # PTRACE_TRACEME: allowed without a filter
    "process_vm_readv": call("process_vm_readv", __import__("os").getpid(),
                             ctypes.addressof(iov), 1, ctypes.addressof(iov), 1, 0),
    "keyctl": call("keyctl", 0, -3, 0),                  # KEYCTL_GET_KEYRING_ID of the session
    "add_key": call("add_key", ctypes.addressof(ctypes.create_string_buffer(b"user")),
                    ctypes.addressof(ctypes.create_string_buffer(b"k")), 0, 0, -3),
    "unshare": call("unshare", 0),                       # no flags: always allowed otherwise
    "personality": call("personality", 0x0040000),       # ADDR_NO_RANDOMIZE
    "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
    "userfaultfd": call("userfaultfd", 1),               # UFFD_USER_MODE_ONLY
    "bpf": call("bpf", 0, 0, 0),
    "mount": call("mount", 0, 0, 0, 0, 0),
    "io_uring_setup": call("io_uring_setup", 1, 0),
    "setns": call("setns", 0, 0),
    "kcmp": call("kcmp", 1, 1, 0, 0, 0),
    "personality_query": call("personality", 0xFFFFFFFF),  # still allowed: only a query
}
pid = libc.syscall(NR["clone"], ctypes.c_long(0x10000000 | 17), 0, 0, 0, 0)  # NEWUSER|SIGCHLD
if pid == 0:
    import os; os._exit(0)  # only if the filter failed: a child to leave at once
seen["clone_newuser"] = errno.errorcode[ctypes.get_errno()] if pid < 0 else "created"
seen["seccomp"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")]
print(json.dumps(seen))
"""

HONEST_WORK = r"""
import json, subprocess, threading, concurrent.futures, multiprocessing
results = []
threads = [threading.Thread(target=results.append, args=(i,)) for i in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
with concurrent.futures.ProcessPoolExecutor(2) as pool:
    squares = list(pool.map(abs, [-1, -2, -3]))
pipe = subprocess.run(["bash", "-c", "seq 1 100 | sort -rn | head -1"], capture_output=True,
                      text=True, check=True).stdout.strip()
try:
    import numpy
    total = float(numpy.linalg.inv(numpy.eye(50) * 2.0).sum())
except ImportError:
    total = 25.0
print(json.dumps({"threads": len(results), "pool": squares, "pipe": pipe, "numpy": total}))
"""


def test_blocked_system_calls_fail_with_eperm_inside(jail_factory: MakeJail) -> None:
    """Attack 9 (jail hardening): agent code calls ptrace, process_vm_readv, keyctl, add_key,
    unshare, personality, perf_event_open, userfaultfd, bpf, mount, io_uring, setns, kcmp and
    clone(CLONE_NEWUSER). Guarantee: the seccomp filter answers EPERM to each, including calls
    that would succeed without it (PTRACE_TRACEME, unshare(0), add_key, personality)."""
    code, out = python(jail_factory(), SYSCALLS)
    assert code == 0, out
    seen = json.loads(out)
    assert seen.pop("seccomp") == ["2"]  # SECCOMP_MODE_FILTER
    assert seen.pop("personality_query") == 0
    assert seen.pop("clone_newuser") == "EPERM"
    assert seen == dict.fromkeys(seen, "EPERM"), seen


def test_without_the_filter_the_same_calls_succeed(jail_factory: MakeJail) -> None:
    """Attack 9, control: proves the previous test can fail. With ``seccomp=False`` the
    harmless probes (PTRACE_TRACEME, unshare(0), personality) succeed in the same jail."""
    code, out = python(jail_factory(seccomp=False), SYSCALLS)
    assert code == 0, out
    seen = json.loads(out)
    assert seen["seccomp"] == ["0"]
    assert seen["ptrace"] == 0 and seen["unshare"] == 0 and seen["personality"] == 0


def test_honest_research_work_runs_under_the_filter(jail_factory: MakeJail) -> None:
    """Attack 9, the other side of the guarantee: the filter must not break honest work —
    threads (clone3 falls back to clone), a process pool, a bash pipeline and numpy run."""
    code, out = python(jail_factory(), HONEST_WORK, timeout=120)
    assert code == 0, out
    assert json.loads(out) == {"threads": 8, "pool": [1, 2, 3], "pipe": "100", "numpy": 25.0}


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop applies when kubegym runs as root")
def test_a_jail_started_by_root_is_never_the_hosts_root(jail_factory: MakeJail, dirs: Dirs) -> None:
    """Attack 9 (uid mapping): as root, kubegym's jail used to map the sandbox user to host
    uid 0. The agent writes a file and tries to signal a host root process. Guarantee: the
    file is owned on the host by an unprivileged uid, every process of the jail has non-root
    host uids, no capabilities and a uid_map onto that uid only, and the signal fails."""
    jail = jail_factory(pids=64)
    victim = subprocess.Popen(["sleep", "60"])  # a host process of root's
    try:
        process = jail.popen(
            ["sh", "-c", "touch /workspace/mine; echo ready; sleep 30"], stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        assert (dirs.workspace / "mine").stat().st_uid == isolation.HOST_ID
        inside = sorted(jail.cgroup.pids()) if jail.cgroup else []
        assert inside, "the jail's processes are found through its cgroup"
        mapped = 0
        for pid in inside:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            )
            assert "0" not in status["Uid"].split(), (pid, status["Uid"])
            assert "0" not in status["Gid"].split(), (pid, status["Gid"])
            assert int(status["CapEff"], 16) == 0
            # Seen from the host, the jail's user namespaces map their uids to HOST_ID alone
            # (bubblewrap's own monitor stays in the host's namespace, as HOST_ID: see above).
            if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
                for line in Path(f"/proc/{pid}/uid_map").read_text().splitlines():
                    assert line.split()[1] == str(isolation.HOST_ID), line
                    mapped += 1
        assert mapped > 0
        # Even a process that can name the host pid (it cannot see it: a pid namespace of its
        # own) is refused: the host uid holds no right over root's processes.
        code, out = run(
            jail,
            [
                sys.executable,
                "-c",
                f"import os\ntry: os.kill({victim.pid}, 9)\nexcept OSError as e: print(e.errno)",
            ],
        )
        assert code == 0 and out.strip() in ("1", "3"), out  # EPERM, or ESRCH: not visible
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_host_root_signals_fail_when_the_host_pid_is_reachable(dirs: Dirs, bwrap: str) -> None:
    """Attack 9 (uid mapping), without the pid namespace in the way: a process running with the
    jail's host ids (as the jail's bubblewrap does) signals a root process. Guarantee: EPERM."""
    if os.geteuid() != 0:
        pytest.skip("the uid drop applies when kubegym runs as root")
    victim = subprocess.Popen(["sleep", "60"])
    try:
        setup = launch.child_setup(None, launch.Launch(drop=specs.host_ids(None)))
        result = subprocess.run(
            ["kill", "-9", str(victim.pid)], preexec_fn=setup, capture_output=True, text=True
        )
        assert result.returncode != 0 and "not permitted" in result.stderr
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


# -- the disk quota ---------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="an enforced quota needs root (loop mount)")
def test_writing_past_the_ephemeral_storage_limit_fails_and_is_reported(
    bwrap: str, tmp_path: Path
) -> None:
    """Attack 7 (no local disk limit): in a task that declares 2Gi of ephemeral storage the
    agent writes 2.7 GB into its workspace. Guarantee: the write stops with ENOSPC inside at
    the quota, the host's disk grows by at most the quota, the agent is told (a limit event),
    and after the trial the workspace is an ordinary folder with the agent's files."""
    quota = 2 << 30
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "starter.py").write_text("print('starter')\n")
    request = local.SandboxRequest(name="attack-disk", workspace=workspace, disk_bytes=quota)
    sandbox = local.open_sandbox(request)
    try:
        assert sandbox.describe()["disk"]["mechanism"] == "loop-ext4"
        result = sandbox.client.exec(
            "head -c 2700000000 /dev/zero > big.bin; echo status=$?; du -sb big.bin",
            timeout=300,
        )
        out = result.output
        assert "No space left on device" in out and "status=1" in out, out
        written = int(out.split("du -sb")[0].split("status=1")[1].split()[0])
        assert quota - (64 << 20) < written <= quota
        # What the host's disk holds for this sandbox: the image's allocated blocks (the disk
        # is shared with other work, so its free space is no measure of this one sandbox).
        assert sandbox.jail.disk is not None and sandbox.jail.disk.image is not None
        image = sandbox.jail.disk.image
        assert image.stat().st_blocks * 512 <= quota
        events = sandbox.limit_events()
        assert any("workspace is full" in e for e in events), events
        assert sandbox.limit_events() == []  # told once per filling, not every step
        sandbox.client.exec("rm big.bin; echo kept > result.txt")
    finally:
        sandbox.close()
    assert not os.path.ismount(workspace)
    assert (workspace / "result.txt").read_text() == "kept\n"
    assert (workspace / "starter.py").read_text() == "print('starter')\n"
    assert not image.exists()


def test_tmp_is_limited_to_the_disk_quota_too(jail_factory: MakeJail) -> None:
    """Attack 7, through /tmp: the agent writes past the quota into /tmp instead of the
    workspace. Guarantee: ENOSPC at the quota (a tmpfs of that size), not the host's memory."""
    jail = jail_factory(disk_bytes=64 << 20, memory_bytes=512 << 20)
    code, out = run(
        jail, ["sh", "-c", "head -c 100000000 /dev/zero > /tmp/big; echo $?; du -sb /tmp/big"]
    )
    assert code == 0 and "No space left on device" in out and out.split()[-3] == "1", out
    assert int(out.split()[-2]) <= 64 << 20


def test_without_root_the_quota_is_reported_unenforced_and_watched(tmp_path: Path) -> None:
    """Attack 7, the fallback: where nothing can enforce the quota it says so (mechanism
    ``unenforced`` with the reason) and still reports the overrun — never a silent no-limit."""
    from kubegym.sandbox import quota as quota_mod

    workspace = tmp_path / "ws"
    workspace.mkdir()
    disk = quota_mod.DiskQuota(workspace, 1 << 20, "unenforced", notes=["disk: test"])
    (workspace / "big").write_bytes(b"x" * (2 << 20))
    assert disk.exceeded() and disk.usage() >= 2 << 20
    assert disk.describe()["mechanism"] == "unenforced"


# -- the servers ------------------------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[Server, int]]:
    """The sandbox server's HTTP side, in this process, with a 1-second idle timeout."""
    config = server.ServerConfig(workspace=tmp_path, token=TOKEN, host="127.0.0.1", port=0)
    app = server.SandboxApp(config)
    srv = server.make_http_server(app)
    srv.RequestHandlerClass.timeout = 1.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv, int(srv.server_address[1])  # type: ignore[index,misc]
    finally:
        srv.shutdown()
        srv.server_close()
        app.session.close()
        thread.join()


def _healthz(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock``; waits at most 10 s (a hung server fails the test)."""
    sock.settimeout(10)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_half_open_connections_are_closed_and_the_server_still_answers(
    http_server: tuple[Server, int],
) -> None:
    """Attack 8 (servers keep idle connections for ever): 50 connections send half a request
    and stall. Guarantee: the server answers a good request meanwhile, closes all 50 within its
    timeout, and holds no thread for them afterwards."""
    srv, port = http_server
    stalled = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\n")
        stalled.append(sock)
    assert _healthz(port) == 200
    assert all(_closed_by_server(sock) for sock in stalled)
    for sock in stalled:
        sock.close()
    assert _healthz(port) == 200
    deadline = time.monotonic() + 10
    while srv.open_connections() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.open_connections() == 0


def test_clients_that_reset_mid_request_leave_no_tracebacks(
    http_server: tuple[Server, int], capfd: pytest.CaptureFixture[str]
) -> None:
    """Attack 8 (log flooding): 20 clients send half a request head and reset the connection
    (SO_LINGER 0). Guarantee: the server still answers and writes no traceback for any of
    them; a client going away is not a server error."""
    _, port = http_server
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.02)  # the server's handler is reading the head when the reset comes
        sock.close()
    time.sleep(0.2)
    assert _healthz(port) == 200
    written = capfd.readouterr().err
    assert "Traceback" not in written, written[-2000:]


def test_a_slowloris_trickle_is_cut_off(http_server: tuple[Server, int]) -> None:
    """Attack 8 (slowloris): a client sends its request head one byte every 0.2 s, never
    silent long enough for an idle timeout. Guarantee: the server cuts it off (the head has
    the timeout in all), long before the head is complete."""
    _, port = http_server
    sock = socket.create_connection(("127.0.0.1", port))
    head = b"GET /healthz HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n"
    sent, cut = 0, False
    try:
        for byte in head:
            sock.send(bytes([byte]))
            sent += 1
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                if sock.recv(1) == b"":
                    cut = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
    except (ConnectionResetError, BrokenPipeError):
        cut = True
    finally:
        sock.close()
    assert cut and sent < len(head), sent


def test_a_huge_unauthenticated_body_is_refused_without_being_read(
    http_server: tuple[Server, int],
) -> None:
    """Attack 8 (256 MiB read before refusing): a client without the token announces a
    256 MiB body. Guarantee: the 401 arrives before a single body byte is sent (the server
    read none), and the connection is closed: the client cannot push the body through."""
    _, port = http_server
    size = 256 * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/files/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
    )
    sock.settimeout(10)
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
    sent = 0
    chunk = b"x" * (1 << 20)
    try:
        while sent < size:
            sent += sock.send(chunk)
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass
    finally:
        sock.close()
    assert sent < 32 * 1024 * 1024, sent  # socket buffers at most, never the body


def test_a_body_over_the_limit_is_413_before_the_token_is_checked(
    http_server: tuple[Server, int],
) -> None:
    """Attack 8 (body limit after auth): over the server's limit, even with a valid token, and
    bad or chunked lengths. Guarantee: 413 / 400 / 411 at once, nothing read, and the server
    keeps answering."""
    _, port = http_server
    cases = {
        f"Content-Length: {server.MAX_REQUEST_BYTES + 1}": b"HTTP/1.1 413",
        "Content-Length: lots": b"HTTP/1.1 400",
        "Transfer-Encoding: chunked": b"HTTP/1.1 411",
    }
    for header, expected in cases.items():
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            f"POST /v1/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"{header}\r\n\r\n".encode()
        )
        sock.settimeout(10)
        assert sock.recv(65536).startswith(expected), header
        assert _closed_by_server(sock)
        sock.close()
    assert _healthz(port) == 200


def test_connections_past_the_cap_get_503_at_once(
    http_server: tuple[Server, int],
) -> None:
    """Attack 8 (one thread per connection, for ever): an agent opens more connections than
    the cap. Guarantee: those past the cap are answered 503 and closed at once (no thread
    each), and once the stalled ones time out the server serves again."""
    srv, port = http_server
    srv.max_connections = 5
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    deadline = time.monotonic() + 10
    while srv.open_connections() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    extra = socket.create_connection(("127.0.0.1", port))
    extra.settimeout(10)
    assert extra.recv(65536).startswith(b"HTTP/1.1 503")
    assert _closed_by_server(extra)
    extra.close()
    assert all(_closed_by_server(sock) for sock in held)
    for sock in held:
        sock.close()
    while srv.open_connections() > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _healthz(port) == 200
