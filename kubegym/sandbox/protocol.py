"""What every sandbox offers the agent runner: commands in a persistent shell, and files.

The sandbox command server (`kubegym.sandbox.server`) implements it inside a pod
or a bubblewrap jail; `kubegym.sandbox.client.SandboxClient` speaks to that
server over HTTP and is what the agent runner and the evaluator hold. Standard
library only: this package is installed into task images without dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command in the sandbox's persistent shell."""

    output: str
    """Standard output and standard error, interleaved, cut with a marker when too long."""

    exit_code: int | None
    """The command's exit status; None when it was killed (timeout)."""

    timed_out: bool = False
    """The command ran past its timeout and its whole process group was killed."""

    truncated: bool = False
    """The output was longer than the limit and was cut (the marker says how much)."""

    duration_s: float = 0.0
    """Wall-clock seconds the command took."""


@dataclass(frozen=True)
class FileEntry:
    """One entry of a folder listing, relative to the workspace."""

    path: str
    kind: Literal["file", "dir", "link", "other"]
    size: int


class Sandbox(Protocol):
    """A trial's sandbox, as the agent runner sees it. Paths are relative to the workspace
    (or absolute inside the sandbox)."""

    def exec(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` in the persistent bash session (cwd and env carry over)."""
        ...

    def read_file(self, path: str) -> bytes:
        """The bytes of a file. Raises FileNotFoundError or IsADirectoryError."""
        ...

    def write_file(self, path: str, data: bytes) -> None:
        """Create or replace a file, making parent folders."""
        ...

    def list_files(self, path: str = ".", recursive: bool = False) -> list[FileEntry]:
        """The entries under a folder. Raises FileNotFoundError or NotADirectoryError."""
        ...

    def close(self) -> None:
        """Release the connection (the sandbox itself is stopped by its owner)."""
        ...
