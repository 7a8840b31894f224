"""The `Store` interface every backend implements, and the one rule for overwriting.

Backends: `kubegym.store.folder.FolderStore` and `kubegym.store.s3.S3Store`, built
by `kubegym.store.open`. Keys are relative to the store's root (its prefix) and
follow `kubegym.store.keys`.

The overwrite rule (`decide`), the same for every backend:

* a key that does not exist is written;
* a key that holds the same bytes (same sha256) is left alone: re-uploading is a no-op;
* a ``once`` key (a trial's trajectory, results, workspace, logs: final when written)
  that holds different bytes is never replaced: `OverwriteRefused`;
* a ``newer`` key (a run's rollups, rewritten from every finished trial as a run
  resumes) is replaced only by a file modified later than the stored one, so a stale
  copy (an old rollup flushed late from the spool) never replaces a newer one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubegym.store import errors

WritePolicy = Literal["once", "newer"]
PutOutcome = Literal["uploaded", "unchanged"]


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object."""

    key: str
    size: int
    sha256: str | None
    """Hex digest of the whole object, recorded at upload; None for objects kubegym did not write."""
    mtime: float | None = None
    """The source file's modification time (seconds since the epoch), recorded at upload."""
    etag: str | None = None
    """The S3 ETag; ``"…-N"`` for an object uploaded in N parts."""


def decide(existing: ObjectInfo | None, new: ObjectInfo, policy: WritePolicy, uri: str) -> bool:
    """Whether ``new`` must be written over ``existing``, by the rule in this module's docstring.

    Returns:
        True to write, False when the stored object already holds these bytes.

    Raises:
        OverwriteRefused: the stored object differs and the rule protects it.
    """
    if existing is None:
        return True
    if existing.sha256 is not None and existing.sha256 == new.sha256:
        return False
    if policy == "once":
        raise errors.OverwriteRefused(
            uri,
            f"it holds other content (sha256 {_short(existing.sha256)}, {existing.size} bytes) "
            f"than this file (sha256 {_short(new.sha256)}, {new.size} bytes); "
            "artifacts of an attempt are written once",
        )
    if existing.mtime is not None and (new.mtime is None or new.mtime <= existing.mtime):
        raise errors.OverwriteRefused(uri, "the stored copy is newer than this file")
    return True


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "unknown"


class Store(abc.ABC):
    """A place for a run's artifacts: write files, list keys, read them back."""

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """Where the store's root is: ``s3://bucket/prefix`` or a folder path."""

    def uri_of(self, key: str) -> str:
        """The full address of ``key``, for messages."""
        return f"{self.uri.rstrip('/')}/{key}"

    @abc.abstractmethod
    def check(self) -> None:
        """Make sure the store can be used (bucket exists, credentials accepted).

        Raises:
            StoreUnreachable, CredentialsMissing, AccessDenied, BucketMissing.
        """

    @abc.abstractmethod
    def put_file(
        self,
        key: str,
        path: Path,
        *,
        policy: WritePolicy = "once",
        mtime: float | None = None,
    ) -> PutOutcome:
        """Store the file at ``path`` under ``key``, by the overwrite rule; verify it landed.

        Args:
            key: relative to the store's root (`kubegym.store.keys`).
            path: the file.
            policy: ``once`` for an attempt's artifacts, ``newer`` for a run's rollups.
            mtime: the time the rule compares; the file's own modification time when None.

        Returns:
            ``uploaded``, or ``unchanged`` when the store already held these bytes.

        Raises:
            OverwriteRefused: the rule protects the stored object.
            ChecksumMismatch: the stored object's sha256 is not the file's.
            StoreUnreachable: the store did not answer after every retry.
        """

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """The object under ``key``, or None when there is none."""

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (relative to the root), sorted."""

    def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` with what one listing knows of it (size, ETag or
        mtime; ``sha256`` may be None), sorted by key.

        Readers that only need to tell whether an object changed (the results index) call
        this instead of `stat` per key. This default stats each key; backends whose
        listing carries the sizes override it.
        """
        found = [self.stat(key) for key in self.list_keys(prefix)]
        return [info for info in found if info is not None]

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's bytes, checked against its recorded sha256.

        Raises:
            FileNotFoundError: no object under ``key``.
        """

    def download(self, dest: Path, prefix: str = "") -> list[Path]:
        """Copy every object under ``prefix`` into ``dest``, keeping the key's path.

        Returns:
            The files written, in key order.
        """
        written = []
        for key in self.list_keys(prefix):
            target = dest / key
            self._download_one(key, target)
            written.append(target)
        return written

    @abc.abstractmethod
    def _download_one(self, key: str, target: Path) -> None:
        """Write one object to ``target`` (atomically, parents created, sha256 checked)."""
