"""The OCI image layout in the cache that holds every built image, one ref per image.

Built images are exported here (`kubegym.images._buildah.push_oci`); the lock's
digests are the manifests' digests as stored here, which a registry keeps when
skopeo copies them without conversion (`kubegym.images._push`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def transport(layout: Path, ref: str) -> str:
    """The containers-image name of ``ref`` in ``layout``: ``oci:<layout>:<ref>``."""
    return f"oci:{layout}:{ref}"


def _index(layout: Path) -> dict[str, Any]:
    try:
        index: dict[str, Any] = json.loads((layout / "index.json").read_text())
    except (OSError, ValueError):
        return {"manifests": []}
    return index


def digest(layout: Path, ref: str) -> str | None:
    """The manifest digest ``ref`` names in ``layout``; None when the layout lacks it."""
    for entry in _index(layout).get("manifests", []):
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            found = entry.get("digest")
            if isinstance(found, str) and _blob(layout, found).is_file():
                return found
    return None


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, value = digest.partition(":")
    return layout / "blobs" / algorithm / value


def collect_garbage(layout: Path) -> int:
    """Delete the blobs no ref reaches any more (images rebuilt since); the bytes freed."""
    keep: set[str] = set()
    # (digest, is it a manifest or an index to read further); configs and layers are leaves.
    todo = [(str(e.get("digest", "")), True) for e in _index(layout).get("manifests", [])]
    while todo:
        current, read = todo.pop()
        if current in keep or not _blob(layout, current).is_file():
            continue
        keep.add(current)
        if not read:
            continue
        document = json.loads(_blob(layout, current).read_bytes())
        todo += [(str(m.get("digest", "")), True) for m in document.get("manifests", [])]
        todo += [(str(layer.get("digest", "")), False) for layer in document.get("layers", [])]
        if isinstance(document.get("config"), dict):
            todo.append((str(document["config"].get("digest", "")), False))
    freed = 0
    blobs = layout / "blobs"
    for path in blobs.glob("*/*") if blobs.is_dir() else []:
        if f"{path.parent.name}:{path.name}" not in keep:
            freed += path.stat().st_size
            path.unlink()
    return freed
