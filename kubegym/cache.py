"""Where kubegym keeps what it builds and fetches, outside any clone.

One root for every cache: task venvs and prepared data (`kubegym.tasks`), images
(`kubegym.images`), the development cluster's binaries and state
(`kubegym.devcluster`). It sits at the bottom of the layers, so each of them
finds the same folder without importing another.
"""

from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    """``$KUBEGYM_CACHE``, else ``$XDG_CACHE_HOME/kubegym`` (``~/.cache/kubegym``)."""
    if env := os.environ.get("KUBEGYM_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubegym"
