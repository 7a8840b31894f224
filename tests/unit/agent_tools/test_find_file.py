"""``find_file``: files by name or wildcard under a folder."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools
from tests.unit.agent_tools.conftest import MakeCtx


def layout(workdir: Path) -> None:
    (workdir / "src" / "nets").mkdir(parents=True)
    (workdir / "src" / "train.py").write_text("")
    (workdir / "src" / "nets" / "cnn.py").write_text("")
    (workdir / "train.py").write_text("")
    (workdir / "notes.md").write_text("")


def test_finds_by_name(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action("find_file train.py", ctx)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f'Found 2 files named "train.py" under {workdir}:',
        "./src/train.py",
        "./train.py",
    ]


def test_finds_by_wildcard_in_a_folder(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action('find_file "*.py" src', ctx)
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == ["./nets/cnn.py", "./train.py"]


def test_nothing_found(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action("find_file eval.py", ctx)
    assert result.exit_code == 1
    assert result.output == f'No files named "eval.py" found under {workdir}.'


def test_a_missing_folder(ctx: tools.ToolContext, workdir: Path) -> None:
    result = tools.run_action("find_file x.py nowhere", ctx)
    assert result.exit_code == 1
    assert "not found" in result.output


def test_a_path_is_not_a_name(ctx: tools.ToolContext) -> None:
    result = tools.run_action("find_file src/train.py", ctx)
    assert result.exit_code == 2
    assert "Usage: find_file <file_name> [<dir>]" in result.output


def test_many_files_are_capped(make_ctx: MakeCtx, workdir: Path) -> None:
    ctx = make_ctx(max_results=2)
    for n in range(5):
        (workdir / f"part{n}.csv").write_text("")
    result = tools.run_action('find_file "*.csv"', ctx)
    assert result.exit_code == 0
    assert "Found 5 files" in result.output
    assert "3 more files not shown" in result.output
