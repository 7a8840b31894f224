"""``search_file``: matching lines of one file, the open one by default."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools
from tests.unit.agent_tools.conftest import MakeCtx


def test_searches_the_open_file(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "train.py").write_text("lr = 0.1\nepochs = 3\nopt = SGD(lr)\n")
    tools.run_action("open train.py", ctx)
    result = tools.run_action("search_file lr", ctx)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f'Found 2 matches for "lr" in {workdir}/train.py:',
        "Line 1:lr = 0.1",
        "Line 3:opt = SGD(lr)",
        f'End of matches for "lr" in {workdir}/train.py.',
    ]


def test_searches_a_named_file(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\nbeta\n")
    result = tools.run_action("search_file beta a.txt", ctx)
    assert result.exit_code == 0
    assert "Found 1 matches" in result.output and "Line 2:beta" in result.output


def test_no_match(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\n")
    result = tools.run_action("search_file gamma a.txt", ctx)
    assert result.exit_code == 1
    assert result.output == f'No matches found for "gamma" in {workdir}/a.txt.'


def test_no_open_file_and_no_file_named(ctx: tools.ToolContext) -> None:
    result = tools.run_action("search_file lr", ctx)
    assert result.exit_code == 1
    assert "No file is open" in result.output


def test_a_missing_file(ctx: tools.ToolContext, workdir: Path) -> None:
    result = tools.run_action("search_file lr missing.py", ctx)
    assert result.exit_code == 1
    assert result.output == f"Error: file {workdir}/missing.py not found."


def test_many_matching_lines_are_capped(make_ctx: MakeCtx, workdir: Path) -> None:
    ctx = make_ctx(max_results=3)
    (workdir / "data.csv").write_text("".join(f"{n},x\n" for n in range(10)))
    result = tools.run_action("search_file x data.csv", ctx)
    assert result.exit_code == 0
    assert "Found 10 matches" in result.output
    assert "Line 3:2,x" in result.output and "Line 4:" not in result.output
    assert "7 more lines not shown. Narrow the search" in result.output
