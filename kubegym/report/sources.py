"""Where a finished run's files are read from: a local run folder, or a run in S3.

`kubegym report` reads a run through the tiny `RunSource` interface (list the
files, read one), so the loader (`kubegym.report.loading`) never knows which
it has. The local folder is read here directly; an ``s3://`` SOURCE goes
through `kubegym.store` (its `open_uri` and `Store.list_keys`/`read_bytes`),
imported only then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kubegym.api import results as results_api
from kubegym.errors import ConfigError

#: A store run's trial attempt folder: ``<trial>/attempt-<n>``.
ATTEMPT_FOLDER = re.compile(r"attempt-\d+")

if TYPE_CHECKING:
    from kubegym.store.base import Store

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
        # os.path, not pathlib: a report reads two files per trial, tens of thousands.
        with open(os.path.join(self.folder, path), "rb") as f:
            return f.read()


def open_source(source: str) -> RunSource:
    """The run at SOURCE: an ``s3://bucket/prefix/run`` URI or a local folder.

    Raises:
        ConfigError: the folder does not exist, or S3 support is not available.
    """
    if source.startswith(S3_SCHEME):
        return _open_s3(source)
    return LocalRunFolder(Path(source))


class StoreRunSource:
    """A run in an artifact store (`kubegym.store.Store`), rooted at the run.

    Keys follow `kubegym.store.keys`: ``<trial-id>/attempt-<n>/results.json``…
    and the run's rollups (``leaderboard.json``) at the top.

    Args:
        store: a store whose root is the run (``kubegym.store.open_uri(uri)``).
        uri: the run's URI, for its name and for messages.
    """

    def __init__(self, store: Store, uri: str):
        self.store = store
        self.uri = uri.rstrip("/")

    @property
    def name(self) -> str:
        return self.uri.rpartition("/")[2] or self.uri

    @property
    def location(self) -> str:
        return self.uri

    def list_files(self) -> list[str]:
        return self.store.list_keys()

    def read_bytes(self, path: str) -> bytes:
        return self.store.read_bytes(path)


def _open_s3(uri: str) -> RunSource:
    # kubegym.store (boto3) is imported only for S3 sources: a folder report never loads it.
    try:
        from kubegym import store
    except ImportError as exc:
        raise ConfigError(
            f"cannot read {uri}: S3 sources need kubegym.store ({exc})",
            hint="install kubegym with boto3, or report on a local copy of the run folder",
        ) from exc
    return StoreRunSource(store.open_uri(uri), uri)


__all__ = ["S3_SCHEME", "LocalRunFolder", "RunSource", "StoreRunSource", "open_source"]


def trial_folders(files: Iterable[str]) -> set[str]:
    """The run's trial folders: ``trials/<id>`` (a local run) or ``<id>/attempt-<n>`` (the store).

    Only these two shapes count, so a folder that holds several runs
    (``out/quickstart/trials/…``, ``out/toy/trials/…``) is not read as one run.
    """
    found: set[str] = set()
    for path in files:
        folder, _, name = path.rpartition("/")
        if name not in (results_api.RESULTS_JSON, results_api.TRAJECTORY_JSONL):
            continue
        parts = folder.split("/")
        if len(parts) == 2 and (parts[0] == "trials" or ATTEMPT_FOLDER.fullmatch(parts[1])):
            found.add(folder)
    return found
