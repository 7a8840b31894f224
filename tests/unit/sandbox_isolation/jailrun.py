"""Helpers for the jail tests: run a command or Python code inside a jail, collect its output."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from kubegym.sandbox import isolation


def run(jail: isolation.Jail, argv: Sequence[str], timeout: float = 30) -> tuple[int, str]:
    """Run ``argv`` in ``jail``; its exit status and output (stdout and stderr together)."""
    process = jail.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out.decode(errors="replace")


def python(jail: isolation.Jail, code: str, timeout: float = 30) -> tuple[int, str]:
    """Run Python ``code`` in ``jail`` with the interpreter the tests run on (bound inside)."""
    return run(jail, [sys.executable, "-c", code], timeout)
