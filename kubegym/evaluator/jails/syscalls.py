"""The system calls a remote jail may not make: sockets, SysV IPC and POSIX message queues,
refused by a seccomp filter loaded with `kubegym.sandbox.seccomp`'s program (ptrace, mount, bpf…).

A pod's containers share one network and IPC namespace, so the sandbox is a
``localhost`` away from the jail container; these filters close that path. Called by the
jail server, for ``process`` jails (bubblewrap jails have namespaces of their own).
"""

from __future__ import annotations

import errno
import struct

from kubegym.sandbox import seccomp as _seccomp

#: System calls a remote jail never makes, by architecture: sockets (a pod's containers
#: share one network namespace: the sandbox is a localhost away; abstract Unix sockets are
#: per network namespace too), SysV IPC and POSIX message queues (one IPC namespace per pod).
#: ``socketpair`` stays allowed (connected pairs reach nothing else).
_NETWORK_CALLS: dict[str, dict[str, int]] = {
    "x86_64": {"socket": 41, "shmget": 29, "shmat": 30, "msgget": 68, "semget": 64,
               "mq_open": 240},
    "aarch64": {"socket": 198, "shmget": 194, "shmat": 196, "msgget": 186, "semget": 190,
                "mq_open": 180},
}  # fmt: skip

_BOOT = """\
import ctypes, runpy, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:
    raise SystemExit('kubegym jail: no_new_privs was refused')
class Program(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
for hexed in sys.argv[1].split(','):
    code = ctypes.create_string_buffer(bytes.fromhex(hexed))
    program = Program(len(code.raw) // 8, ctypes.addressof(code))
    if libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:
        raise SystemExit('kubegym jail: the seccomp filter was refused: errno %d' % ctypes.get_errno())
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""
"""Runs first in a remote jail's interpreter: loads the filters (``argv[1]``), then the kit."""


def network_filter() -> bytes:
    """A seccomp program refusing `_NETWORK_CALLS` with EACCES (this machine's architecture).

    Raises:
        ValueError: the architecture is not one the filter knows.
    """
    arch = _seccomp.native_arch()
    if arch is None or arch.name not in _NETWORK_CALLS:
        raise ValueError("no seccomp filter for this machine's architecture")
    calls = list(_NETWORK_CALLS[arch.name].values())
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    code = [(ld_abs, 0, 0, 4), (jeq, 1, 0, arch.audit), (ret, 0, 0, _seccomp.RET_KILL_PROCESS)]
    code.append((ld_abs, 0, 0, 0))
    for index, number in enumerate(calls):
        code.append((jeq, len(calls) - index, 0, number))  # to the final "deny"
    code.append((ret, 0, 0, _seccomp.RET_ALLOW))
    code.append((ret, 0, 0, _seccomp.RET_ERRNO | errno.EACCES))
    return b"".join(struct.pack("<HBBI", op, jt, jf, k) for op, jt, jf, k in code)


def filter_boot() -> list[str]:
    """The interpreter arguments that load the jail filters before the kit runs."""
    programs = [_seccomp.program(), network_filter()]
    return ["-c", _BOOT, ",".join(p.hex() for p in programs)]
