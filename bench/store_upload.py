"""Upload throughput of `kubegym.store` to a local MinIO, against plain boto3 on the same server.

Starts the MinIO of `kubegym.devcluster.minio` in a temporary folder, then uploads
the same files two ways and prints MB/s and the ratio of ours to the baseline:

* ``boto3 upload_file`` (the baseline): boto3's own client and TransferConfig, no
  sha256, no head_object afterwards, no overwrite check;
* ``kubegym S3Store.put_file``: sha256 read of the file (and of each part), a HEAD
  for the overwrite rule, the upload with S3's SHA-256 checksum, a HEAD to verify.

Cases: many small files (a trial's trajectory and results), and one large file
that goes up in parts (a workspace archive). Usage::

    .venv/bin/python bench/store_upload.py [--small 200] [--small-kib 16] [--large-mib 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

from kubegym.devcluster import minio
from kubegym.store import s3


def _mbps(total_bytes: int, seconds: float) -> float:
    return total_bytes / seconds / 1e6


def _timed(run: Callable[[str], None], repeat: int) -> list[float]:
    """Seconds per repeat; each repeat writes under a fresh prefix (no upload is a no-op)."""
    samples = []
    for _ in range(repeat):
        prefix = uuid.uuid4().hex[:8]
        start = time.perf_counter()
        run(prefix)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=200, help="how many small files")
    parser.add_argument("--small-kib", type=int, default=16, help="size of each small file")
    parser.add_argument("--large-mib", type=int, default=256, help="size of the large file")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per case (median kept)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kubegym-bench-store-") as tmp:
        work = Path(tmp)
        server = minio.start(work / "minio")
        try:
            _bench(server, work, args)
        finally:
            minio.stop(work / "minio")


def _bench(server: minio.S3Server, work: Path, args: argparse.Namespace) -> None:
    settings = s3.TransferSettings()
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )
    bucket = "bench"
    client.create_bucket(Bucket=bucket)
    config = TransferConfig(
        multipart_threshold=settings.multipart_threshold,
        multipart_chunksize=settings.multipart_chunksize,
        max_concurrency=settings.max_concurrency,
    )
    store = s3.S3Store(
        s3.S3Location(bucket=bucket, prefix="ours", endpoint=server.endpoint),
        credentials=s3.Credentials(
            values={
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
            }
        ),
        transfer=settings,
    )
    small_dir = work / "small"
    small_dir.mkdir()
    small = [small_dir / f"f{i:04d}" for i in range(args.small)]
    for path in small:
        path.write_bytes(os.urandom(args.small_kib * 1024))
    large = work / "large.bin"
    with large.open("wb") as f:
        for _ in range(args.large_mib):
            f.write(os.urandom(1 << 20))

    cases: list[tuple[str, list[Path]]] = [
        (f"{args.small} files of {args.small_kib} KiB", small),
        (f"1 file of {args.large_mib} MiB (multipart)", [large]),
    ]
    print(f"MinIO {minio.MINIO_RELEASE} at {server.endpoint}; median of {args.repeat} runs\n")
    print("| case | path | MB/s | ratio |\n| --- | --- | ---: | ---: |")
    for name, files in cases:
        total = sum(p.stat().st_size for p in files)

        def baseline(prefix: str, files: list[Path] = files) -> None:
            for path in files:
                client.upload_file(str(path), bucket, f"plain/{prefix}/{path.name}", Config=config)

        def ours(prefix: str, files: list[Path] = files) -> None:
            for path in files:
                store.put_file(f"{prefix}/{path.name}", path)

        base = _mbps(total, statistics.median(_timed(baseline, args.repeat)))
        mine = _mbps(total, statistics.median(_timed(ours, args.repeat)))
        print(f"| {name} | boto3 upload_file | {base:.1f} | 1.00x |")
        print(f"| {name} | kubegym put_file | {mine:.1f} | {mine / base:.2f}x |")
        # Again onto the same keys: the idempotent no-op (hash + one HEAD per file).
        ours("again")
        again = _mbps(total, statistics.median(_timed(lambda _: ours("again"), args.repeat)))
        print(f"| {name} | kubegym put_file, unchanged | {again:.1f} | {again / base:.2f}x |")


if __name__ == "__main__":
    main()
