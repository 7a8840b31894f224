"""Pushing the locked images from the cache's OCI layout into a registry, digests kept.

`push` copies each image with ``skopeo copy --preserve-digests`` (no conversion, so
the registry stores the very manifest the lock names) and checks the digest the
registry answered against the lock's; a node started from these images can then pull
them by digest. Called by ``python -m kubegym.images push`` and the node's setup.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from kubegym.images import _build, _lock, _oci, _plan, _tools


def push(
    lock: _lock.Lock,
    registry: str = "127.0.0.1:5000",
    *,
    tls_verify: bool = False,
    names: Sequence[str] = (),
    log: Path | None = None,
) -> dict[str, str]:
    """Push the lock's images (or ``names`` of them) to ``registry``, tagged as in the lock.

    Args:
        lock: the lock of the build (`kubegym.images.load_lock`).
        registry: ``host:port`` of the registry; each image goes to
            ``<registry>/<its repository without the original host>:<its tag>``.
        tls_verify: require HTTPS with a trusted certificate (a loopback registry
            for a test node speaks plain HTTP).
        names: the images to push; all of the lock's when empty.
        log: where skopeo's output goes.

    Returns:
        Each image's name → the reference it can be pulled by:
        ``<registry>/<path>@<digest>``.

    Raises:
        ImageError: skopeo is missing or failed, the OCI layout no longer holds the
            locked digest (rebuilt since: build again), or the registry answered
            another digest than the lock's.
        ConfigError: a name the lock does not have.
    """
    _tools.require("skopeo", why="pushing images")
    chosen = [(name, lock.image(name)) for name in names] or list(lock.images.items())
    pushed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kubegym-push-") as folder:
        for name, image in chosen:
            layout, ref = _layout_and_ref(image.oci)
            stored = _oci.digest(layout, ref)
            if stored != image.digest:
                raise _tools.ImageError(
                    f"{name}: the OCI layout holds {stored or 'nothing'} as {ref!r}, the lock "
                    f"says {image.digest}: the cache changed since the lock was written "
                    "(build again: python -m kubegym.images build)"
                )
            digest_file = Path(folder) / f"{name}.digest"
            destination = f"docker://{registry}/{image.path}:{image.tag}"
            command = [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                f"--dest-tls-verify={'true' if tls_verify else 'false'}",
                "--digestfile",
                str(digest_file),
                image.oci,
                destination,
            ]
            _tools.run(command, log=log)
            answered = digest_file.read_text().strip()
            if answered != image.digest:
                raise _tools.ImageError(
                    f"{name}: {destination} now has the digest {answered}, the lock says "
                    f"{image.digest}: the registry rewrote the manifest; do not pull it by "
                    "the lock's digest"
                )
            pushed[name] = f"{registry}/{image.path}@{image.digest}"
    return pushed


def _layout_and_ref(oci: str) -> tuple[Path, str]:
    """``oci:<layout>:<ref>`` → (layout, ref)."""
    transport, _, rest = oci.partition(":")
    layout, _, ref = rest.partition(":")
    if transport != "oci" or not layout or not ref:
        raise _tools.ImageError(f"not an OCI layout reference: {oci!r}")
    return Path(layout), ref


def pushed_pause_image(
    registry: str = "127.0.0.1:5000",
    *,
    lock_path: Path = _lock.DEFAULT_LOCK,
    tls_verify: bool = False,
) -> str:
    """The pause image in ``registry``, by digest, for a node's ``sandbox_image``.

    Ensures the pause image first (it starts FROM nothing: a fraction of a second
    cold, skipped when unchanged), records it in the lock at ``lock_path``, then pushes
    it. Called by `kubegym.devcluster` when it starts a real node.

    Returns:
        ``<registry>/kubegym/pause@sha256:…``.

    Raises:
        ImageError: it cannot be built here, or the push failed.
    """
    lock = _build.ensure([_plan.PAUSE], _build.BuildSettings(lock_path=lock_path))
    return push(lock, registry, tls_verify=tls_verify, names=[_plan.PAUSE])[_plan.PAUSE]
