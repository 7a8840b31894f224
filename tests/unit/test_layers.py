"""The layer contract (pyproject.toml's [tool.kubegym.layers]) holds, and its check bites.

`make lint` runs tools/check_layers.py; these tests run it on the real package
and on small planted packages, so a check that silently passes everything
would fail here.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_layers", REPO / "tools" / "check_layers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def contract() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    order: list[str] = config["tool"]["kubegym"]["layers"]["order"]
    return order


def plant(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_kubegym_keeps_its_layers(layers: ModuleType) -> None:
    assert layers.check(REPO / "kubegym", contract()) == []


def test_the_runtimes_are_in_the_contract() -> None:
    flat = [p.strip() for line in contract() for p in line.split("|")]
    for part in ("api", "tasks", "store", "metrics", "local", "operator", "agent_runner", "cli"):
        assert part in flat
    line = next(line for line in contract() if "operator" in line)
    assert {p.strip() for p in line.split("|")} == {"local", "operator"}


def test_an_import_upwards_fails(layers: ModuleType, tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "api/__init__.py": "",
            "api/models.py": "from pkg.store import s3\n",
            "store/__init__.py": "",
            "store/s3.py": "",
        },
    )
    problems = layers.check(package, ["store", "api"])
    assert len(problems) == 1
    assert "pkg.api.models imports pkg.store.s3, a layer above it" in problems[0]


def test_independent_runtimes_may_not_import_each_other(layers: ModuleType, tmp_path: Path) -> None:
    # The operator reaching into the local runner, as operator/rollups.py once did.
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "local/__init__.py": "",
            "local/outputs.py": "",
            "operator/rollups.py": "from pkg.local import outputs\n",
        },
    )
    problems = layers.check(package, ["local | operator"])
    assert problems == [
        f"{package / 'operator/rollups.py'}:1: pkg.operator.rollups imports "
        "pkg.local.outputs; operator and local are independent"
    ]


def test_an_import_hidden_in_a_function_still_counts(layers: ModuleType, tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "tasks/__init__.py": "",
            "tasks/datasets.py": "def f():\n    from pkg.tasks import preparation\n",
            "tasks/preparation.py": "from pkg.tasks import datasets\n",
        },
    )
    problems = layers.check(package, ["tasks"])
    assert problems == ["import cycle: pkg.tasks.datasets → pkg.tasks.preparation"]


def test_type_checking_imports_are_not_dependencies(layers: ModuleType, tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import api\n",
            "api.py": "from pkg import errors\n",
        },
    )
    assert layers.check(package, ["api", "errors"]) == []


def test_a_new_part_must_be_placed(layers: ModuleType, tmp_path: Path) -> None:
    package = plant(tmp_path, {"__init__.py": "", "newthing.py": ""})
    assert layers.check(package, ["api"]) == [
        "pkg.newthing: part 'newthing' has no layer in [tool.kubegym.layers]"
    ]


def test_the_command_exits_non_zero_on_a_violation(layers: ModuleType, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    plant(repo, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": ""})
    (repo / "pyproject.toml").write_text('[tool.kubegym.layers]\norder = ["b", "a"]\n')
    assert layers.main(["--repo", str(repo), "--package", "pkg"]) == 1
    (repo / "pyproject.toml").write_text('[tool.kubegym.layers]\norder = ["a", "b"]\n')
    assert layers.main(["--repo", str(repo), "--package", "pkg"]) == 0
