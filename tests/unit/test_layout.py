"""The package layout: the card's folders import as `kubegym.…`, and the CLI starts light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_python(code: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_operator_folder_never_shadows_the_standard_library(repo: Path) -> None:
    # `python -m` puts the current folder first on sys.path before runpy imports
    # `collections`, which imports `operator`; -S keeps site from importing it earlier.
    # A regular package at ./operator would break every `python -m …` run here.
    result = subprocess.run(
        [sys.executable, "-S", "-m", "json.tool", "--help"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert not (repo / "operator" / "__init__.py").exists()


def test_every_file_lives_where_its_import_name_says(repo: Path) -> None:
    # The card's top-level names are links into the package, never a second copy or a
    # folder of their own, and nothing inside the package is a link.
    for name in ("operator", "agent_runner"):
        link = repo / name
        assert link.is_symlink(), name
        assert link.resolve() == (repo / "kubegym" / name).resolve()
    inside = [p for p in (repo / "kubegym").rglob("*") if p.is_symlink()]
    assert inside == []


def test_the_card_folders_import_under_kubegym(repo: Path) -> None:
    out = run_python(
        "import operator, kubegym.operator.labels as labels, kubegym.agent_runner;"
        "print(operator.itemgetter(1)([0, 7]), labels.RUN)",
        cwd=repo,
    )
    assert out == "7 kubegym.io/run"


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


def test_the_wheel_holds_every_module(repo: Path, tmp_path: Path) -> None:
    # pyproject.toml lists packages explicitly; a module missing from the wheel
    # would vanish from the image.
    # Build from a clean copy, so a stale build/ folder cannot hide a miss.
    import shutil
    import zipfile

    source = tmp_path / "src"
    shutil.copytree(
        repo,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", "tests"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
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
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        (Path(folder) / name).relative_to(repo).as_posix()
        for folder, _, names in os.walk(repo / "kubegym")
        for name in names
        if name.endswith(".py")
    }
    assert expected, "found no modules"
    assert expected <= shipped, sorted(expected - shipped)
    assert {"kubegym/py.typed", "kubegym/operator/labels.py"} <= shipped
    assert "kubegym/operator/__init__.py" not in shipped
