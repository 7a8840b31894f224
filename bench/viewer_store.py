"""What `kubegym view s3://…` costs over a real S3 server (MinIO), against raw reads of the same objects.

Writes a generated run (tests/support/synthetic_run.py: ``--trials`` finished
trials, one of 1,000 steps), uploads it to a fresh MinIO as the store keys it
(``<run>/<trial>/attempt-<n>/…``; workspaces left out), serves
``s3://bucket/runs`` with the viewer over real HTTP on a loopback port, and
times, against baselines measured in the same run:

* baseline: one listing of the prefix and a GET of every results.json (what any
  reader of the store must do once);
* the viewer's start (that listing and the first ingest into its SQLite index),
  its first trials page, and a trials page while the prefix is listed and
  ingested again (in the viewer's own thread, after `INGEST_SECONDS`);
* baseline: a GET of the 1,000-step trajectory and a parse of every line;
* that trial's page (the trajectory fetched into the cache on this request), and
  its first and last steps pages from the cache.

Usage::

    .venv/bin/python bench/viewer_store.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3

from kubegym.devcluster import minio
from kubegym.viewer import store_catalog
from tests.support import synthetic_run, viewer_server


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.loads(answer.read())


def upload(client: Any, bucket: str, run: Path) -> None:
    for path in sorted(run.rglob("*")):
        relative = path.relative_to(run).as_posix()
        if not path.is_file() or relative.endswith("workspace.tar.gz"):
            continue
        if relative.startswith("trials/"):
            trial, _, name = relative.removeprefix("trials/").partition("/")
            relative = f"{trial}/attempt-0/{name}"
        client.put_object(Bucket=bucket, Key=f"runs/alpha/{relative}", Body=path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="viewer-store-"))
    server = minio.start(work / "minio")
    try:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            region_name=server.region,
        )
        client.create_bucket(Bucket="bench")
        run = synthetic_run.write_run(work / "alpha", trials=args.trials, long_trial_steps=1000)
        upload(client, "bench", run.folder)
        os.environ.update(server.env())
        os.environ["AWS_ENDPOINT_URL_S3"] = server.endpoint

        def read_all() -> None:
            keys = [
                o["Key"]
                for page in client.get_paginator("list_objects_v2").paginate(
                    Bucket="bench", Prefix="runs/"
                )
                for o in page.get("Contents", [])
            ]
            for key in keys:
                if key.endswith("/results.json"):
                    json.loads(client.get_object(Bucket="bench", Key=key)["Body"].read())

        long_key = f"runs/alpha/{run.long_trial}/attempt-0/trajectory.jsonl"

        def parse_long() -> None:
            body = client.get_object(Bucket="bench", Key=long_key)["Body"].read()
            for line in body.splitlines():
                json.loads(line)

        rows: list[tuple[str, float, float]] = []
        base = timed(read_all)
        rows.append(("baseline: LIST + GET every results.json", base, base))
        started = time.perf_counter()
        with viewer_server.serve("s3://bench/runs") as url:
            start = time.perf_counter() - started
            rows.append(("viewer start: LIST + first ingest", start, base))
            first = timed(lambda: get(f"{url}/api/runs/alpha/trials?limit=50"))
            rows.append(("first trials page (HTTP)", first, base))
            time.sleep(store_catalog.INGEST_SECONDS + 0.5)
            again = timed(lambda: get(f"{url}/api/runs/alpha/trials?limit=50"))
            rows.append(("trials page as the prefix is ingested again", again, base))
            parse = timed(parse_long)
            rows.append(("baseline: GET + parse the 1,000-step trajectory", parse, parse))
            trial = f"{url}/api/runs/alpha/trials/{run.long_trial}"
            rows.append(
                ("trial page, trajectory fetched to the cache", timed(lambda: get(trial)), parse)
            )
            rows.append(
                (
                    "first steps page, from the cache",
                    timed(lambda: get(f"{trial}/steps?limit=50")),
                    parse,
                )
            )
            rows.append(
                (
                    "last steps page, from the cache",
                    timed(lambda: get(f"{trial}/steps?start=950&limit=50")),
                    parse,
                )
            )
        print(f"{args.trials} trials (+ the hostile one), the long trajectory 1,000 steps")
        print("| measure | seconds | × baseline |\n| --- | ---: | ---: |")
        for name, seconds, baseline in rows:
            print(f"| {name} | {seconds:.3f} | {seconds / baseline:.2f} |")
    finally:
        minio.stop(work / "minio")


if __name__ == "__main__":
    main()
