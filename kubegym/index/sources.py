"""Where a run's files are read from: a local run folder, or a run in S3; and runs under a prefix.

Readers (`kubegym.index`'s ingest, `kubegym report`, the viewer) read a run
through the tiny `RunSource` interface (list the files, read one, tell whether
one changed), so they never know which they have. The local folder is read here
directly; an ``s3://`` SOURCE goes through `kubegym.store` (its `open_uri` and
`Store.list_objects`/`read_bytes`), imported only then. `split_runs` turns a
folder or prefix holding many runs into one source per run, from one listing.
It sits below the report so the index, the report and the viewer share it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from kubegym.api import results as results_api
from kubegym.errors import ConfigError

#: A store run's trial attempt folder: ``<trial>/attempt-<n>``.
ATTEMPT_FOLDER = re.compile(r"attempt-\d+")
#: A local run's trial folders are ``trials/<id>``.
TRIALS: Final = "trials"
LEADERBOARD: Final = "leaderboard.json"

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
        """Where the run is, for messages and as its identity (a path or an ``s3://`` URI)."""
        ...

    def list_files(self) -> list[str]:
        """Every file under the run, relative to it."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """One file's content; `path` as `list_files` gives it."""
        ...

    def fingerprints(self, paths: Iterable[str]) -> dict[str, str]:
        """A version tag per file that changes whenever the file does (size and mtime, or ETag).

        Paths that are gone are left out of the answer.
        """
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
        self._root = str(self.folder)  # os.path on str: a run has tens of thousands of files

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def location(self) -> str:
        return str(self.folder)

    def list_files(self) -> list[str]:
        # scandir, not os.walk: a 10,000-trial run is tens of thousands of files, and
        # os.walk's relpath per folder cost more than the listing itself. As os.walk
        # does, a link to a folder is not followed.
        found: list[str] = []
        pending = [("", self._root)]
        while pending:
            prefix, path = pending.pop()
            with os.scandir(path) as entries:
                for entry in entries:
                    if not entry.is_dir():
                        found.append(prefix + entry.name)
                    elif entry.name not in _SKIPPED_FOLDERS and not entry.is_symlink():
                        pending.append((f"{prefix}{entry.name}/", entry.path))
        return found

    def read_bytes(self, path: str) -> bytes:
        # os.path, not pathlib: a report reads two files per trial, tens of thousands.
        with open(os.path.join(self._root, path), "rb") as f:
            return f.read()

    def fingerprints(self, paths: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in paths:
            try:
                info = os.stat(os.path.join(self._root, path))
            except OSError:
                continue
            # Nanoseconds: the local runner rewrites results.json atomically, often within
            # a second of the last write, and a same-size rewrite must still show.
            found[path] = f"{info.st_size}:{info.st_mtime_ns}"
        return found


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
    and the run's rollups (``leaderboard.json``) at the top. One listing gives
    every key with its size and ETag (`Store.list_objects`), so telling which
    results changed costs no request per file.

    Args:
        store: a store whose root is the run (``kubegym.store.open_uri(uri)``).
        uri: the run's URI, for its name and for messages.
    """

    def __init__(self, store: Store, uri: str):
        self.store = store
        self.uri = uri.rstrip("/")
        self._tags: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.uri.rpartition("/")[2] or self.uri

    @property
    def location(self) -> str:
        return self.uri

    def list_files(self) -> list[str]:
        objects = self.store.list_objects()
        self._tags = {o.key: f"{o.size}:{o.etag or o.sha256 or o.mtime}" for o in objects}
        return [o.key for o in objects]

    def read_bytes(self, path: str) -> bytes:
        return self.store.read_bytes(path)

    def fingerprints(self, paths: Iterable[str]) -> dict[str, str]:
        if self._tags is None:
            self.list_files()
        assert self._tags is not None
        return {p: self._tags[p] for p in paths if p in self._tags}


class PrefixedRunSource:
    """One run inside a source that holds many (``<prefix>/<run>/…``), from the parent's listing.

    Args:
        parent: the folder or store prefix holding the runs.
        prefix: the run's path under it (no trailing ``/``); "" for the parent itself,
            whose listing is then kept (one listing per ingest, not two).
        files: the run's files relative to the run (already listed by the parent).
    """

    def __init__(self, parent: RunSource, prefix: str, files: list[str]):
        self.parent = parent
        self.prefix = prefix
        self._files = files

    @property
    def name(self) -> str:
        return self.prefix.rpartition("/")[2] if self.prefix else self.parent.name

    @property
    def location(self) -> str:
        if not self.prefix:
            return self.parent.location
        return f"{self.parent.location.rstrip('/')}/{self.prefix}"

    def list_files(self) -> list[str]:
        return list(self._files)

    def read_bytes(self, path: str) -> bytes:
        return self.parent.read_bytes(f"{self.prefix}/{path}" if self.prefix else path)

    def fingerprints(self, paths: Iterable[str]) -> dict[str, str]:
        if not self.prefix:
            return self.parent.fingerprints(paths)
        tags = self.parent.fingerprints(f"{self.prefix}/{p}" for p in paths)
        cut = len(self.prefix) + 1
        return {path[cut:]: tag for path, tag in tags.items()}


def _open_s3(uri: str) -> RunSource:
    # kubegym.store is imported only for S3 sources: a folder report never loads it (boto3,
    # a dependency, loads later still: when the first request is made).
    from kubegym import store

    return StoreRunSource(store.open_uri(uri), uri)


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
        if len(parts) == 2 and (parts[0] == TRIALS or ATTEMPT_FOLDER.fullmatch(parts[1])):
            found.add(folder)
    return found


def trial_of(folder: str) -> tuple[str, int | None]:
    """The trial a trial folder belongs to, and its attempt when the folder says it.

    ``trials/<id>`` → (``<id>``, None); ``<id>/attempt-<n>`` → (``<id>``, n).
    """
    parent, _, name = folder.rpartition("/")
    if parent != TRIALS and ATTEMPT_FOLDER.fullmatch(name):
        return parent.rpartition("/")[2], int(name.removeprefix("attempt-"))
    return name, None


def run_roots(files: Iterable[str]) -> list[str]:
    """The runs a listing holds, as their paths ("" when the listing is itself one run).

    A run is a folder holding ``trials/<id>/results.json`` (or a trajectory), or
    ``<id>/attempt-<n>/…`` of them, or a ``leaderboard.json``. A root found inside
    another root (a trial's own files that happen to look like a run) is not a run.
    """
    roots: set[str] = set()
    for path in files:
        parts = path.split("/")
        if parts[-1] == LEADERBOARD:
            roots.add("/".join(parts[:-1]))
        elif parts[-1] in (results_api.RESULTS_JSON, results_api.TRAJECTORY_JSONL) and (
            len(parts) >= 3 and (parts[-3] == TRIALS or ATTEMPT_FOLDER.fullmatch(parts[-2]))
        ):
            roots.add("/".join(parts[:-3]))
    kept: list[str] = []
    for root in sorted(roots, key=lambda r: (r.count("/"), r)):
        if not any(root == k or root.startswith(f"{k}/") or k == "" for k in kept):
            kept.append(root)
    return sorted(kept)


def split_runs(source: RunSource) -> list[RunSource]:
    """The runs under SOURCE: itself when it is one run, else one source per run below it.

    Reads one listing, so a store prefix holding hundreds of runs costs one LIST.

    Raises:
        ConfigError: nothing under SOURCE looks like a run.
    """
    files = source.list_files()
    roots = run_roots(files)
    if not roots:
        raise ConfigError(
            f"{source.location} holds no run: no trials/<id>/results.json, "
            f"<id>/attempt-<n>/results.json or {LEADERBOARD} under it",
            hint="give a run folder, an s3:// run, or a folder or prefix holding runs",
        )
    if roots == [""]:
        return [PrefixedRunSource(source, "", files)]
    below: dict[str, list[str]] = {root: [] for root in roots}
    for path in files:
        head = path
        while "/" in head:
            head = head.rpartition("/")[0]
            if head in below:
                below[head].append(path[len(head) + 1 :])
                break
    return [PrefixedRunSource(source, root, below[root]) for root in roots]


__all__ = [
    "ATTEMPT_FOLDER",
    "S3_SCHEME",
    "LocalRunFolder",
    "PrefixedRunSource",
    "RunSource",
    "StoreRunSource",
    "open_source",
    "run_roots",
    "split_runs",
    "trial_folders",
    "trial_of",
]
