"""The local jail's seccomp filter: a classic-BPF program that bubblewrap loads with ``--seccomp``.

Owns which system calls a sandboxed process may make. A research sandbox runs Python, shells,
compilers and numeric libraries; it never needs to trace other processes, mount file systems,
load BPF programs or kernel modules, use the kernel keyring, create namespaces or change its
personality. Those calls fail with EPERM; a call for a foreign architecture (or an x32 call on
x86_64) kills the process. ``clone3`` answers ENOSYS, as Docker and Flatpak do, because its
flags live in memory a filter cannot read: the C library then falls back to ``clone``, whose
namespace flags the filter does see.

The program is assembled here in pure Python (no libseccomp needed, so this ships into task
images with the standard library only). `kubegym.sandbox.isolation` calls `program` when it
builds a jail; the tests run the blocked calls inside a real jail.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# -- BPF and seccomp constants (linux/filter.h, linux/seccomp.h, linux/audit.h) ----------------
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
_X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH = 0, 4


def _arg_low(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` (both architectures are little-endian)."""
    return 16 + 8 * index


CLONE_NAMESPACES = 0x7E020000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: refused in ``clone``."""

PERSONALITIES_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
"""PER_LINUX, with UNAME26 and/or PER_LINUX32's base; 0xffffffff only queries. Anything else
(ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC…) weakens the process's own defences."""

TIOCSTI, TIOCLINUX = 0x5412, 0x541C
"""ioctls that push input into a terminal: refused (the jail has a session of its own anyway)."""

BLOCKED = (
    *("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
    *("process_madvise", "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig"),
    *("fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "bpf", "keyctl"),
    *("add_key", "request_key", "userfaultfd", "init_module", "finit_module"),
    *("delete_module", "kexec_load", "kexec_file_load", "perf_event_open", "unshare"),
    *("setns", "open_by_handle_at", "reboot", "swapon", "swapoff", "acct", "quotactl"),
    *("quotactl_fd", "iopl", "ioperm", "syslog", "settimeofday", "clock_settime"),
    *("adjtimex", "clock_adjtime", "lookup_dcookie", "vhangup", "uselib", "_sysctl"),
    *("io_uring_setup", "io_uring_enter", "io_uring_register"),
)
"""System calls that fail with EPERM inside the jail (where the architecture has them)."""

_COMMON = {
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429,
    "open_tree": 428, "mount_setattr": 442, "quotactl_fd": 443, "pidfd_getfd": 438,
    "process_madvise": 440, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "clone3": 435,
}  # fmt: skip
"""Numbers shared by every architecture since Linux 5.x's unified table."""

_X86_64 = {
    "ioctl": 16, "clone": 56, "personality": 135, "ptrace": 101, "syslog": 103,
    "uselib": 134, "vhangup": 153, "pivot_root": 155, "_sysctl": 156, "adjtimex": 159,
    "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304,
    "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    **_COMMON,
}  # fmt: skip

_AARCH64 = {
    "lookup_dcookie": 18, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41,
    "chroot": 51, "vhangup": 58, "quotactl": 60, "acct": 89, "personality": 92,
    "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
    "clock_settime": 112, "syslog": 116, "ptrace": 117, "reboot": 142, "settimeofday": 170,
    "adjtimex": 171, "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220,
    "swapon": 224, "swapoff": 225, "perf_event_open": 241, "open_by_handle_at": 265,
    "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271,
    "kcmp": 272, "finit_module": 273, "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294,
    **_COMMON,
}  # fmt: skip


@dataclass(frozen=True)
class Arch:
    """One architecture the filter knows: its audit id and its system call numbers."""

    name: str
    audit: int
    numbers: dict[str, int]


ARCHES = {
    "x86_64": Arch("x86_64", AUDIT_ARCH_X86_64, _X86_64),
    "aarch64": Arch("aarch64", AUDIT_ARCH_AARCH64, _AARCH64),
}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def native_arch() -> Arch | None:
    """The architecture this machine runs, or None when the filter does not know it."""
    return ARCHES.get(_MACHINES.get(platform.machine().lower(), ""))


class _Program:
    """A straight-line BPF program with forward jumps to named labels, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, jt, jf, k) in enumerate(self.code):
            jumps = []
            for target in (jt, jf):
                offset = target if isinstance(target, int) else self.labels[target] - index - 1
                if not 0 <= offset <= 255:
                    raise ValueError(f"BPF jump out of range at instruction {index}")
                jumps.append(offset)
            out += struct.pack("<HBBI", code, jumps[0], jumps[1], k & 0xFFFFFFFF)
        return bytes(out)


def program(arch: Arch | None = None, error: int = errno.EPERM) -> bytes:
    """The filter for ``arch`` (default: this machine's) as bubblewrap's ``--seccomp`` reads it.

    Args:
        arch: the architecture the jail runs; every other one is killed.
        error: the errno a blocked call returns.

    Returns:
        ``struct sock_filter`` entries, native (little-endian) byte order.

    Raises:
        ValueError: the architecture is not one the filter knows (x86_64, aarch64).
    """
    arch = arch or native_arch()
    if arch is None:
        raise ValueError(f"no seccomp filter for architecture {platform.machine()!r}")
    nr = arch.numbers
    p = _Program()
    p.op(_LD_W_ABS, _ARCH)
    p.op(_JEQ_K, arch.audit, 1, 0)
    p.op(_RET_K, RET_KILL_PROCESS)
    p.op(_LD_W_ABS, _NR)
    if arch.name == "x86_64":  # x32 calls reach the same kernel code under other numbers
        p.op(_JGE_K, _X32_SYSCALL_BIT, "kill", 0)
    for name in BLOCKED:
        if name in nr:
            p.op(_JEQ_K, nr[name], "deny", 0)
    p.op(_JEQ_K, nr["clone3"], "enosys", 0)
    p.op(_JEQ_K, nr["clone"], "clone", 0)
    p.op(_JEQ_K, nr["personality"], "personality", 0)
    p.op(_JEQ_K, nr["ioctl"], "ioctl", 0)
    p.op(_RET_K, RET_ALLOW)
    p.label("clone")
    p.op(_LD_W_ABS, _arg_low(0))
    p.op(_JSET_K, CLONE_NAMESPACES, "deny", "allow")
    p.label("personality")
    p.op(_LD_W_ABS, _arg_low(0))
    for value in PERSONALITIES_ALLOWED:
        p.op(_JEQ_K, value, "allow", 0)
    p.op(_RET_K, RET_ERRNO | error)
    p.label("ioctl")
    p.op(_LD_W_ABS, _arg_low(1))
    p.op(_JEQ_K, TIOCSTI, "deny", 0)
    p.op(_JEQ_K, TIOCLINUX, "deny", "allow")
    p.label("allow")
    p.op(_RET_K, RET_ALLOW)
    p.label("deny")
    p.op(_RET_K, RET_ERRNO | error)
    p.label("enosys")
    p.op(_RET_K, RET_ERRNO | errno.ENOSYS)
    p.label("kill")
    p.op(_RET_K, RET_KILL_PROCESS)
    return p.assemble()
