"""The committed reference docs equal what the code generates (`make docs`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym import reference


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("api.md", reference.api_markdown),
        ("cli.md", reference.cli_markdown),
        ("reasons.md", reference.reasons_markdown),
        ("results.md", reference.results_markdown),
    ],
)
def test_reference_is_current(name: str, render: object, repo: Path) -> None:
    committed = repo / "docs" / "reference" / name
    assert callable(render)
    assert committed.read_text(encoding="utf-8") == render(), (
        f"{committed} is stale: run `make docs`"
    )


def test_api_reference_covers_every_spec_field() -> None:
    text = reference.api_markdown()
    for field in (
        "costLimitUsd",
        "trainingTimeoutSeconds",
        "primaryMetric",
        "ttlSecondsAfterFinished",
    ):
        assert f"| `{field}` |" in text
    assert "choose exactly one store: s3 or local" in text
