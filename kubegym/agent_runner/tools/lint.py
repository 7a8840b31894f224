"""flake8 as MLGym's edit and insert run it, and which of its errors an edit introduced.

MLGym's ``tools/edit_linting.sh`` and ``tools/insert_linting.sh`` lint a Python file before and
after a change with ``flake8 --isolated --select=F821,F822,F831,E111,E112,E113,E999,E902`` and
refuse the change when ``tools/_split_string.py`` finds an error the file did not have before.
Used by `kubegym.agent_runner.tools.linted` (the ``mlgym`` tool preset).

flake8 runs here, in the agent runner, on the two texts the editor holds: the editor reads the
file through the sandbox, changes it in memory and writes it back, so the texts are the file.
Nothing the agent leaves in its sandbox reaches the verdict: not a ``flake8`` of its own on the
PATH, not a ``setup.cfg``, ``.flake8`` or ``tox.ini`` (``--isolated`` ignores configuration
files, and flake8 runs in a private folder that holds only the two texts), not ``PYTHON*``
variables (``python -I``). flake8 is pinned in the ``agent`` extra, so the lint is the same
locally and in the agent pod.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SELECT = "F821,F822,F831,E111,E112,E113,E999,E902"
"""MLGym's error codes: undefined names, bad ``__all__`` entries, duplicate arguments, bad
indentation, syntax errors and unreadable files; style is never checked."""

TIMEOUT_S = 60.0
"""How long one lint may take (two texts of at most the editor's 2 MB each)."""

PYTHON = sys.executable
"""The interpreter that runs flake8: the agent runner's own, where the ``agent`` extra put it."""

_BEFORE, _AFTER = "before.py", "after.py"


class LintFailed(Exception):
    """flake8 gave no verdict (not installed, crashed or too slow); the message says why."""


@dataclasses.dataclass(frozen=True)
class Flake8Error:
    """One line of flake8's output, split as MLGym's ``Flake8Error.from_line`` splits it."""

    line: int
    column: int
    problem: str
    """The code and the message: ``F821 undefined name 'x'``."""

    @classmethod
    def from_line(cls, text: str) -> tuple[str, Flake8Error]:
        """The file name and the error of a ``file:line:column: problem`` line.

        Raises:
            LintFailed: the line has another shape.
        """
        prefix, _, problem = text.partition(": ")
        parts = prefix.split(":")
        if len(parts) == 3:
            name, line, column = parts
        elif len(parts) == 2:
            (name, line), column = parts, "0"
        else:
            raise LintFailed(f"unexpected flake8 output: {text!r}")
        try:
            return name, cls(int(line), int(column), problem)
        except ValueError:
            raise LintFailed(f"unexpected flake8 output: {text!r}") from None


def check_available() -> str | None:
    """Why flake8 cannot run here; None when it can."""
    try:
        result = subprocess.run(
            [PYTHON, "-I", "-m", "flake8", "--version"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"flake8 does not start: {error}"
    if result.returncode != 0:
        return f"flake8 is not installed for {PYTHON}: {result.stderr.strip()[-300:]}"
    return None


def run(before: str, after: str) -> tuple[list[Flake8Error], list[Flake8Error]]:
    """flake8's errors in the text before a change and in the text after it, in its order.

    Raises:
        LintFailed: flake8 gave no verdict.
    """
    with tempfile.TemporaryDirectory(prefix="kubegym-lint-") as folder:
        for name, text in ((_BEFORE, before), (_AFTER, after)):
            (Path(folder) / name).write_bytes(text.encode("utf-8", errors="surrogateescape"))
        command = [
            PYTHON,
            "-I",  # PYTHONPATH, PYTHONSTARTUP, the user's site folder: none of them apply
            "-m",
            "flake8",
            "--isolated",
            f"--select={SELECT}",
            "--jobs=1",
            _BEFORE,
            _AFTER,
        ]
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": folder}
        try:
            result = subprocess.run(
                command,
                cwd=folder,
                env=environment,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LintFailed(f"flake8 took more than {TIMEOUT_S:g} seconds") from None
        except OSError as error:
            raise LintFailed(f"flake8 does not start: {error}") from None
    # 0: no error found, 1: errors found; anything else is flake8 failing.
    if result.returncode not in (0, 1):
        raise LintFailed(f"flake8 failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    found: dict[str, list[Flake8Error]] = {_BEFORE: [], _AFTER: []}
    for text in result.stdout.splitlines():
        if text.strip():
            name, problem = Flake8Error.from_line(text.strip())
            if name not in found:
                raise LintFailed(f"flake8 reported a file it was not given: {text!r}")
            found[name].append(problem)
    return found[_BEFORE], found[_AFTER]


def new_errors(
    before: Sequence[Flake8Error],
    after: Sequence[Flake8Error],
    window: tuple[int, int],
    n_lines: int,
) -> list[Flake8Error]:
    """The errors after a change that were not there before, as MLGym's ``_split_string`` has it.

    An error before the changed lines ``window`` (first, last; 1-based) keeps its place; one
    inside them is forgotten (any error on the new lines counts as new); one after them moves by
    the lines the change added (``n_lines`` new lines for the window's). An error after the change
    is new unless one before it matches on line, column and text.

    MLGym's insert passes a window as long as the inserted text, so errors below an insertion
    are not moved and come back as new at their new lines: kept, as MLGym does it.
    """
    first, last = window
    added = n_lines - (last - first + 1)
    known = []
    for error in before:
        if error.line < first:
            known.append(error)
        elif error.line > last:
            known.append(dataclasses.replace(error, line=error.line + added))
    return [error for error in after if error not in known]


def describe(errors: Sequence[Flake8Error]) -> str:
    """The errors as MLGym lists them: ``- F821 undefined name 'x'``, without line numbers."""
    return "\n".join(f"- {error.problem}" for error in errors)
