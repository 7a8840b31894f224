"""The package layout: the card's folders import as `kubegym.…`, and the CLI starts light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_python(code: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_operator_folder_never_shadows_the_standard_library(repo: Path) -> None:
    # Run from the repository root, where a top-level `operator/` folder sits.
    out = run_python(
        "import operator, kubegym.operator, kubegym.agent_runner;"
        "print(operator.itemgetter(1)([0, 7]), kubegym.operator.__name__)",
        cwd=repo,
    )
    assert out == "7 kubegym.operator"


def test_the_cli_does_not_import_heavy_parts(repo: Path) -> None:
    # `kubegym --help` and `kubegym validate` must stay fast: no pandas, no litellm, no kopf.
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from kubegym.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(main, ['validate', 'examples/toy-run.yaml'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('pandas', 'litellm', 'kopf', 'kubernetes', 'matplotlib', 'boto3')"
        " if m in sys.modules))\n"
    )
    assert run_python(code, cwd=repo) == "[]"


def test_help_lists_every_command(repo: Path) -> None:
    from click.testing import CliRunner

    from kubegym.cli import _COMMANDS, main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in _COMMANDS:
        assert name in result.output
        sub = CliRunner().invoke(main, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)


def test_the_wheel_holds_every_package(repo: Path, tmp_path: Path) -> None:
    # pyproject.toml lists packages explicitly (the folders are mapped under `kubegym`);
    # a package folder missing from that list would vanish from the image.
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(repo),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("kubegym-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith("__init__.py")}
    roots = {
        "kubegym": "kubegym",
        "operator": "kubegym/operator",
        "agent_runner": "kubegym/agent_runner",
    }
    expected = {
        f"{target}/{init.parent.relative_to(repo / folder).as_posix()}/__init__.py".replace(
            "/./", "/"
        )
        for folder, target in roots.items()
        for init in (repo / folder).rglob("__init__.py")
    }
    assert expected <= shipped, expected - shipped
    assert "kubegym/py.typed" in zipfile.ZipFile(wheel).namelist()
