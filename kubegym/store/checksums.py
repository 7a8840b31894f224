"""sha256 digests of files, whole and per multipart part, in one pass.

Used by the backends to record an object's sha256 and to check, after an
upload, the checksum the S3 server computed itself: for a single-part object
the sha256 of its bytes, for a multipart one the sha256 of its parts' digests
followed by ``-N`` (S3's composite checksum).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """A file's size and sha256, and the checksum S3 will report for it."""

    size: int
    sha256: str
    """Hex digest of the whole file (kept in the object's metadata)."""
    s3_checksum: str
    """Base64, as S3's ``ChecksumSHA256`` reports it (``…-N`` for N parts)."""
    parts: int
    """How many parts the upload takes (1 for a single PUT)."""


def digest_file(path: Path, part_size: int | None = None) -> FileDigest:
    """Hash ``path``; with ``part_size``, also each part of that size (a multipart upload).

    Args:
        path: the file.
        part_size: the multipart part size, or None for a single-part upload.
    """
    whole = hashlib.sha256()
    part_digests: list[bytes] = []
    part = hashlib.sha256()
    in_part = 0
    size = 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK if part_size is None else min(_BLOCK, part_size - in_part)):
            whole.update(block)
            size += len(block)
            if part_size is not None:
                part.update(block)
                in_part += len(block)
                if in_part == part_size:
                    part_digests.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
    if part_size is None:
        return FileDigest(size, whole.hexdigest(), _b64(whole.digest()), 1)
    if in_part or not part_digests:
        part_digests.append(part.digest())
    composite = hashlib.sha256(b"".join(part_digests)).digest()
    count = len(part_digests)
    return FileDigest(size, whole.hexdigest(), f"{_b64(composite)}-{count}", count)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
