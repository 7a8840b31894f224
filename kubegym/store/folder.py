"""The folder backend: a run's artifacts as files under a local folder, keys as paths.

The same interface as S3 (`kubegym.store.base.Store`), for ``spec.store.local``
readers, ``kubegym report PATH`` and tests. A file is written to a temporary name,
flushed to disk and renamed, so a reader never sees half of one. Registered as the
``file`` scheme (`kubegym.store.backends`): a plain path or ``file://`` URI opens one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from kubegym.api import runs
from kubegym.store import backends, base, checksums, errors


class FolderStore(base.Store):
    """Artifacts under ``root``: the key ``a/b/c`` is the file ``root/a/b/c``.

    Args:
        root: the folder; created on the first write.
    """

    def __init__(self, root: Path):
        self.root = root.resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"key {key!r} leaves the store's folder")
        return path

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        policy: base.WritePolicy = "once",
        mtime: float | None = None,
    ) -> base.PutOutcome:
        target = self._path(key)
        digest = checksums.digest_file(path)
        when = path.stat().st_mtime if mtime is None else mtime
        new = base.ObjectInfo(key, digest.size, digest.sha256, when)
        if not base.decide(self.stat(key), new, policy, self.uri_of(key)):
            return "unchanged"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(path, partial)
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        os.utime(partial, (when, when))
        os.replace(partial, target)
        found = checksums.digest_file(target).sha256
        if found != digest.sha256:
            raise errors.ChecksumMismatch(self.uri_of(key), digest.sha256, found)
        return "uploaded"

    def stat(self, key: str) -> base.ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        info = path.stat()
        return base.ObjectInfo(key, info.st_size, checksums.digest_file(path).sha256, info.st_mtime)

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                if name.startswith(".") and name.endswith(".partial"):
                    continue  # a write in progress
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def list_objects(self, prefix: str = "") -> list[base.ObjectInfo]:
        # Size and mtime from one stat each; no digest (`stat` hashes the whole file).
        found = []
        for key in self.list_keys(prefix):
            try:
                info = (self.root / key).stat()
            except OSError:
                continue  # removed since the listing
            found.append(base.ObjectInfo(key, info.st_size, None, info.st_mtime))
        return found

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(self.uri_of(key))
        return path.read_bytes()

    def _download_one(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(self._path(key), partial)
        os.replace(partial, target)


class FolderBackend:
    """The ``file`` scheme: ``spec.store.local``, a path or a ``file://`` URI.

    An agent pod needs nothing to reach a folder (the folder is on the machine that
    reads the run; kubegym's agent runner in a pod has no store then).
    """

    spec_field = "local"

    def from_spec(self, spec: runs.Store, options: backends.OpenOptions) -> base.Store:
        assert spec.local is not None  # `backends.for_spec` chose this backend by it
        path = Path(spec.local.path)
        if not path.is_absolute() and options.base_dir is not None:
            path = options.base_dir / path
        return FolderStore(path)

    def from_uri(self, uri: str, options: backends.OpenOptions) -> base.Store:
        parts = urlsplit(uri)
        return FolderStore(Path(parts.path if parts.scheme else uri))

    def pod_access(self, spec: runs.Store) -> backends.PodAccess:
        return backends.PodAccess()


backends.SCHEMES.add(backends.FOLDER_SCHEME, FolderBackend())
