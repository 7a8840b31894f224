"""Trajectories of a store's trials, fetched once into a bounded folder on this machine.

Called by `kubegym.viewer.store_catalog`: a trial's ``trajectory.jsonl`` in S3
is read once (one GET) into a file here, named by a hash of its key and its
version tag (size and ETag from the store's listing), and then paged by
`kubegym.viewer.steps` like a run folder's file. A new version of the object
(a rerun) has another tag, so another file; the old one ages out. The folder's
total size is bounded: the least recently used files are deleted to make room,
and an object larger than the whole bound is refused with its size named.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Final

DEFAULT_BYTES: Final = 128 << 20
"""The cache's default bound (the chart's viewer has a 256 MiB /tmp)."""


class TooLarge(LookupError):
    """An object larger than the cache may hold."""


class TrajectoryCache:
    """Files fetched from a store, least recently used first out.

    Args:
        folder: where the files go (created; files found there from before are removed,
            since nothing says which version they were).
        max_bytes: the most bytes the files may take together.
    """

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_BYTES):
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.jsonl*"):
            stale.unlink(missing_ok=True)
        self._files: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    @property
    def used(self) -> int:
        """Bytes the cached files take."""
        with self._lock:
            return sum(self._files.values())

    def path(self, key: str, tag: str, size: Callable[[], int], read: Callable[[], bytes]) -> str:
        """The local path of the object `key` at version `tag`, fetched now when not cached.

        Args:
            key: the object's key (its identity).
            tag: its version (changes whenever its bytes do).
            size: its size in bytes, asked only on a miss, before fetching.
            read: its bytes (called once per miss).

        Raises:
            TooLarge: the object is larger than `max_bytes`.
            FileNotFoundError, the store's errors: from `read`.
        """
        name = hashlib.sha256(f"{key}\n{tag}".encode()).hexdigest()[:32] + ".jsonl"
        target = self.folder / name
        with self._lock:
            if name in self._files:
                self._files.move_to_end(name)
                return str(target)
            gate = self._fetching.setdefault(name, threading.Lock())
        with gate:  # one fetch per object, however many pages ask at once
            with self._lock:
                if name in self._files:
                    self._files.move_to_end(name)
                    return str(target)
            expected = size()
            if expected > self.max_bytes:
                raise TooLarge(
                    f"the trajectory is {expected} bytes, more than the viewer's cache of "
                    f"{self.max_bytes} bytes"
                )
            data = read()
            if len(data) > self.max_bytes:
                raise TooLarge(f"the trajectory is {len(data)} bytes, more than the cache holds")
            with self._lock:
                self._make_room(len(data))
            partial = target.with_suffix(".jsonl.partial")
            partial.write_bytes(data)
            os.replace(partial, target)
            with self._lock:
                self._files[name] = len(data)
                self._fetching.pop(name, None)
        return str(target)

    def _make_room(self, size: int) -> None:
        # Called with the lock held. A file being paged right now may go: a page then
        # fetches it again (unlinking an open file is safe on POSIX).
        while self._files and sum(self._files.values()) + size > self.max_bytes:
            oldest, _ = self._files.popitem(last=False)
            (self.folder / oldest).unlink(missing_ok=True)


__all__ = ["DEFAULT_BYTES", "TooLarge", "TrajectoryCache"]
