"""Running the build tools (buildah, mmdebstrap, gcc, skopeo) and saying what failed.

Every module of `kubegym.images` that starts a program goes through `run`: the
program's output goes to a log file (and to stderr with ``verbose``), and a failure
raises `ImageError` with the log's last lines and its path.
"""

from __future__ import annotations

import collections
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from kubegym.errors import KubegymError

#: Lines of a failed command's log quoted in the error.
TAIL_LINES: Final = 25


class ImageError(KubegymError):
    """An image could not be built, exported or pushed; the message says which step."""


def missing(*tools: str) -> list[str]:
    """The programs among ``tools`` that are not on PATH."""
    return [tool for tool in tools if shutil.which(tool) is None]


def require(*tools: str, why: str) -> None:
    """Raise `ImageError` naming the missing programs (Debian packages of the same names).

    Args:
        tools: the programs needed.
        why: what they are needed for, for the message.
    """
    absent = missing(*tools)
    if absent:
        raise ImageError(
            f"{why} needs {', '.join(absent)} on PATH (Debian: apt-get install {' '.join(absent)})"
        )


def run(
    command: Sequence[str],
    *,
    log: Path | None = None,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = True,
) -> str:
    """Run ``command``; return its standard output (with ``capture``).

    Args:
        command: the program and its arguments.
        log: a file to append the command line and everything it writes to.
        verbose: copy the command line and its output to this process's stderr too.
        env: the whole environment of the command (this process's when None).
        cwd: the folder to run it in.
        capture: return the standard output (for short commands whose answer is
            needed); otherwise the output streams to the log as it comes, for long
            builds, and the answer is empty.

    Raises:
        ImageError: the command exited non-zero (with the end of its output).
    """
    text = shlex.join(command)
    if verbose:
        print(f"+ {text}", file=sys.stderr, flush=True)
    out = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("a", encoding="utf-8")
        out.write(f"+ {text}\n")
        out.flush()
    try:
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        answer = ""
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if capture else subprocess.STDOUT,
            text=True,
            errors="replace",
            env=None if env is None else dict(env),
            cwd=cwd,
        )
        lines: Iterable[str]
        if capture:
            answer, errors = process.communicate()
            lines = (answer + errors).splitlines(keepends=True)
        else:
            assert process.stdout is not None
            lines = process.stdout
        for line in lines:
            tail.append(line.rstrip("\n"))
            if out is not None:
                out.write(line)
            if verbose:
                sys.stderr.write(line)
        code = process.wait()
    finally:
        if out is not None:
            out.close()
    if code != 0:
        where = f"; the whole log: {log}" if log is not None else ""
        raise ImageError(
            f"{command[0]} failed (exit {code}): {text}\n"
            + "\n".join(f"  | {line}" for line in tail)
            + where
        )
    return answer


def clean_env(**extra: str) -> dict[str, str]:
    """A small environment for build tools: PATH, proxies, and ``extra``.

    The host's pip and Python variables (``PIP_FIND_LINKS``…) must not leak into a
    root file system being built.
    """
    keep = {"PATH", "HOME", "TMPDIR"}
    proxies = {"http_proxy", "https_proxy", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.lower() in proxies}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return {**env, **extra}
