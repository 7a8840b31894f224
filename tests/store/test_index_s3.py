"""The results index over a real S3 (MinIO): a prefix of runs in one call, incremental by ETag.

Runs are laid out as the store keys them (``<run>/<trial>/attempt-<n>/…``). The
index reads one listing per ingest (sizes and ETags), so a second ingest reads
no object, and a new attempt is the only object read after it lands.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym import index
from kubegym.cli import main
from kubegym.devcluster import minio
from tests.store.conftest import admin
from tests.unit.report.tiny_run import RUN, write_tiny_run


def _upload_as_store(client: object, bucket: str, prefix: str, run: Path) -> None:
    """The tiny run under ``prefix/``, its trials as ``<id>/attempt-<n>/`` (the store's layout)."""
    for path in sorted(run.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(run).as_posix()
        if relative.startswith("trials/"):
            trial_id, _, name = relative.removeprefix("trials/").partition("/")
            attempt = (
                json.loads((path.parent / "results.json").read_text())["attempt"]
                if (path.parent / "results.json").exists()
                else 0
            )
            relative = f"{trial_id}/attempt-{attempt}/{name}"
        client.put_object(Bucket=bucket, Key=f"{prefix}/{relative}", Body=path.read_bytes())  # type: ignore[attr-defined]


def test_a_prefix_of_runs_in_s3(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    client = admin(s3_server)
    run = write_tiny_run(tmp_path / RUN)
    _upload_as_store(client, bucket, "runs/one", run)
    _upload_as_store(client, bucket, "runs/two", run)
    with index.open(str(tmp_path / "index.sqlite")) as idx:
        first = idx.ingest(f"s3://{bucket}/runs")
        assert sorted(r.source for r in first.runs) == [
            f"s3://{bucket}/runs/one",
            f"s3://{bucket}/runs/two",
        ]
        assert first.added == 14 and first.read == 14
        again = idx.ingest(f"s3://{bucket}/runs")
        assert (again.read, again.unchanged) == (0, 14)
        # one trial is retried: its attempt 3 lands and is the only object read
        trial_id = f"{RUN}-acc-B-s0"
        data = json.loads((run / "trials" / trial_id / "results.json").read_text())
        retried = {**data, "attempt": 3, "exit_reason": "submitted", "failure_class": None}
        retried["score"] = 0.55
        client.put_object(
            Bucket=bucket,
            Key=f"runs/one/{trial_id}/attempt-3/results.json",
            Body=json.dumps(retried).encode(),
        )
        live = idx.ingest(f"s3://{bucket}/runs")
        assert (live.read, live.updated) == (1, 1)
        one = idx.run_id(f"s3://{bucket}/runs/one")
        row = idx.trial(one, trial_id)
        assert row is not None and (row.attempt, row.score) == (3, 0.55)
        # the same run named directly has the same id
        assert idx.ingest(f"s3://{bucket}/runs/one").runs[0].run_id == one

    # the report of the S3 run is the same from the index as from the objects
    outputs = []
    for extra in ([], ["--index", str(tmp_path / "index.sqlite")]):
        out = tmp_path / f"report{len(extra)}"
        result = CliRunner().invoke(
            main,
            ["report", f"s3://{bucket}/runs/one", "--format", "json", "--out", str(out), *extra],
            env={"KUBEGYM_INDEX": str(tmp_path / "absent.sqlite")},
        )
        assert result.exit_code == 0, result.output
        outputs.append((result.stdout, (out / "report.json").read_text()))
    assert outputs[0] == outputs[1]
