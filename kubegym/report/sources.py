"""Where a finished run's files are read from: a local run folder, or a run in S3.

`kubegym report` reads a run through the tiny `RunSource` interface (list the
files, read one), so the loader (`kubegym.report.loading`) never knows which
it has. The local folder is implemented here; S3 goes through `kubegym.store`,
imported only when an ``s3://`` SOURCE is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from kubegym.errors import ConfigError

S3_SCHEME = "s3://"

# A trial interrupted mid-attempt leaves its live workspace (any number of files)
# next to its trajectory; it is not evidence the report reads, so listing skips it.
_SKIPPED_FOLDERS = frozenset({"workspace"})


class RunSource(Protocol):
    """A run's files, by path relative to the run (``trials/<id>/results.json``, with ``/``)."""

    @property
    def name(self) -> str:
        """The run's name as its location spells it (the folder's or the prefix's last part)."""
        ...

    @property
    def location(self) -> str:
        """Where the run is, for messages (a path or an ``s3://`` URI)."""
        ...

    def list_files(self) -> list[str]:
        """Every file under the run, relative to it."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """One file's content; `path` as `list_files` gives it."""
        ...


class LocalRunFolder:
    """A run folder on this machine, as `kubegym run --out` leaves it.

    Raises:
        ConfigError: the folder does not exist or is not a folder.
    """

    def __init__(self, folder: Path):
        if not folder.exists():
            raise ConfigError(f"{folder} does not exist", hint="give a run folder or an s3:// URI")
        if not folder.is_dir():
            raise ConfigError(
                f"{folder} is not a folder",
                hint="give the folder `kubegym run --out` wrote (it holds trials/)",
            )
        self.folder = folder.resolve()

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def location(self) -> str:
        return str(self.folder)

    def list_files(self) -> list[str]:
        found: list[str] = []
        for root, folders, files in os.walk(self.folder):
            folders[:] = [f for f in folders if f not in _SKIPPED_FOLDERS]
            relative = os.path.relpath(root, self.folder)
            prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            found.extend(prefix + f for f in files)
        return found

    def read_bytes(self, path: str) -> bytes:
        return (self.folder / path).read_bytes()


def open_source(source: str) -> RunSource:
    """The run at SOURCE: an ``s3://bucket/prefix/run`` URI or a local folder.

    Raises:
        ConfigError: the folder does not exist, or S3 support is not available.
    """
    if source.startswith(S3_SCHEME):
        return _open_s3(source)
    return LocalRunFolder(Path(source))


def _open_s3(uri: str) -> RunSource:
    try:
        from kubegym import store  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise ConfigError(
            f"cannot read {uri}: S3 sources need kubegym.store, which this installation lacks",
            hint="report on a local copy of the run folder instead",
        ) from None
    opener = getattr(store, "open_run_source", None)
    if opener is None:
        raise ConfigError(
            f"cannot read {uri}: S3 sources need kubegym.store's run reader (open_run_source)",
            hint="report on a local copy of the run folder instead",
        )
    source: RunSource = opener(uri)
    return source


__all__ = ["S3_SCHEME", "LocalRunFolder", "RunSource", "open_source"]
