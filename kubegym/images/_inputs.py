"""What decides an image, hashed: a build whose inputs hash as before is skipped.

For a Dockerfile: its text, the ``.dockerignore`` of its context, every file its
COPY and ADD take from the context (path, executable bit, content), its build
arguments, the digests of the images it starts FROM and the builder's version. For a Debian base: its
recipe and apt sources; for pause: the C source, the flags and the compiler. The
``REVISION`` build argument (the commit, for the OCI label) is left out, so that a
commit touching nothing an image holds does not rebuild it: an image's revision
label names the commit that last changed it. `kubegym.images._build` records the
components with the hash, and `changed` says which differ on a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from kubegym.images import _dockerfile, _plan

#: A bump rebuilds every Dockerfile image (how `_buildah.bud_command` builds changed).
BUILD_RECIPE: Final = 2
#: Build arguments that never make an image rebuild (see the module's docstring).
IGNORED_ARGS: Final = frozenset({"REVISION"})
#: What never goes into an image from a context (caches the .dockerignore drops too).
_SKIPPED_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})

Components = dict[str, object]


def digest(value: object) -> str:
    """``sha256:`` of ``value`` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def tree_digest(path: Path) -> str:
    """A digest of a file or of a folder's files (relative paths, exec bits, contents).

    Symbolic links count by their target's text, as COPY copies them.
    """
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if path.is_file():
        return ("x:" if os.access(path, os.X_OK) else "f:") + file_digest(path)
    if not path.is_dir():
        return "absent"
    entries: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        here = Path(folder)
        for name in dirs:
            if (here / name).is_symlink():
                entries.append((str((here / name).relative_to(path)), tree_digest(here / name)))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            entries.append((str((here / name).relative_to(path)), tree_digest(here / name)))
    return digest(entries)


def of_dockerfile(build: _plan.Build, needs: Mapping[str, str], builder: str = "") -> Components:
    """The inputs of a Dockerfile build.

    Args:
        build: the build.
        needs: each image it starts FROM → its digest.
        builder: the builder's version (``buildah --version``).
    """
    assert build.dockerfile is not None and build.context is not None
    sources = _dockerfile.copied(_dockerfile.parse(build.dockerfile))
    ignore = build.context / ".dockerignore"
    return {
        "kind": str(build.kind),
        "reference": build.reference,
        "dockerfile": file_digest(build.dockerfile),
        "dockerignore": file_digest(ignore) if ignore.is_file() else None,
        "copied": {source: tree_digest(build.context / source) for source in sorted(set(sources))},
        "args": {k: v for k, v in sorted(build.build_args.items()) if k not in IGNORED_ARGS},
        "needs": {name: needs[name] for name in build.needs},
        "builder": {"recipe": BUILD_RECIPE, "version": builder},
    }


def changed(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """The components (and, inside ``copied``, the sources) that differ: why a rebuild."""
    found: list[str] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            found += [
                f"{key}:{k}"
                for k in sorted(set(before) | set(after))
                if before.get(k) != after.get(k)
            ]
        else:
            found.append(key)
    return found
