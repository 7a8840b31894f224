"""The Dockerfile reader the image tests use: the package's own (`kubegym.images._dockerfile`).

`kubegym.images` reads the same instructions to hash what each build copies, so the
tests and the builds agree on what a Dockerfile says.
"""

from __future__ import annotations

from kubegym.images._dockerfile import Dockerfile, Instruction, Stage, copied, parse

__all__ = ["Dockerfile", "Instruction", "Stage", "copied", "parse"]
