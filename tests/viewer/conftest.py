"""Fixtures for the viewer's tests: a generated run (with its hostile trial) served over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import s3_server  # noqa: F401  (the store tests' MinIO fixture)
from tests.support import synthetic_run, viewer_server


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> synthetic_run.SyntheticRun:
    """A 300-trial generated run with a 1,000-step trial and the hostile content."""
    return synthetic_run.write_run(
        tmp_path_factory.mktemp("viewer") / "generated", trials=300, long_trial_steps=1000
    )


@pytest.fixture(scope="session")
def base(generated: synthetic_run.SyntheticRun) -> Iterator[str]:
    """The viewer serving the generated run."""
    with viewer_server.serve(str(generated.folder)) as url:
        yield url


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (an HTTP error is an answer too)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> Any:
    status, _, body = get(url)
    assert status == 200, (status, body[:300])
    return json.loads(body)


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """An empty run folder (``trials/`` only) for a test to fill."""
    (tmp_path / "crafted" / "trials").mkdir(parents=True)
    return tmp_path / "crafted"
