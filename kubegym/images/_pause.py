"""The ``pause`` image: `pause.c` compiled here (``gcc -static -Os``), alone FROM scratch.

A real Kubernetes node starts every pod's sandbox from a pause image, and none can
be pulled where kubegym's node tests run; `kubegym.images._build` builds this one
and the lock names it for the node's containerd (``sandbox_image``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Final

from kubegym.images import _buildah, _tools

SOURCE: Final = Path(__file__).with_name("pause.c")
FLAGS: Final = ("-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror")
#: The uid and gid Kubernetes' own pause image runs as.
USER: Final = "65535:65535"
CONFIG: Final = _buildah.ImageConfig(
    entrypoint=("/pause",),
    user=USER,
    labels={
        "org.opencontainers.image.title": "kubegym pause",
        "org.opencontainers.image.description": "Holds a pod's namespaces: sleeps, reaps "
        "orphans, exits 0 on SIGINT or SIGTERM",
        "org.opencontainers.image.source": "https://github.com/kubegym/kubegym",
        "org.opencontainers.image.licenses": "Apache-2.0",
    },
)


def compile_command(out: Path) -> list[str]:
    return ["gcc", *FLAGS, "-o", str(out), str(SOURCE)]


def compiler() -> str:
    """The compiler's version line, part of the image's input hash."""
    done = subprocess.run(["gcc", "--version"], capture_output=True, text=True)
    return done.stdout.splitlines()[0] if done.returncode == 0 and done.stdout else "absent"


def compile_binary(work: Path, log: Path) -> Path:
    """Compile `pause.c` into ``work``; the binary's path.

    Raises:
        ImageError: gcc failed (a static glibc needs libc6-dev).
    """
    work.mkdir(parents=True, exist_ok=True)
    binary = work / "pause"
    _tools.run(compile_command(binary), log=log)
    return binary


def fill(binary: Path) -> Callable[[Path], None]:
    """The `_buildah.commit_rootfs` filler that puts ``binary`` at ``/pause``."""

    def put(root: Path) -> None:
        target = root / "pause"
        shutil.copyfile(binary, target)
        target.chmod(0o755)

    return put
