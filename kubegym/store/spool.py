"""The local spool: artifacts waiting for the store to come back, each with its manifest entry.

The uploader (`kubegym.store.uploader`) copies a file here when the store is
unreachable and removes it once the store holds it. Each entry is two files
named by a hash of its key: ``<id>.data`` (a copy of the artifact, made before
the manifest entry, so the working copy may change or vanish) and ``<id>.json``
(the manifest entry: key, sha256, size, write policy, source mtime). An entry
counts only once its ``.json`` exists, so a crash half-way leaves nothing that
looks complete. A later entry for the same key replaces the earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from kubegym.store import base, checksums


@dataclass(frozen=True)
class SpoolEntry:
    """One artifact waiting in the spool."""

    key: str
    sha256: str
    size: int
    policy: base.WritePolicy
    mtime: float
    spooled_at: float
    token: str
    """Tells this entry from a later one for the same key (see `Spool.remove`)."""

    def manifest(self) -> dict[str, object]:
        return asdict(self)


class Spool:
    """A folder of artifacts waiting for the store.

    Args:
        folder: where entries live; created when needed.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()

    @staticmethod
    def _id(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:40]

    def data_path(self, entry: SpoolEntry) -> Path:
        """The spooled copy of the artifact."""
        return self.folder / f"{self._id(entry.key)}.data"

    def add(
        self, key: str, path: Path, policy: base.WritePolicy, mtime: float | None = None
    ) -> SpoolEntry:
        """Keep a copy of ``path`` for ``key`` until the store takes it.

        Returns:
            The entry, which replaces any earlier one for the same key.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        ident = self._id(key)
        digest = checksums.digest_file(path)
        entry = SpoolEntry(
            key=key,
            sha256=digest.sha256,
            size=digest.size,
            policy=policy,
            mtime=path.stat().st_mtime if mtime is None else mtime,
            spooled_at=time.time(),
            token=uuid.uuid4().hex,
        )
        with self._lock:
            partial = self.folder / f".{ident}.{entry.token}.partial"
            shutil.copyfile(path, partial)
            with partial.open("rb+") as f:
                os.fsync(f.fileno())
            if checksums.digest_file(partial).sha256 != entry.sha256:
                partial.unlink()
                raise OSError(f"{path} changed while it was copied into the spool")
            os.replace(partial, self.folder / f"{ident}.data")
            manifest = self.folder / f".{ident}.json.partial"
            manifest.write_text(json.dumps(entry.manifest(), indent=1) + "\n")
            os.replace(manifest, self.folder / f"{ident}.json")
        return entry

    def entries(self, prefix: str = "") -> list[SpoolEntry]:
        """The complete entries whose key starts with ``prefix``, oldest first."""
        found: list[SpoolEntry] = []
        if not self.folder.is_dir():
            return found
        for manifest in self.folder.glob("*.json"):
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError):
                continue  # removed meanwhile
            entry = SpoolEntry(**data)
            if entry.key.startswith(prefix):
                found.append(entry)
        return sorted(found, key=lambda e: (e.spooled_at, e.key))

    def remove(self, entry: SpoolEntry) -> bool:
        """Drop ``entry`` once the store holds it; an entry added since for its key stays.

        Returns:
            True when the entry was still the current one and is gone now.
        """
        ident = self._id(entry.key)
        manifest = self.folder / f"{ident}.json"
        with self._lock:
            try:
                current = json.loads(manifest.read_text())
            except (OSError, ValueError):
                return False
            if current.get("token") != entry.token:
                return False
            manifest.unlink()
            (self.folder / f"{ident}.data").unlink(missing_ok=True)
        return True

    def set_aside(self, entry: SpoolEntry, why: str) -> Path:
        """Move an entry the store refused into ``refused/``, with the reason, for a person to look at."""
        ident = self._id(entry.key)
        refused = self.folder / "refused"
        refused.mkdir(parents=True, exist_ok=True)
        with self._lock:
            target = refused / f"{ident}.{entry.token}"
            (refused / f"{ident}.{entry.token}.json").write_text(
                json.dumps({**entry.manifest(), "refused": why}, indent=1) + "\n"
            )
            os.replace(self.folder / f"{ident}.data", target)
            (self.folder / f"{ident}.json").unlink(missing_ok=True)
        return target
